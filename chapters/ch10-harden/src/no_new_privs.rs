//! `no_new_privs`: nothing the container runs can gain a privilege.
//!
//! Executing a set-user-ID program (`su`, `passwd`, `ping` on old systems) or one
//! with file capabilities normally *raises* the process's privileges: that is
//! what those bits are for. In a container they are a way up: an image can ship
//! a set-user-ID-root shell, and a non-root `USER` that runs it is root again
//! (with every capability the bounding set still allows).
//!
//! `prctl(PR_SET_NO_NEW_PRIVS, 1)` turns that off for the process and every
//! descendant, for good: `execve(2)` then ignores set-user-ID, set-group-ID and
//! file capabilities (the program runs, as the user who ran it). It is also
//! what lets an unprivileged process install a seccomp filter: without it, a
//! filter could make a set-user-ID program fail a check it relies on
//! (`setuid()` failing silently) and be abused. Docker turns it on with
//! `--security-opt no-new-privileges`; tincan always does. Shown in
//! `/proc/self/status` as `NoNewPrivs: 1`.
//!
//! Man pages: `man 2 PR_SET_NO_NEW_PRIVS`; the kernel's
//! `Documentation/userspace-api/no_new_privs.rst`.

use ch00_process::{Context, Doing, Step, StepError};

/// Set `no_new_privs`: after the capabilities are set, before seccomp.
pub struct NoNewPrivs;

// ANCHOR: step
impl Step for NoNewPrivs {
    fn name(&self) -> &'static str {
        "no_new_privs"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::sys::prctl::set_no_new_privs().doing(|| "set no_new_privs".into())
    }
}
// ANCHOR_END: step
