//! The lifecycle of one container: record, clone, set up, execute, supervise,
//! clean up.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::sys::signal::Signal;

use crate::clone::{Child, CloneInto, Forked, clone3, send_signal};
use crate::console::{ConsoleSocket, Relay};
use crate::handshake::{self, ChildFailure, Go, Receiver, Sender, WaitForGo};
use crate::plan::{Context, Init};
use crate::signals::Signals;
use crate::supervise::{killed_already, reap, supervise};
use crate::{Container, Error, Plan, State, Step, StepError, exec, state_root, timings};

/// How the container's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `exit(code)`.
    Code(u8),
    /// A signal killed it.
    Signal(Signal),
}

/// How the container ended: its exit status and, when the runtime knows more
/// than the status can say, why (chapter 7: "killed by the kernel: out of memory");
/// and what of the clean-up after it failed (the status stays the container's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: Exit,
    pub reason: Option<String>,
    pub cleanup_failed: Option<String>,
}

impl Exit {
    /// The status a shell reports: the exit code, or 128 + the signal number.
    pub fn code(self) -> u8 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128u8.saturating_add(signal as u8),
        }
    }
}

// ANCHOR: run
/// Run `container` with `plan` and wait for it to end.
///
/// Call it from a single-threaded program (like the chapter binaries): the child
/// starts as a copy of this process, and in a copy of a multi-threaded program a
/// lock held by another thread stays locked for ever.
pub fn run(container: &Container, plan: &Plan) -> Result<Ended, Error> {
    if !plan.root_from_steps {
        check_rootfs(container)?;
    }
    let root = state_root();
    let state = State::create(&root, container)
        .map_err(|source| Error::State { dir: root.join("containers"), source })?;
    let console = if plan.console && crate::console::on_a_terminal() {
        Some(ConsoleSocket::new().map_err(|e| Error::Handshake(format!("socketpair: {e}")))?)
    } else {
        None
    };
    let cx = Context {
        container,
        namespaces: plan.namespaces,
        state: &state,
        console: console.as_ref(),
    };
    // Hold back the signals we forward from now on, through the clean-up: a
    // SIGTERM or a second Ctrl-C must not kill the runtime half-way, leaving
    // what it made on the host. Until the loop that forwards them runs, they wait.
    let mut signals =
        Signals::block().map_err(|e| Error::Signals(StepError::new("block signals", e)))?;
    let ended = start_and_wait(&cx, plan, &mut signals);
    // Whatever happened, take down what the steps made, from their records.
    let cleaned = cleanup(&cx, plan).and_then(|()| {
        state.remove().map_err(|left| Error::LeftBehind { dir: root.join("containers"), left })
    });
    match (ended, cleaned) {
        (Ok(ended), Ok(())) => Ok(ended),
        (Ok(ended), Err(e)) => Ok(Ended { cleanup_failed: Some(e.to_string()), ..ended }),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(cleanup)) => Err(Error::ThenCleanup(Box::new(e), Box::new(cleanup))),
    }
}
// ANCHOR_END: run

fn start_and_wait(cx: &Context, plan: &Plan, signals: &mut Signals) -> Result<Ended, Error> {
    let (child, go, receiver) = clone_child(cx, plan)?;
    let ended = after_clone(cx, plan, &child, go, receiver, signals);
    if ended.is_err() {
        // Whatever went wrong, the child must not outlive the error (the clean-up
        // is about to take down its network and cgroup): kill and collect it.
        // Both fail harmlessly if it is gone already.
        let _ = send_signal(&child.pidfd, Signal::SIGKILL);
        let _ = reap(&child);
    }
    ended
}

/// A container set up by [`launch`]: its first process has run every step and
/// goes on to its command by itself (an OCI runtime's last step holds it there
/// until `start`).
pub struct Launched {
    pub child: Child,
    receiver: Receiver,
}

impl Launched {
    /// The child's report channel: end-of-file once the command runs, or why it
    /// could not (see [`handshake`]).
    pub fn into_receiver(self) -> (Child, Receiver) {
        (self.child, self.receiver)
    }
}

/// Start `container` with `plan` and leave it to run: every step's parent-side
/// part, then "go", and no wait. This is the first half of [`run`], for a
/// runtime whose container outlives it (an OCI runtime's `create`, after which
/// the engine watches the container). The caller must have made `cx.state`, and
/// takes down what the steps made ([`cleanup`]) when the container is deleted.
pub fn launch(cx: &Context, plan: &Plan) -> Result<Launched, Error> {
    if !plan.root_from_steps {
        check_rootfs(cx.container)?;
    }
    let (child, go, receiver) = clone_child(cx, plan)?;
    if let Err(e) = in_parent(cx, plan, &child) {
        drop(go); // the child reads end-of-file instead of "go", and exits
        let _ = send_signal(&child.pidfd, Signal::SIGKILL);
        let _ = reap(&child);
        return Err(e);
    }
    go.go();
    Ok(Launched { child, receiver })
}

