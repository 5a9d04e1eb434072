//! `cargo xtask rootfs DIR`: a minimal root filesystem, built offline.
//!
//! It holds the host's static busybox (one binary that is `sh`, `ls`, `ps`,
//! `mount` and some 300 other commands, and needs no C library) with a link for
//! each command, the directories programs expect, and `tincan-probe`. Nothing in
//! it needs root to create: device nodes are made by the runtime (chapter 3).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{probe, workspace_root};

/// Where the busybox-static package installs the binary, on Debian and Ubuntu.
const BUSYBOX: &str = "/bin/busybox";
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

const DIRS: [&str; 15] = [
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "etc",
    "root",
    "home",
    "proc",
    "sys",
    "dev",
    "tmp",
    "mnt",
    "var",
    "run",
];

/// (The runtime mounts its own hosts, hostname and resolv.conf over the last three.)
const FILES: [(&str, &str); 5] = [
    (
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ),
    ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ("etc/hosts", "127.0.0.1\tlocalhost\n"),
    ("etc/hostname", "tincan\n"),
    ("etc/resolv.conf", ""),
];

/// Build a root filesystem at `dir`. With `force`, replace what is there.
pub fn build(dir: &Path, force: bool) -> Result<()> {
    let busybox = static_busybox()?;
    if dir.exists() {
        if !force {
            bail!("{} already exists; pass --force to rebuild it", dir.display());
        }
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let probe = probe::build_static()?;

    // Build next to the target and rename at the end, so an interrupted build
    // never leaves a half-made rootfs under the name the user asked for.
    let staging = staging_path(dir);
    let _ = fs::remove_dir_all(&staging);
    populate(&staging, &busybox, &probe)
        .with_context(|| format!("building {}", staging.display()))?;
    fs::rename(&staging, dir).with_context(|| format!("moving the rootfs to {}", dir.display()))?;
    eprintln!("rootfs ready at {} (busybox + tincan-probe)", dir.display());
    Ok(())
}

fn staging_path(dir: &Path) -> PathBuf {
    let name = dir.file_name().map_or("rootfs".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!(".{name}.partial"))
}

fn populate(root: &Path, busybox: &Path, probe: &Path) -> Result<()> {
    for dir in DIRS {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))?;
    for (path, content) in FILES {
        fs::write(root.join(path), content)?;
    }
    fs::copy(busybox, root.join("bin/busybox"))?;
    fs::copy(probe, root.join("usr/local/bin/tincan-probe"))?;
    for applet in applets(busybox)? {
        let link = root.join(&applet);
        // Skip bin/busybox itself, and `linuxrc`, an initrd's init, not a command.
        if link.symlink_metadata().is_ok() || !applet.contains('/') {
            continue;
        }
        fs::create_dir_all(link.parent().expect("applet paths have a directory"))?;
        symlink("/bin/busybox", &link)?;
    }
    Ok(())
}

/// The commands this busybox provides, as paths: `bin/ls`, `usr/bin/awk`, ...
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox).arg("--list-full").output()?;
    if !out.status.success() {
        bail!("{} --list-full failed", busybox.display());
    }
    Ok(String::from_utf8(out.stdout)?.lines().map(str::to_owned).collect())
}

/// The host's busybox, if it is the static one: a dynamically linked busybox would
/// need the host's C library inside the rootfs.
pub fn static_busybox() -> Result<PathBuf> {
    check_static_busybox(Path::new(BUSYBOX))
}

fn check_static_busybox(path: &Path) -> Result<PathBuf> {
    let install = format!("install it with: sudo apt-get install {BUSYBOX_PACKAGE}");
    if !path.exists() {
        bail!("no busybox at {}; {install}", path.display());
    }
    if is_dynamic(path)? {
        bail!("{} is dynamically linked (the `busybox` package); {install}", path.display());
    }
    Ok(path.to_path_buf())
}

/// Does this ELF file ask for a dynamic loader (has a PT_INTERP program header)?
fn is_dynamic(path: &Path) -> Result<bool> {
    let elf = fs::read(path)?;
    let u16_at = |i: usize| u16::from_le_bytes([elf[i], elf[i + 1]]) as usize;
    let u64_at = |i: usize| u64::from_le_bytes(elf[i..i + 8].try_into().unwrap()) as usize;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        bail!("{} is not a 64-bit ELF executable", path.display());
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    Ok((0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        elf.get(at..at + 4).is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) == PT_INTERP)
    }))
}

/// The rootfs the tests use; `cargo xtask test` and `cargo xtask check` rebuild it.
pub fn test_rootfs() -> PathBuf {
    workspace_root().join("target/tincan-test/rootfs")
}

/// A chapter-2 container run on the host mounts `/proc` in the host's mount table;
/// if its runtime is killed before cleaning up, the mount stays. Detach such
/// leftovers (deepest first) before deleting: removing files across a mount point
/// would reach into the mounted file system.
fn detach_mounts_below(dir: &Path) -> Result<()> {
    let table = fs::read_to_string("/proc/self/mountinfo")?;
    let mut below: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    below.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount_point in below {
        eprintln!("rootfs: detaching {mount_point}, left mounted by an interrupted test run");
        let flags = nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW;
        nix::mount::umount2(mount_point, flags)
            .with_context(|| format!("unmounting {mount_point}"))?;
    }
    Ok(())
}

/// Get ready for a test run: rebuild the test rootfs (the probe may have changed)
/// and empty the tests' work directory. Each test removes its own directory when
/// it ends, even when it fails; one interrupted with Ctrl-C cannot, so the next run
/// takes down what it left on the host (see `sweep`), then removes the directory.
pub fn prepare_tests() -> Result<()> {
    sweep_tests()?;
    build(&test_rootfs(), true)
}

/// Take down what tests left on the host, and empty their work directory —
/// but for the directories whose clean-up failed: they hold the records of
/// what is still there, for the next try.
pub fn sweep_tests() -> Result<()> {
    let work = workspace_root().join("target/tincan-test/work");
    // A test binary holds it (shared) while it runs: never sweep a live run.
    let lock = work.with_extension("lock");
    fs::create_dir_all(work.parent().expect("in target/tincan-test"))?;
    let file = fs::File::create(&lock).with_context(|| format!("open {}", lock.display()))?;
    let Ok(_running) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
    else {
        bail!(
            "a test run in this checkout is still going ({} is held): let it end, or stop it, first",
            lock.display()
        );
    };
    if work.exists() {
        let kept = crate::sweep::interrupted_run(&work);
        for entry in fs::read_dir(&work)? {
            let path = entry?.path();
            if kept.contains(&path) {
                continue;
            }
            detach_mounts_below(&path)?;
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        if !kept.is_empty() {
            let kept: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "\nsweep: KEPT {}: what an interrupted test run left there is still on the host \
                 (see above); mend what failed, then `cargo xtask sweep` again\n",
                kept.join(", ")
            );
        }
    }
    crate::sweep::empty_test_cgroups();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_busybox_says_what_to_install() {
        let err = check_static_busybox(Path::new("/nonexistent/busybox")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no busybox at /nonexistent/busybox; install it with: sudo apt-get install busybox-static"
        );
    }

    #[test]
    fn a_dynamic_busybox_is_refused() {
        // This test binary is dynamically linked against glibc, like Debian's `busybox`.
        let exe = std::env::current_exe().unwrap();
        let err = check_static_busybox(&exe).unwrap_err();
        assert!(err.to_string().contains("is dynamically linked"), "{err}");
    }
}
