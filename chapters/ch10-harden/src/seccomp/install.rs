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

/// The size of one instruction, `struct sock_filter`.
const INSTRUCTION: usize = std::mem::size_of::<libc::sock_filter>();

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
    /// The program in `bytes`, as `seccomp_export_bpf` writes it: `struct
    /// sock_filter`s (u16 code, u8 jt, u8 jf, u32 k) in the machine's byte order.
    pub(super) fn from_bytes(bytes: &[u8], flags: libc::c_ulong) -> Result<Program, SeccompError> {
        let instructions = bytes.len() / INSTRUCTION;
        if !bytes.len().is_multiple_of(INSTRUCTION) {
            let what =
                format!("{} bytes are not whole {INSTRUCTION}-byte instructions", bytes.len());
            return Err(SeccompError::Export(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                what,
            )));
        }
        if instructions == 0 || instructions > MAX_INSTRUCTIONS {
            return Err(SeccompError::TooLong { instructions, max: MAX_INSTRUCTIONS });
        }
        let instruction = |b: &[u8]| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        };
        Ok(Program {
            instructions: bytes.chunks_exact(INSTRUCTION).map(instruction).collect(),
            flags,
        })
    }

    /// The bytes [`Program::from_bytes`] reads.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let bytes = |i: &libc::sock_filter| {
            let [c0, c1] = i.code.to_ne_bytes();
            let [k0, k1, k2, k3] = i.k.to_ne_bytes();
            [c0, c1, i.jt, i.jf, k0, k1, k2, k3]
        };
        self.instructions.iter().flat_map(bytes).collect()
    }

    // ANCHOR: install
    /// In the child, the last thing before `execve(2)`, after `no_new_privs` is
    /// set (without it, or `CAP_SYS_ADMIN`, the kernel says EACCES). Allocates
    /// nothing, also when it fails. Only 0 is success: with
    /// `SECCOMP_FILTER_FLAG_TSYNC` the kernel says which thread it could not
    /// synchronise by returning its ID.
    pub fn install(&self) -> Result<(), SeccompError> {
        let program = libc::sock_fprog {
            // At most MAX_INSTRUCTIONS, checked in `from_bytes`.
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
        match done {
            0 => Ok(()),
            // With SECCOMP_FILTER_FLAG_TSYNC, a thread that cannot take the
            // filter makes the call fail with that thread's ID, a positive
            // number: no thread got the filter.
            tid if tid > 0 => Err(SeccompError::Tsync { tid }),
            _ => Err(SeccompError::Install(Errno::last())),
        }
    }
    // ANCHOR_END: install

    /// Its `SECCOMP_FILTER_FLAG_*` bits, which the cache keeps with it.
    pub(super) fn flags(&self) -> libc::c_ulong {
        self.flags
    }

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