/// Every step's `before_clone`, then the child, which runs the steps' `in_child`
/// once told "go".
fn clone_child(cx: &Context, plan: &Plan) -> Result<(Child, Go, Receiver), Error> {
    let mut into = CloneInto::default();
    for step in plan.steps() {
        attempt(step, "before_clone", || step.before_clone(cx, &mut into))?;
    }
    if plan.root_from_steps {
        // Chapter 8's root is made by a step, above.
        check_rootfs(cx.container)?;
    }
    pause_if_asked("clone");
    let (sender, receiver) = handshake::channel()?;
    let (go, wait_for_go) = handshake::go_channel()?;
    // SAFETY: the runtime is single-threaded (see `run`).
    let cloned = timings::time(|| "clone3".into(), || unsafe { clone3(plan.namespaces, &into) });
    let child = match cloned.map_err(Error::Clone)? {
        Forked::Child => {
            drop(go); // the child's copy: "go" must come from the parent alone
            // The cgroup directory the child was born into (chapter 7): no step
            // may find a descriptor of the host's tree open (runc's CVE-2024-21626
            // was a container started in such a directory).
            drop(into);
            cx.state.close_lock_in_child();
            let code = child(cx, plan, wait_for_go, sender);
            // Leave without running the runtime's destructors in this copy of it.
            // SAFETY: _exit(2) ends the process at once.
            unsafe { libc::_exit(code) }
        }
        Forked::Parent(child) => child,
    };
    // Our copies of the child's pipe ends must go: a pipe reads end-of-file only
    // when no process holds its write end open.
    drop((sender, wait_for_go, into));
    Ok((child, go, receiver))
}

/// The parent's side, once the child exists: its part of the set-up, "go", the
/// wait for the command to start, and the wait for it to end.
fn after_clone(
    cx: &Context,
    plan: &Plan,
    child: &Child,
    go: Go,
    receiver: Receiver,
    signals: &mut Signals,
) -> Result<Ended, Error> {
    if let Err(e) = in_parent(cx, plan, child) {
        // Killed from outside while we set it up? Then that is what happened.
        if killed_already(child) {
            let reason = why_it_ended(cx, plan);
            return Ok(Ended { exit: reap(child)?, reason, cleanup_failed: None });
        }
        drop(go); // the child reads end-of-file instead of "go", and exits
        reap(child)?;
        return Err(e);
    }
    // Even if the child is already gone, what follows must run: the wait says
    // how it ended.
    go.go();
    let stopped = match wait_for_exec(receiver, child, signals)? {
        Started::Failed(failure) => {
            reap(child)?;
            return Err(failure.into());
        }
        Started::Stopped(signal) => Some(signal),
        Started::Running => None,
    };
    pause_if_asked("start");
    let relay = cx.console.and_then(ConsoleSocket::receive).map(Relay::start);
    let relay = relay.transpose().map_err(|e| Error::Handshake(format!("the terminal: {e}")))?;
    let (exit, killed) = supervise(child, signals, cx.container.stop_timeout, relay)?;
    let stopped = stopped.map(|s| format!("stopped by {s} before its command started"));
    let reason = stopped.or(killed).or_else(|| why_it_ended(cx, plan));
    Ok(Ended { exit, reason, cleanup_failed: None })
}

/// What became of the child after "go".
enum Started {
    /// It is running the command.
    Running,
    /// It could not, and said why.
    Failed(ChildFailure),
    /// We were asked to stop it before it got there, and killed it.
    Stopped(Signal),
}

/// Wait for the child to execute the command (or to report why it could not),
/// minding the signals meanwhile: a request to stop a container whose command
/// has not started yet (its set-up may hang on a hostile rootfs, a slow disk)
/// is answered by killing it. Signals meant for the command wait for it.
fn wait_for_exec(
    receiver: Receiver,
    child: &Child,
    signals: &mut Signals,
) -> Result<Started, Error> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut stopped = None;
    loop {
        let mut fds = [
            PollFd::new(receiver.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::Wait(errno)),
        }
        let handshake_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            while let Some(received) = signals.next_stop() {
                stopped.get_or_insert(received);
                let _ = send_signal(&child.pidfd, Signal::SIGKILL);
            }
        }
        if handshake_ready {
            return Ok(match (receiver.receive()?, stopped) {
                (Some(failure), None) => Started::Failed(failure),
                (_, Some(signal)) => Started::Stopped(signal),
                (None, None) => Started::Running,
            });
        }
    }
}

fn check_rootfs(container: &Container) -> Result<(), Error> {
    let rootfs = &container.rootfs;
    match rootfs.metadata() {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::RootfsNotADirectory(rootfs.clone())),
        Err(_) => Err(Error::RootfsMissing(rootfs.clone())),
    }
}

