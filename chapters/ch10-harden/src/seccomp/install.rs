//! Installing a compiled filter: one system call in the child.
//!
//! `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` hands the kernel the
//! program; from then on the kernel runs it on every system call of this
//! thread and of everything it starts — `execve(2)` keeps it, children inherit
//! it, and nothing removes it. (`prctl(PR_SET_SECCOMP)` is the older way; it
//! takes no flags.)

use nix::errno::Errno;

use super::SeccompError;

/// The most instructions one classic BPF program may have (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// A compiled BPF program, made in the runtime *before* `clone(2)`, so the
/// child only makes one system call (no allocation, no libseccomp work after
/// the fork).
#[derive(Clone)]
pub struct Program {
    instructions: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits from the profile's `flags`.
    flags: libc::c_ulong,
}

impl Program {
    pub(super) fn new(
        instructions: Vec<libc::sock_filter>,
        flags: libc::c_ulong,
    ) -> Result<Program, SeccompError> {
        if instructions.is_empty() || instructions.len() > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLong {
                instructions: instructions.len(),
                max: MAX_INSTRUCTIONS,
            });
        }
        Ok(Program { instructions, flags })
    }

    // ANCHOR: install
    /// In the child, the last thing before `execve(2)`, after `no_new_privs` is
    /// set (without it, or `CAP_SYS_ADMIN`, the kernel says EACCES). Allocates
    /// nothing, also when it fails.
    pub fn install(&self) -> Result<(), SeccompError> {
        let program = libc::sock_fprog {
            // At most MAX_INSTRUCTIONS, checked in `new`.
            len: self.instructions.len() as u16,
            filter: self.instructions.as_ptr().cast_mut(),
        };
        // SAFETY: `program` points at our instructions, which outlive the call;
        // the kernel copies them.
        let done = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &raw const program,
            )
        };
        Errno::result(done).map(drop).map_err(SeccompError::Install)
    }
    // ANCHOR_END: install

    /// How many BPF instructions the program has.
    pub fn instructions(&self) -> usize {
        self.instructions.len()
    }
}

/// `libc::sock_filter` has no `Debug`; the size and flags say enough.
impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.instructions.len())
            .field("flags", &self.flags)
            .finish()
    }
}
