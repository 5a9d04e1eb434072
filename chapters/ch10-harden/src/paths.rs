//! Masked and read-only paths: the parts of `/proc` and `/sys` that speak for
//! the whole machine.
//!
//! `/proc` and `/sys` were made for one machine, not for namespaces: a PID
//! namespace hides other processes' directories, but files such as
//! `/proc/kcore` (the kernel's memory, as an ELF core), `/proc/keys` (every
//! keyring the kernel holds), `/proc/timer_list` (every timer, with the
//! addresses of the host's tasks) or `/sys/firmware` (the machine's ACPI tables
//! and EFI variables) still describe — or reconfigure — the host. And
//! `/proc/sys` writes the *kernel's* settings (`kernel.core_pattern` names a
//! program the host runs as root on every crash: a classic escape),
//! `/proc/sysrq-trigger` reboots the machine.
//!
//! So runc's defaults, which Docker and Podman keep:
//!
//! - **masked** ([`MASKED`]): a file gets the container's `/dev/null` bound over
//!   it (reads give nothing, writes vanish); a directory gets an empty read-only
//!   tmpfs.
//! - **read-only** ([`READ_ONLY`]): bound onto itself, and that bind mount made
//!   read-only — the container can still read `/proc/sys/kernel/hostname`, but
//!   not write `/proc/sys/kernel/core_pattern`.
//!
//! A path the kernel does not have (`/proc/kcore` without `CONFIG_PROC_KCORE`)
//! is skipped. Could the container unmount them to see what is beneath? Not
//! without `CAP_SYS_ADMIN`, which it no longer has (`capabilities.rs`): the
//! two defences hold each other up.
//!
//! (`man 5 proc`, `man 2 mount`: `MS_BIND`, `MS_REMOUNT`, `MS_RDONLY`.)

use std::io::ErrorKind;
use std::path::Path;

use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::statvfs::{FsFlags, statvfs};

// ANCHOR: lists
/// runc's default masked paths (libcontainer/specconv's example spec, as
/// Docker's `oci.DefaultSpec` has them).
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's default read-only paths.
pub const READ_ONLY: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
// ANCHOR_END: lists

/// Bind each of [`READ_ONLY`] onto itself, read-only.
pub struct ReadOnlyPaths;

impl Step for ReadOnlyPaths {
    fn name(&self) -> &'static str {
        "read-only paths"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        for path in READ_ONLY {
            let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
            match mount(Some(path), path, None::<&str>, bind, None::<&str>) {
                Err(Errno::ENOENT) => continue,
                bound => bound.doing(|| format!("bind {path} onto itself"))?,
            }
            remount_read_only(path)?;
        }
        Ok(())
    }
}

/// Hide each of [`MASKED`]: `/dev/null` over a file, an empty read-only tmpfs
/// over a directory.
pub struct MaskedPaths;

// ANCHOR: mask
impl Step for MaskedPaths {
    fn name(&self) -> &'static str {
        "masked paths"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        for path in MASKED {
            // These are in the /proc and /sys we mounted, not in the image: no
            // symbolic link of the image's can redirect them.
            let is_dir = match std::fs::symlink_metadata(path) {
                Ok(meta) => meta.is_dir(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e).doing(|| format!("look at {path}")),
            };
            if is_dir {
                let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("size=0"))
                    .doing(|| format!("mask {path} with an empty tmpfs"))?;
            } else {
                mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .doing(|| format!("mask {path} with /dev/null"))?;
            }
        }
        Ok(())
    }
}
// ANCHOR_END: mask

/// Make the mount at `path` (a bind mount, or the root) read-only, keeping
/// its other flags: a remount that left out `nosuid` would *clear* it, and in a
/// user namespace the kernel refuses to clear a flag the mount was locked with.
pub fn remount_read_only(path: &str) -> Result<(), StepError> {
    let have =
        statvfs(Path::new(path)).doing(|| format!("read the mount flags of {path}"))?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(fs) {
            flags |= ms;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .doing(|| format!("make {path} read-only"))
}
