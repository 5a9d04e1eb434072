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
//! - [`run()`] creates the child with `clone3(2)`, runs the plan in it, and executes
//!   the command. Failures inside the child travel back over a pipe ([`handshake`]),
//!   so the user sees the real cause ("mount /proc: Permission denied"), not
//!   "child exited 1". While the container runs, the runtime forwards the signals
//!   sent to it and stops the container when asked ([`supervise`]).
//! - Whatever a step makes on the host, it first writes down in the container's
//!   state directory ([`State`]), so that `chNN cleanup` can take it down when a
//!   runtime dies without doing so itself.
//!
//! # Layout
//!
//! - `container.rs`: what to run: the root filesystem, the command, its environment.
//! - `plan.rs`: the ordered steps a chapter runs inside the child.
//! - `run.rs`: the lifecycle of one container, from `clone` to clean-up.
//! - `clone.rs`: `clone3(2)` and the pidfd that holds on to the child.
//! - `handshake.rs`: the child→parent error channel.
//! - `signals.rs`, `supervise.rs`: signals while the container runs; the wait.
//! - `exec.rs`: finding the command, a clean start, and `execve(2)`.
//! - `state.rs`, `leftovers.rs`: records of what is made on the host; clean-up
//!   after a runtime that died.
//! - `console.rs`: relaying a container's own terminal (chapter 3 makes it).
//! - `cli.rs`: the `chNN run ROOTFS [CMD...]` command line every chapter shares.
//!
//! Man pages: `man 2 clone3`, `man 2 execve`, `man 2 waitid`, `man 7 signal`,
//! `man 2 pidfd_open`.

pub mod cli;
pub mod clone;
pub mod console;
mod container;
mod error;
mod exec;
pub mod handshake;
mod leftovers;
pub mod plan;
mod run;
pub mod signals;
mod state;
pub mod supervise;
pub mod timings;

pub use container::{Container, DEFAULT_PATH, DEFAULT_STOP_TIMEOUT, random_id};
pub use error::{Doing, Error, StepError};
pub use exec::resolve;
pub use leftovers::{Swept, sweep};
pub use plan::{Context, Init, Plan, Step};
pub use run::{Ended, Exit, Launched, cleanup, launch, quiet_panics_in_steps, run};
pub use state::{State, state_root};

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
