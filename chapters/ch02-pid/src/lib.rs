//! # Chapter 2: a PID namespace, where the command is PID 1
//!
//! A PID namespace gives the container its own process numbers. Its first process
//! is PID 1 — the "init" of the namespace — and it, with its descendants, is all
//! that the container can see or signal: `kill(2)` of a host process's PID finds
//! nothing, because that number means nothing here. From the host, the same
//! processes have ordinary, large PIDs.
//!
//! Two things follow that surprise people:
//!
//! - **`ps` lies until `/proc` is remounted.** `ps` reads `/proc`, and a procfs
//!   shows the PID namespace of whoever *mounted* it. So the step below mounts a
//!   fresh procfs inside the container.
//! - **That mount lands on the host.** We have no mount namespace yet, so the
//!   container's `/proc` mount is an entry in the *host's* mount table (at
//!   `ROOTFS/proc`), visible with `findmnt` on the host. We take it down when the
//!   container exits ([`MountProc::after_exit`]); chapter 3 gives the container a
//!   mount table of its own so that nothing needs taking down.
//!
//! PID 1 is special: the kernel does not deliver signals to it that it has no
//! handler for (so `kill -TERM 1` inside does nothing to a plain `sleep`), and when
//! it exits, the kernel kills every other process in the namespace.
//!
//! Builds on chapter 1 ([`ch01_chroot::plan`]): one more namespace, one more step.
//!
//! Man pages: `man 7 pid_namespaces`, `man 5 proc`.

use std::path::Path;

use ch00_process::{Context, Doing, Plan, Step, StepError};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "PID namespace: its own process tree, where the command is PID 1";

// ANCHOR: plan
/// Chapter 2's plan: chapter 1's, born in a new PID namespace, with its own `/proc`.
pub fn plan() -> Plan {
    ch01_chroot::plan().with_namespace(CloneFlags::CLONE_NEWPID).then(MountProc)
}
// ANCHOR_END: plan

/// Mount a procfs for the container's PID namespace at `/proc`.
pub struct MountProc;

// ANCHOR: mount_proc
impl Step for MountProc {
    fn name(&self) -> &'static str {
        "mount /proc"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // A runtime creates the mount point if the image lacks it, as runc does.
        std::fs::create_dir_all("/proc").doing(|| "create /proc".to_owned())?;
        // EXERCISE(ch02-pid): mount a procfs at /proc.
        // hint: nix::mount::mount with source "proc", fstype "proc" and the flags
        // MS_NOSUID | MS_NODEV | MS_NOEXEC: nothing in /proc should be run or setuid.
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
            .doing(|| "mount proc on /proc".to_owned())
        // END EXERCISE
    }

    /// Without a mount namespace, the procfs we mounted sits in the host's mount
    /// table at `ROOTFS/proc`: take it down. (`MNT_DETACH`, because a process the
    /// container left behind may still hold it open.)
    fn after_exit(&self, cx: &Context) -> Result<(), StepError> {
        if cx.namespaces.contains(CloneFlags::CLONE_NEWNS) {
            return Ok(()); // it died with the container's own mount table
        }
        let target = Path::new(&cx.container.rootfs).join("proc");
        match umount2(&target, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point, so the step never got to mount it.
            Ok(()) | Err(Errno::EINVAL) => Ok(()),
            Err(errno) => Err(StepError::new(format!("unmount {}", target.display()), errno)),
        }
    }
}
// ANCHOR_END: mount_proc

#[cfg(test)]
mod tests {
    #[test]
    fn proc_is_mounted_after_the_chroot() {
        let plan = super::plan();
        assert_eq!(plan.step_names(), ["chroot", "mount /proc"]);
        assert!(plan.namespaces.contains(nix::sched::CloneFlags::CLONE_NEWPID));
    }
}
