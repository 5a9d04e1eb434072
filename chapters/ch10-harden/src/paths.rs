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
//! So Docker's defaults (moby's `daemon/pkg/oci/defaults.go`): runc's example
//! spec (`libcontainer/specconv/example.go`) has ten of its masked paths;
//! Docker added `/proc/interrupts`, `/sys/devices/virtual/powercap` and each
//! CPU's `thermal_throttle` after two advisories (GHSA-6fw5-f8r9-fgfm,
//! GHSA-jq35-85cj-fj4p: interrupt counts and power use leak what other
//! containers do). We take Docker's, the longer list.
//!
//! - **masked** ([`MASKED`], [`thermal_throttle`]): a file gets the
//!   container's `/dev/null` bound over it (reads give nothing, writes
//!   vanish); a directory gets an empty read-only tmpfs.
//! - **read-only** ([`READ_ONLY`], the same in runc and Docker): bound onto itself, and that bind mount made
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
/// Docker's default masked paths, in moby's order (`defaultLinuxMaskedPaths`),
/// besides each CPU's [`thermal_throttle`]. The probe lists the same.
pub const MASKED: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// runc's default read-only paths.
pub const READ_ONLY: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
// ANCHOR_END: lists

/// Bind each path onto itself, read-only: [`READ_ONLY`], or the list an OCI
/// config gives (`linux.readonlyPaths`).
pub struct ReadOnlyPaths {
    paths: Vec<String>,
}

impl ReadOnlyPaths {
    /// runc's and Docker's.
    pub fn defaults() -> Self {
        ReadOnlyPaths::of(READ_ONLY.map(String::from).to_vec())
    }

    pub fn of(paths: Vec<String>) -> Self {
        ReadOnlyPaths { paths }
    }
}

impl Step for ReadOnlyPaths {
    fn name(&self) -> &'static str {
        "read-only paths"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        for path in &self.paths {
            let path = path.as_str();
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

/// Hide each path: `/dev/null` over a file, an empty read-only tmpfs over a
/// directory. Docker's ([`MASKED`] and every CPU's [`thermal_throttle`]), or
/// the list an OCI config gives (`linux.maskedPaths`).
pub struct MaskedPaths {
    paths: Vec<String>,
    thermal_throttle: bool,
}

impl MaskedPaths {
    /// Docker's.
    pub fn defaults() -> Self {
        MaskedPaths { paths: MASKED.map(String::from).to_vec(), thermal_throttle: true }
    }

    pub fn of(paths: Vec<String>) -> Self {
        MaskedPaths { paths, thermal_throttle: false }
    }
}

// ANCHOR: mask
impl Step for MaskedPaths {
    fn name(&self) -> &'static str {
        "masked paths"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let throttles = if self.thermal_throttle { thermal_throttle()? } else { Vec::new() };
        for path in self.paths.iter().chain(&throttles) {
            let path = path.as_str();
            // Docker's are in the /proc and /sys we mounted, not in the image:
            // no symbolic link of the image's can redirect them. A config's may
            // be anywhere, but this runs in the container's own root, after
            // pivot_root: a link leads nowhere else.
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

/// Each possible CPU's `thermal_throttle` directory (Intel CPUs have them),
/// as Docker masks them: the CPUs from `/sys/devices/system/cpu/possible`
/// (`0-3,8`), whether or not they have one (the step skips those without).
pub fn thermal_throttle() -> Result<Vec<String>, StepError> {
    let possible = "/sys/devices/system/cpu/possible";
    let text = match std::fs::read_to_string(possible) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        read => read.doing(|| format!("read {possible}"))?,
    };
    let cpus = parse_cpu_list(&text).ok_or_else(|| {
        StepError::new(format!("read {possible}"), Errno::EINVAL)
            .hint(format!("not a CPU list: {:?}", text.trim()))
    })?;
    Ok(cpus.map(|cpu| format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle")).collect())
}

/// The kernel's CPU list format: `0-3,8` is 0, 1, 2, 3 and 8.
fn parse_cpu_list(text: &str) -> Option<impl Iterator<Item = u32>> {
    let mut ranges = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (u32, u32) = (first.parse().ok()?, last.parse().ok()?);
        ranges.push(first..=last);
    }
    Some(ranges.into_iter().flatten())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_ranges_and_single_cpus() {
        let cpus = |text| parse_cpu_list(text).map(Iterator::collect::<Vec<u32>>);
        assert_eq!(cpus("0-1\n"), Some(vec![0, 1]));
        assert_eq!(cpus("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(cpus("0"), Some(vec![0]));
        assert_eq!(cpus("x"), None);
    }
}
