//! A foreground `run` passes the signals it is sent on to the container's
//! first process, as `docker run` does (its `--sig-proxy`, on by default):
//! Ctrl-C at the terminal reaches `tincan run`, not the container, which
//! lives in the supervisor's session. Without this, Ctrl-C would end `run`
//! and leave the container running with nobody following it — and, with
//! `--rm`, never removed.
//!
//! The container's first process is the init of its PID namespace: a signal
//! it has no handler for is ignored, whatever its default. So Ctrl-C stops
//! `sh -c 'trap exit INT; ...'`, and not `sleep 1000` — as with Docker;
//! `tincan stop` from another terminal ends either. A signal sent while the
//! container is still being created waits until it has started.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::Failure;

/// The signals a user sends a foreground command; the others (SIGCHLD,
/// SIGPIPE, ...) are about `run` itself.
const PASSED_ON: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals, blocked and read from a file descriptor, for one container.
pub struct Proxy<'a> {
    signals: SignalFd,
    root: &'a Path,
    id: &'a str,
}

impl<'a> Proxy<'a> {
    /// From now on, [`PASSED_ON`] wait in the returned descriptor instead
    /// of ending this process. They stay blocked until it exits: one that
    /// comes after the container has ended has nothing to reach.
    pub fn new(root: &'a Path, id: &'a str) -> Result<Proxy<'a>, Failure> {
        // The calling thread's mask: `run` has one thread here (the pull's
        // threads have ended), and what it starts later inherits it.
        let mut mask = SigSet::empty();
        PASSED_ON.iter().for_each(|&signal| mask.add(signal));
        mask.thread_block().map_err(|e| Failure::new(format!("block signals: {e}")))?;
        let flags = SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC;
        let signals = SignalFd::with_flags(&mask, flags)
            .map_err(|e| Failure::new(format!("signalfd: {e}")))?;
        Ok(Proxy { signals, root, id })
    }

    /// What to poll: readable once a signal is waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }

    /// Send the container every signal waiting.
    pub fn pass_on(&self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            if let Err(e) = crate::commands::kill::kill(self.root, self.id, signal.as_str(), false)
            {
                eprintln!("tincan: pass {signal} on to {}: {}", self.id, e.0);
            }
        }
    }
}
