//! # Chapter 0: a plain child process
//!
//! Before we isolate anything, we need the part every container runtime has at its
//! core: start a program as a child process, pass the terminal through, wait for it,
//! and report its exit status faithfully. This chapter does exactly that and nothing
//! more, so the process sees *everything* the host sees: every process, every mount,
//! the host's hostname. It is the baseline the later chapters take away from.
//!
//! The runner is built so that later chapters only *add* to it:
//!
//! - [`Plan`] is an ordered list of [`Step`]s that run in the child between
//!   `clone(2)` and `execve(2)`, plus the namespaces the child is created in.
//!   Chapter 0's plan has one step (start in ROOTFS); chapter 1 replaces it with
//!   `chroot`, chapter 2 adds a PID namespace and a `/proc` mount, and so on.
//! - [`run()`] creates the child with `clone(2)`, runs the plan in it, and executes
//!   the command. Failures inside the child travel back over a pipe ([`handshake`]),
//!   so the user sees the real cause ("mount /proc: Permission denied"), not
//!   "child exited 1".
//!
//! # Layout
//!
//! - `container.rs`: what to run: the root filesystem, the command, its environment.
//! - `plan.rs`: the ordered steps a chapter runs inside the child.
//! - `run.rs`: `clone(2)`, wait, exit status: the lifecycle of one container.
//! - `handshake.rs`: the child→parent error channel.
//! - `signals.rs`: Ctrl-C and `kill` while the container runs.
//! - `exec.rs`: finding the command and `execve(2)`.
//! - `cli.rs`: the `chNN run ROOTFS [CMD...]` command line every chapter shares.
//!
//! Man pages: `man 2 clone`, `man 2 execve`, `man 2 waitpid`, `man 7 signal`.

pub mod cli;
mod container;
mod error;
mod exec;
pub mod handshake;
pub mod plan;
mod run;
mod signals;

pub use container::Container;
pub use error::{Doing, Error, StepError};
pub use plan::{Context, Plan, Step};
pub use run::{Ended, Exit, run};

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "a plain child process: no isolation, the baseline that sees everything";

// ANCHOR: plan
/// Chapter 0's plan: no namespaces and a single step, [`WorkInRootfs`]. The command
/// runs as an ordinary child of the runtime, in the host's view of the world.
pub fn plan() -> Plan {
    Plan::new().then(WorkInRootfs)
}
// ANCHOR_END: plan

/// Start the command with ROOTFS as its working directory, and nothing more: the
/// host's `/` is still its root. Chapter 1 replaces this step with `chroot`.
pub struct WorkInRootfs;

impl Step for WorkInRootfs {
    fn name(&self) -> &'static str {
        "chdir"
    }

    fn in_child(&self, cx: &plan::Context) -> Result<(), StepError> {
        let rootfs = &cx.container.rootfs;
        nix::unistd::chdir(rootfs).doing(|| format!("chdir to {}", rootfs.display()))
    }
}