// ANCHOR: child
/// The child: run each step of the plan, then become the command.
/// The return value is the child's exit code; it is only reached on failure.
fn child(cx: &Context, plan: &Plan, wait_for_go: WaitForGo, sender: Sender) -> i32 {
    // If the runtime dies (say, `kill -9`), take the container with it rather than
    // leave it running unsupervised. (`man 2 PR_SET_PDEATHSIG`: this reaches the
    // container's first process only; chapter 2 says why that is enough there.)
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if !wait_for_go.wait() {
        return 125; // the parent's set-up failed (or it died), and the parent says why
    }
    for step in plan.steps() {
        // A panic must not unwind out of the child: `attempt` reports it like any
        // other failure.
        if let Err(failure) = attempt(step, "in_child", || step.in_child(cx)) {
            sender.send(&failure);
            return 125;
        }
    }
    if let Some(init) = plan.init
        && let Err(failure) = become_init(init)
    {
        sender.send(&failure);
        return 125;
    }
    timings::mark("execve");
    let failure = exec::exec(cx.container);
    let code = match failure {
        ChildFailure::NotFound { .. } | ChildFailure::InterpreterMissing { .. } => 127,
        _ => 126,
    };
    sender.send(&failure);
    code
}
// ANCHOR_END: child

/// Chapter 2's `--init`: fork; this process stays PID 1 and runs `init` until the
/// command ends; the new process (PID 2) returns, to execute the command.
fn become_init(init: Init) -> Result<(), ChildFailure> {
    // SAFETY: single-threaded (the runtime's child); PID 2 goes on to execve.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => Ok(()),
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // PID 1 needs none of the runtime's descriptors; in particular, the
            // handshake pipe must close when PID 2 executes the command.
            exec::close_from(3);
            let code = init(child);
            // SAFETY: _exit(2) ends PID 1, and with it the namespace.
            unsafe { libc::_exit(code) }
        }
        Err(errno) => Err(ChildFailure::Step {
            step: "init".into(),
            error: StepError::new("fork the command", errno),
        }),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_owned(),
    }
}

/// The first thing a step can tell about why the container ended; asked before
/// the clean-up, while what the steps made (a cgroup and its counters) still exists.
fn why_it_ended(cx: &Context, plan: &Plan) -> Option<String> {
    plan.steps().find_map(|step| step.why_it_ended(cx))
}

/// Run every step's parent-side part, in order. A panic (a workshop's `todo!()`)
/// is reported like a failure, so that the clean-up still runs.
fn in_parent(cx: &Context, plan: &Plan, child: &Child) -> Result<(), Error> {
    for step in plan.steps() {
        attempt(step, "in_parent", || step.in_parent(cx, child.pid))?;
        pause_if_asked(step.name());
    }
    Ok(())
}

thread_local! {
    /// Is a step's part running (see [`attempt`])?
    static IN_STEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic in a step (a workshop's `todo!()`) becomes one line of the runtime's
/// (`attempt`): Rust's own report of it would only repeat it, at length. Any
/// other panic — a bug in the runtime — is reported as usual.
pub fn quiet_panics_in_steps() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_STEP.get() {
            report(info);
        }
    }));
}

/// Run one part of a step, turning an error or a panic into the report that the
/// handshake carries (and that converts into the runtime's [`Error`]).
fn attempt(
    step: &dyn Step,
    which: &str,
    part: impl FnOnce() -> Result<(), StepError>,
) -> Result<(), ChildFailure> {
    IN_STEP.set(true);
    let what = || format!("{which} {}", step.name());
    let outcome = timings::time(what, || catch_unwind(AssertUnwindSafe(part)));
    IN_STEP.set(false);
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ChildFailure::Step { step: step.name().into(), error }),
        Err(panic) => {
            Err(ChildFailure::Panic { step: step.name().into(), message: panic_message(&*panic) })
        }
    }
}

/// Take down, in reverse order, what the steps left on the host.
pub fn cleanup(cx: &Context, plan: &Plan) -> Result<(), Error> {
    let steps: Vec<_> = plan.steps().collect();
    let mut result = Ok(());
    for step in steps.into_iter().rev() {
        if let Err(failure) = attempt(step, "cleanup", || step.cleanup(cx)) {
            // Keep going: one failed clean-up must not stop the others.
            let failure = match Error::from(failure) {
                Error::Step { source, .. } => Error::Cleanup(source),
                other => other,
            };
            result = result.and(Err(failure));
        }
    }
    result
}

/// For the crash tests: with `TINCAN_TEST_PAUSE_AFTER=POINT`, the runtime stops
/// at POINT — "clone" (everything recorded, nothing cloned yet), a step's name
/// (after its parent-side part) or "start" (the command runs) — and waits to be
/// killed, so that a test can `kill -9` it exactly there.
fn pause_if_asked(point: &str) {
    if std::env::var_os("TINCAN_TEST_PAUSE_AFTER").is_some_and(|p| p == point) {
        eprintln!("paused after {point}");
        loop {
            nix::unistd::pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_death_is_reported_as_128_plus_the_signal() {
        assert_eq!(Exit::Signal(Signal::SIGKILL).code(), 137);
        assert_eq!(Exit::Code(3).code(), 3);
    }
}
