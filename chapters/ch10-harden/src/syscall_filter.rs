//! The step that installs the container's seccomp filter (the filter itself,
//! its profile and its compiler are in [`crate::seccomp`]).
//!
//! The runtime compiles the profile into a BPF program *before* `clone(2)`,
//! for the capabilities the container will hold (a profile allows some calls
//! only to a container that has, say, `CAP_SYS_ADMIN`). The child installs it
//! as its very last step, after `no_new_privs`: from then on every system call
//! it makes is checked, so nothing of the runtime's set-up may come after it.

use ch00_process::{Context, Step, StepError};
use nix::errno::Errno;

use crate::seccomp::{Program, SeccompError};

/// Install the compiled filter: one `seccomp(2)` call in the child.
pub struct Seccomp {
    program: Program,
}

impl Seccomp {
    pub fn new(program: Program) -> Self {
        Seccomp { program }
    }
}

// ANCHOR: step
impl Step for Seccomp {
    fn name(&self) -> &'static str {
        "seccomp"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        self.program.install().map_err(|e| {
            let errno = if let SeccompError::Install(errno) = e { errno } else { Errno::EINVAL };
            StepError::new("install the seccomp filter", errno).hint(e.to_string())
        })
    }
}
// ANCHOR_END: step
