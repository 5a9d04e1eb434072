//! The lifecycle of one container: `clone(2)`, run the plan, `execve(2)`, wait.
//!
//! Why `clone(2)` and not `fork(2)`? `clone` takes the `CLONE_NEW*` flags, so the
//! child is *born* inside its new namespaces. That matters for the PID namespace:
//! `unshare(CLONE_NEWPID)` would only put the caller's future children in it, but a
//! child cloned with `CLONE_NEWPID` is PID 1 of the new namespace from its first
//! instruction. In this chapter the flags are empty, and `clone` behaves like `fork`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::errno::Errno;
use nix::sched::clone;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::handshake::{self, ChildFailure, Sender, WaitForGo};
use crate::plan::Context;
use crate::signals::Signals;
use crate::{Container, Error, Plan, Step, StepError, exec};

/// How the container's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `exit(code)`.
    Code(u8),
    /// A signal killed it.
    Signal(Signal),
}

/// How the container ended: its exit status and, when a step knows more than the
/// status can say, why (chapter 7: "killed by the kernel: out of memory").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: Exit,
    pub reason: Option<String>,
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

/// The child's stack: `clone(2)` needs one because the child may run on memory of
/// its own. 8 MiB, like a main thread's, because a step that panics prints a
/// backtrace, which needs room. The memory is only touched as the child uses it.
const STACK_SIZE: usize = 8 * 1024 * 1024;

// ANCHOR: run
/// Run `container` with `plan` and wait for it to end.
///
/// Call it from a single-threaded program (like the chapter binaries): the child
/// starts as a copy of this process, and in a copy of a multi-threaded program a
/// lock held by another thread stays locked forever.
pub fn run(container: &Container, plan: &Plan) -> Result<Ended, Error> {
    check_rootfs(container)?;
    let cx = Context { container, namespaces: plan.namespaces };
    let (sender, receiver) = handshake::channel()?;
    let (go, wait_for_go) = handshake::go_channel()?;

    // Hold back termination signals until we know whom to forward them to.
    let mut signals = Signals::hold();
    let mut stack = vec![0u8; STACK_SIZE];
    let (mut sender, mut go, mut wait_for_go) = (Some(sender), Some(go), Some(wait_for_go));
    let child_main = Box::new(|| {
        // This closure runs only in the child, on its own copy of our memory:
        // taking `go` closes the child's copy of that pipe end, not ours.
        drop(go.take());
        signals.release_in_child();
        let wait_for_go = wait_for_go.take().expect("runs once");
        child(&cx, plan, wait_for_go, sender.take().expect("runs once"))
    });
    // SAFETY: the runtime is single-threaded (see above), so the child's copy of
    // the address space holds no lock another thread could be holding.
    let child = unsafe { clone(child_main, &mut stack, plan.namespaces, Some(libc::SIGCHLD)) }
        .map_err(Error::Clone)?;
    // Our copies of the child's pipe ends must go: a pipe reads end-of-file only
    // when no process holds its write end open.
    drop((sender, wait_for_go));
    signals.forward_to(child);

    // The parent's part of the set-up; the child waits for it.
    if let Err(e) = in_parent(&cx, plan, child) {
        drop(go); // the child sees end-of-file instead of "go", and exits
        let exit = wait_for(child);
        let reason = why_it_ended(&cx, plan);
        let _ = after_exit(&cx, plan);
        // A child killed during the set-up makes the set-up fail (its namespaces
        // vanish); then the kill, not the set-up, is what happened.
        return match exit {
            Ok(exit @ Exit::Signal(_)) => Ok(Ended { exit, reason }),
            _ => Err(e),
        };
    }
    // Even if the child is already gone, what follows must run: the wait says
    // how it ended, and the clean-up is needed either way.
    go.expect("still ours").go();

    let failure = receiver.receive();
    let exit = wait_for(child);
    let reason = why_it_ended(&cx, plan);
    let cleanup = after_exit(&cx, plan);
    match failure? {
        Some(failure) => Err(failure.into()),
        None => cleanup.and(exit).map(|exit| Ended { exit, reason }),
    }
}
// ANCHOR_END: run

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
fn child(cx: &Context, plan: &Plan, wait_for_go: WaitForGo, sender: Sender) -> isize {
    // If the runtime dies (say, `kill -9`), take the container with it rather than
    // leave an orphan behind. (`man 2 PR_SET_PDEATHSIG`)
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if !wait_for_go.wait() {
        return 125; // the parent's set-up failed, and the parent says why
    }
    for step in plan.steps() {
        // A panic must not unwind out of the child: it would cross clone(2)'s C
        // callback, which aborts. `attempt` reports it like any other failure.
        if let Err(failure) = attempt(step, || step.in_child(cx)) {
            sender.send(&failure);
            return 125;
        }
    }
    let failure = exec::exec(cx.container);
    let code = match failure {
        ChildFailure::NotFound { .. } => 127,
        _ => 126,
    };
    sender.send(&failure);
    code
}
// ANCHOR_END: child

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_owned(),
    }
}

/// Wait for the child to end. `waitpid(2)` can be interrupted by a signal we
/// forward; then we simply wait again.
fn wait_for(child: Pid) -> Result<Exit, Error> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Exit::Code(code as u8)),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(Exit::Signal(signal)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(Error::Wait(errno)),
        }
    }
}

/// Run every step's parent-side part, in order. A panic (a workshop's `todo!()`)
/// is reported like a failure, so that the clean-up still runs.
fn in_parent(cx: &Context, plan: &Plan, child: Pid) -> Result<(), Error> {
    for step in plan.steps() {
        attempt(step, || step.in_parent(cx, child))?;
    }
    Ok(())
}

/// Run one part of a step, turning an error or a panic into the report that the
/// handshake carries (and that converts into the runtime's [`Error`]).
fn attempt(
    step: &dyn Step,
    part: impl FnOnce() -> Result<(), StepError>,
) -> Result<(), ChildFailure> {
    match catch_unwind(AssertUnwindSafe(part)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ChildFailure::Step { step: step.name().into(), error }),
        Err(panic) => {
            Err(ChildFailure::Panic { step: step.name().into(), message: panic_message(&*panic) })
        }
    }
}

/// The first thing a step can tell about why the container ended; asked before
/// the clean-up, while what the steps made (a cgroup and its counters) still exists.
fn why_it_ended(cx: &Context, plan: &Plan) -> Option<String> {
    plan.steps().find_map(|step| step.why_it_ended(cx))
}

/// Undo, in reverse order, what the steps left on the host.
fn after_exit(cx: &Context, plan: &Plan) -> Result<(), Error> {
    let steps: Vec<_> = plan.steps().collect();
    let mut result = Ok(());
    for step in steps.into_iter().rev() {
        if let Err(e) = step.after_exit(cx) {
            // Keep going: one failed clean-up must not stop the others.
            result = result.and(Err(Error::Cleanup(e)));
        }
    }
    result
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
