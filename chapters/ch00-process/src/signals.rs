//! What the runtime does with signals while the container runs.
//!
//! - `SIGINT` and `SIGQUIT` (Ctrl-C, Ctrl-\\) are ignored: the terminal sends them
//!   to the whole foreground process group, which includes the container, so the
//!   container decides what they mean. The runtime stays alive to clean up.
//! - `SIGTERM` and `SIGHUP` are sent to the runtime alone (`kill`, a closed
//!   terminal): we forward them, so that stopping the runtime stops the container.
//!
//! The order matters. If a `SIGTERM` arrived after `clone(2)` but before the
//! handler knew the child's PID, it would be lost (or kill the runtime). So the
//! signals are *blocked* before `clone`: the kernel keeps them pending. The child
//! unblocks them first thing (it inherited the block); the parent installs its
//! handlers and only then unblocks, and a signal that arrived meanwhile is
//! delivered at that moment, and forwarded. `man 2 sigprocmask`, `man 7 signal`.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, kill, signal, sigprocmask};
use nix::unistd::Pid;

/// The container's PID, for the signal handler (which can take no arguments).
static CHILD: AtomicI32 = AtomicI32::new(0);

const IGNORED: [Signal; 2] = [Signal::SIGINT, Signal::SIGQUIT];
const FORWARDED: [Signal; 2] = [Signal::SIGTERM, Signal::SIGHUP];

/// The runtime's signal set-up; dropping it restores what was there before.
pub struct Signals {
    mask_before: SigSet,
    handlers_before: Vec<(Signal, SigHandler)>,
}

impl Signals {
    /// Before `clone(2)`: block the signals we will handle.
    pub fn hold() -> Self {
        let mut held = SigSet::empty();
        IGNORED.iter().chain(&FORWARDED).for_each(|sig| held.add(*sig));
        let mut mask_before = SigSet::empty();
        // sigprocmask only fails for an invalid `how`.
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut mask_before));
        Signals { mask_before, handlers_before: Vec::new() }
    }

    /// In the child: the command must get signals as the runtime got them.
    pub fn release_in_child(&self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask_before), None);
    }

    /// In the parent, once the child exists: handle, then unblock.
    pub fn forward_to(&mut self, child: Pid) {
        CHILD.store(child.as_raw(), Ordering::SeqCst);
        let handlers = IGNORED
            .map(|sig| (sig, SigHandler::SigIgn))
            .into_iter()
            .chain(FORWARDED.map(|sig| (sig, SigHandler::Handler(forward))));
        for (sig, handler) in handlers {
            // SAFETY: the handler only calls kill(2), which is async-signal-safe.
            if let Ok(before) = unsafe { signal(sig, handler) } {
                self.handlers_before.push((sig, before));
            }
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask_before), None);
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, handler) in self.handlers_before.drain(..) {
            // SAFETY: putting back a disposition that was installed before.
            let _ = unsafe { signal(sig, handler) };
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask_before), None);
    }
}

extern "C" fn forward(sig: libc::c_int) {
    let child = CHILD.load(Ordering::SeqCst);
    if let (true, Ok(sig)) = (child > 0, Signal::try_from(sig)) {
        let _ = kill(Pid::from_raw(child), sig);
    }
}
