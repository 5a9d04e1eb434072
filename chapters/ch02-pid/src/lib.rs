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
//!   `ROOTFS/proc`), visible with `findmnt` on the host. The runtime records it
//!   and takes it down when the container exits ([`MountProc`]); chapter 3 gives
//!   the container a mount table of its own so that nothing needs taking down.
//!
//! **PID 1 is special.** The kernel delivers to it only the signals it installed
//! a handler for — from inside the namespace and from the host alike — except
//! `SIGKILL` and `SIGSTOP` sent from an ancestor namespace. A plain `sleep` as
//! PID 1 ignores Ctrl-C and `kill -TERM`. And orphans are re-parented to PID 1,
//! which must reap them. Programs not written for that role run under an init
//! that is: `--init` (`init.rs`). When PID 1 exits, the kernel kills every other
//! process in the namespace.
//!
//! Builds on chapter 1 ([`ch01_chroot::plan`]): one more namespace, one more step.
//!
//! Man pages: `man 7 pid_namespaces`, `man 5 proc`, `man 2 kill` (NOTES).

mod init;
mod proc;

pub use init::init;
pub use proc::MountProc;

use ch00_process::Plan;
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "PID namespace: its own process tree, where the command is PID 1";

/// Chapter 2's command-line options.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct PidOptions {
    /// Run the command under a tiny init of the runtime's own, which stays PID 1,
    /// forwards signals to the command and reaps orphans (as `docker run --init`).
    #[arg(long)]
    pub init: bool,
}

// ANCHOR: plan
/// Chapter 2's plan: chapter 1's, born in a new PID namespace, with its own `/proc`
/// (and, with `--init`, our init as PID 1).
pub fn plan(options: &PidOptions) -> Plan {
    let mut plan = ch01_chroot::plan().with_namespace(CloneFlags::CLONE_NEWPID).then(MountProc);
    plan.init = options.init.then_some(init as ch00_process::Init);
    plan
}
// ANCHOR_END: plan

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_mounted_after_the_chroot() {
        let plan = plan(&PidOptions::default());
        assert_eq!(plan.step_names(), ["chroot", "mount /proc"]);
        assert!(plan.namespaces.contains(CloneFlags::CLONE_NEWPID));
        assert!(plan.init.is_none());
        assert!(super::plan(&PidOptions { init: true }).init.is_some());
    }
}
