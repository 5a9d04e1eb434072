//! `--init`: a tiny init of ours as the container's PID 1.
//!
//! Most programs were not written to be PID 1. They install no handlers for
//! `SIGTERM` or `SIGINT` (the default action, "terminate", was always enough), so
//! as PID 1 they ignore both; and they never wait for children they did not
//! start, so the orphans the kernel hands to PID 1 stay zombies for ever,
//! filling the process table. An init fixes both, and that is all it does:
//!
//! - it runs the command as its child (PID 2), so the command gets signals as
//!   any process does;
//! - it passes on every signal it receives to the command;
//! - it reaps every child that ends — the command, and every orphan;
//! - when the command ends, it exits with the command's status (128 + N for a
//!   death by signal N), and the kernel ends the rest of the namespace.
//!
//! This is what `tini`, `catatonit` and `docker run --init` do. Ours is the
//! runtime's own code, still running in the process `clone` made (the runner
//! forks it after the plan's steps; `ch00_process::Plan::init`).
//!
//! How it waits: it *blocks* every signal and takes them one at a time with
//! `sigwait(3)`. A blocked signal is never discarded, not even at PID 1 (the
//! kernel only drops the unhandled signals it would deliver), so nothing is lost
//! between two waits. `SIGCHLD` means "a child ended": reap.

use ch00_process::clone::{pidfd_open, send_signal};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

// ANCHOR: init
/// PID 1's life: forward signals to `command`, reap every child, and return the
/// command's exit status once it has ended.
pub fn init(command: Pid) -> i32 {
    // So that `ps` inside shows what PID 1 is (it is still our runtime's code).
    let _ = nix::sys::prctl::set_name(c"tincan-init");
    let every = SigSet::all();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&every), None);
    // The command is our child and not reaped yet, so its PID still names it.
    let pidfd = pidfd_open(command).ok();
    loop {
        // Reap first: the command may have ended before we blocked SIGCHLD.
        if let Some(status) = reap_all(command) {
            return status;
        }
        match every.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(signal) => {
                let _ = match &pidfd {
                    Some(pidfd) => send_signal(pidfd, signal),
                    None => kill(command, signal),
                };
            }
        }
    }
}
// ANCHOR_END: init

/// Collect every child that has ended; the command's exit status if it is one of them.
fn reap_all(command: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                return Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(_) | Err(Errno::EINTR) => continue, // an orphan, reaped
            Err(_) => return None,
        }
    }
}
