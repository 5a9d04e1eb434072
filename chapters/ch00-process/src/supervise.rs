//! The runtime's loop while the container runs: wait for it to end, pass on the
//! signals meant for it, stop it when asked (and kill it if it will not stop),
//! and relay its terminal.
//!
//! Everything the runtime waits for is a file descriptor, so one `poll(2)` waits
//! for all of it: the container's pidfd (readable once it has ended), the
//! signalfd (readable when a signal is pending), and, with a terminal of its
//! own, the container's terminal and our stdin.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

use crate::clone::{Child, send_signal};
use crate::console::Relay;
use crate::signals::{Received, Signals};
use crate::{Error, Exit};

/// A stop the runtime was asked for: by which signal, and until when the
/// container may take to end by itself.
struct Stop {
    signal: Signal,
    deadline: Instant,
    killed: bool,
}

impl Stop {
    /// A stop asked for by `signal` now: the container has `timeout` to end.
    fn by(signal: Signal, timeout: Duration) -> Stop {
        Stop { signal, deadline: Instant::now() + timeout, killed: false }
    }
}

// ANCHOR: supervise
/// Wait for `child` to end while forwarding signals and relaying its terminal.
/// Returns how it ended, and a line for the user if the runtime had to kill it.
pub fn supervise(
    child: &Child,
    signals: &mut Signals,
    stop_timeout: Duration,
    mut relay: Option<Relay>,
) -> Result<(Exit, Option<String>), Error> {
    let mut stop: Option<Stop> = None;
    loop {
        let timeout = match &stop {
            Some(s) if !s.killed => {
                // Milliseconds, rounded up so that we wake at or after the deadline.
                let left = s.deadline.saturating_duration_since(Instant::now());
                PollTimeout::from(left.as_millis().min(60_000) as u16 + 1)
            }
            _ => PollTimeout::NONE,
        };
        let ready = wait_for_any(child, signals, relay.as_ref(), timeout)?;
        if ready.signal {
            while let Some(received) = signals.next_received() {
                match received {
                    Received::Sent(signal) => {
                        // ESRCH: it has just ended; the pidfd says so next.
                        let _ = send_signal(&child.pidfd, signal);
                        if matches!(signal, Signal::SIGTERM | Signal::SIGINT) {
                            stop.get_or_insert_with(|| Stop::by(signal, stop_timeout));
                        }
                    }
                    // On our terminal, it reached the whole foreground group, the
                    // container too. With a terminal of its own (chapter 3), the
                    // container is in a session of its own: a hang-up of ours must
                    // be passed on, or it would never know.
                    Received::FromTerminal(signal) if relay.is_some() => {
                        let _ = send_signal(&child.pidfd, signal);
                        // A hang-up is a stop: no one is left to type `exit`.
                        if signal == Signal::SIGHUP {
                            stop.get_or_insert_with(|| Stop::by(signal, stop_timeout));
                        }
                    }
                    Received::FromTerminal(_) => {}
                    Received::WindowChanged => relay.iter().for_each(Relay::resize),
                }
            }
        }
        if let Some(relay) = relay.as_mut() {
            if ready.typed {
                relay.read_input();
            }
            if ready.container_terminal {
                relay.write_typed();
                relay.show_output();
            }
        }
        if ready.ended {
            let exit = reap(child)?;
            if let Some(relay) = relay.as_mut() {
                relay.drain();
            }
            let killed = stop.filter(|s| s.killed).map(|s| {
                format!(
                    "the container did not stop within {} s of {}: killed it (see --stop-timeout)",
                    stop_timeout.as_secs_f64(),
                    s.signal
                )
            });
            return Ok((exit, killed));
        }
        if let Some(s) = stop.as_mut().filter(|s| !s.killed && Instant::now() >= s.deadline) {
            let _ = send_signal(&child.pidfd, Signal::SIGKILL);
            s.killed = true;
        }
    }
}
// ANCHOR_END: supervise

/// Which of the descriptors we wait on are ready.
struct Ready {
    ended: bool,
    signal: bool,
    container_terminal: bool,
    typed: bool,
}

fn wait_for_any(
    child: &Child,
    signals: &Signals,
    relay: Option<&Relay>,
    timeout: PollTimeout,
) -> Result<Ready, Error> {
    let stdin = std::io::stdin();
    let mut fds = vec![
        PollFd::new(child.pidfd.as_fd(), PollFlags::POLLIN),
        PollFd::new(signals.fd(), PollFlags::POLLIN),
    ];
    // Where, if anywhere, the container's terminal and our stdin are in `fds`.
    let (mut terminal_at, mut stdin_at) = (None, None);
    if let Some(relay) = relay {
        if relay.output_open() {
            let mut events = PollFlags::POLLIN;
            events.set(PollFlags::POLLOUT, relay.has_typed());
            terminal_at = Some(fds.len());
            fds.push(PollFd::new(relay.master(), events));
        }
        if relay.wants_input() {
            stdin_at = Some(fds.len());
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
    }
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(errno) => return Err(Error::Wait(errno)),
    }
    let is_ready =
        |at: Option<usize>| at.and_then(|i| fds.get(i)?.revents()).is_some_and(|r| !r.is_empty());
    Ok(Ready {
        ended: is_ready(Some(0)),
        signal: is_ready(Some(1)),
        container_terminal: is_ready(terminal_at),
        typed: is_ready(stdin_at),
    })
}

/// Collect the exit status of a child that has ended.
pub fn reap(child: &Child) -> Result<Exit, Error> {
    loop {
        match waitid(Id::PIDFd(child.pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Exit::Code(code as u8)),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(Exit::Signal(signal)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(Error::Wait(errno)),
        }
    }
}

/// Has the child already been killed by a signal? (Its status stays to be
/// collected.)
pub fn killed_already(child: &Child) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(waitid(Id::PIDFd(child.pidfd.as_fd()), flags), Ok(WaitStatus::Signaled(..)))
}
