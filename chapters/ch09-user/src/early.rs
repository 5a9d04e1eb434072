//! `/proc` and `/sys`, mounted before `pivot_root` in a user namespace.
//!
//! procfs and sysfs show the whole system's state, some of it hidden on the
//! host by mounts laid over parts of them (a runtime masks `/proc/kcore`
//! that way). So the kernel lets a user namespace's root mount a new one only
//! where it could already see one, whole: a `proc` mount of the host must be
//! visible in its mount namespace, with nothing hidden under other mounts
//! (`mount_too_revealing()` in `fs/namespace.c`; `man 7 user_namespaces`,
//! "Restrictions on mounting"). After `pivot_root` has detached the host's
//! root, there is none left, and chapter 2's `/proc` mount fails with EPERM.
//!
//! So in a user namespace both are mounted *before* `pivot_root`, on the
//! rootfs's `proc` and `sys` (resolved inside it: a hostile rootfs's `proc`
//! may be a symbolic link to the host's `/etc`), while the host's are in view.
//! runc does the same for all its mounts. (sysfs also needs a network
//! namespace of the user namespace's own: not with `--net host`.)

use ch00_process::{Context, Doing, Step, StepError};
use ch01_chroot::{RootDir, fd_path};
use nix::mount::{MsFlags, mount};

// ANCHOR: mount_in_root
/// Mount `fstype` on the rootfs's `dir` with `flags`.
fn mount_in_root(cx: &Context, fstype: &str, dir: &str, flags: MsFlags) -> Result<(), StepError> {
    let root = RootDir::open(&cx.container.rootfs)?;
    let target = root.dir(dir)?;
    mount(Some(fstype), &fd_path(&target), Some(fstype), flags, None::<&str>)
        .doing(|| format!("mount {fstype} on {}", root.shown(dir)))
}
// ANCHOR_END: mount_in_root

const NOTHING_TO_RUN: MsFlags =
    MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC);

/// Chapter 2's `/proc`, before `pivot_root`.
pub struct EarlyProc;

impl Step for EarlyProc {
    fn name(&self) -> &'static str {
        "mount /proc"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        mount_in_root(cx, "proc", "proc", NOTHING_TO_RUN)
    }
}

/// Chapter 3's read-only `/sys`, before `pivot_root`.
pub struct EarlySys;

impl Step for EarlySys {
    fn name(&self) -> &'static str {
        "mount /sys"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        mount_in_root(cx, "sysfs", "sys", NOTHING_TO_RUN | MsFlags::MS_RDONLY)
    }
}
