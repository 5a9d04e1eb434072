//! # Chapter 3: a mount namespace and pivot_root
//!
//! A mount namespace gives the container its own copy of the mount table. Mounts it
//! makes are not seen by the host, and — once we detach the host's root from it —
//! the host's mounts are not seen by the container. Five steps, in this order:
//!
//! 1. **Make every mount private** ([`PrivateMounts`]). A new mount namespace starts
//!    as a copy of the host's, *including propagation*: on most distributions `/`
//!    is a "shared" mount, so a mount made below it in the container would
//!    propagate back to the host. Mounting `/proc` without this step is the classic
//!    container-tutorial disaster that breaks the host's `/proc`.
//! 2. **Switch root with `pivot_root(2)`** ([`PivotRoot`]) instead of `chroot(2)`.
//!    `pivot_root` moves the whole mount namespace onto the new root; we then
//!    *unmount* the old root. There is no path left that leads back to the host, so
//!    the chroot breakout of chapter 1 finds nothing.
//! 3. **A fresh `/proc`**: chapter 2's step, now inside our own mount table.
//! 4. **A minimal `/dev` and a read-only `/sys`** ([`MountDev`], [`MountSys`]):
//!    programs expect `/dev/null` and friends, but the container must not get the
//!    host's disks.
//! 5. **A terminal of its own** ([`Console`]) when the runtime runs on one: your
//!    terminal is a host device, `/dev/pts/N` of the host's devpts, which the
//!    container's `/dev` no longer has.
//!
//! Builds on chapter 2 ([`ch02_pid::plan`]): one more namespace; `chroot` replaced.
//!
//! Man pages: `man 7 mount_namespaces`, `man 2 pivot_root`, `man 2 mount`.

mod console;
pub mod detached;
mod dev;
mod root;
mod sys;

pub use console::Console;
pub use dev::{BindDev, CloneHostDevices, HostDevices, MountDev};
pub use root::{PivotRoot, PrivateMounts};
pub use sys::MountSys;

use ch00_process::Plan;
use ch02_pid::PidOptions;
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "mount namespace: its own mount table; pivot_root, /proc, /dev, /sys";

// ANCHOR: plan
/// Chapter 3's plan: chapter 2's in a new mount namespace, with `chroot` replaced by
/// private propagation and `pivot_root`, a minimal `/dev` and `/sys` added, and a
/// terminal of its own. (No options of its own: it takes chapter 2's.)
pub fn plan(options: &PidOptions) -> Plan {
    let mut plan = ch02_pid::plan(options)
        .with_namespace(CloneFlags::CLONE_NEWNS)
        .replace("chroot", vec![Box::new(PrivateMounts), Box::new(PivotRoot)])
        .then(MountDev)
        .then(MountSys)
        .then(Console);
    plan.console = true;
    plan
}
// ANCHOR_END: plan

#[cfg(test)]
mod tests {
    #[test]
    fn mounts_are_private_before_anything_is_mounted() {
        let plan = super::plan(&Default::default());
        assert_eq!(
            plan.step_names(),
            [
                "make mounts private",
                "pivot_root",
                "mount /proc",
                "mount /dev",
                "mount /sys",
                "console"
            ]
        );
        assert!(plan.console);
    }
}
