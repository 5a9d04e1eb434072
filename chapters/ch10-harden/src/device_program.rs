//! cgroup v2's device control: a BPF program, written by hand.
//!
//! cgroup v1 had a `devices` controller with an allow list in a file. cgroup v2
//! has none: instead, a program of the kernel's BPF virtual machine, of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE`, is attached to the cgroup, and the kernel runs
//! it on every `open(2)` and `mknod(2)` of a device node by a process in the
//! cgroup. The program reads a `struct bpf_cgroup_dev_ctx` (`<linux/bpf.h>`):
//!
//! ```text
//! offset 0  u32 access_type   device type (1 block, 2 char) | access << 16
//!                             (access: 1 mknod, 2 read, 4 write)
//! offset 4  u32 major
//! offset 8  u32 minor
//! ```
//!
//! and returns 1 to allow, 0 to refuse (the call then fails with `EPERM`).
//! runc and crun generate this program from the OCI spec's device rules, as we
//! do: one block of instructions per rule, "does it match? then return 1",
//! falling through to "return 0". Written out for the rule `c 1:3 rwm`:
//!
//! ```text
//!  r2 = *(u32 *)(r1 + 0)     ; prologue: the context into registers
//!  w2 &= 0xffff              ; r2: the device type
//!  r3 = *(u32 *)(r1 + 0)
//!  w3 >>= 16                 ; r3: the access asked for
//!  r4 = *(u32 *)(r1 + 4)     ; r4: major
//!  r5 = *(u32 *)(r1 + 8)     ; r5: minor
//!  if r2 != 2 goto next      ; a character device?
//!  w1 = w3
//!  w1 &= ~(1|2|4)            ; nothing asked beyond mknod, read, write?
//!  if r1 != 0 goto next
//!  if r4 != 1 goto next      ; major 1?
//!  if r5 != 3 goto next      ; minor 3?
//!  r0 = 1
//!  exit                      ; allowed
//! next:
//!  r0 = 0
//!  exit                      ; refused
//! ```
//!
//! `bpf(BPF_PROG_LOAD)` hands the instructions to the kernel's *verifier*, which
//! proves the program safe (it ends, reads only its context, returns a value)
//! before it is accepted; `bpf(BPF_PROG_ATTACH)` attaches it to the cgroup's
//! directory. The attachment lives as long as the cgroup: nothing to undo.
//!
//! Man pages: `man 2 bpf`; the kernel's `Documentation/bpf/standardization/
//! instruction-set.rst` and `Documentation/admin-guide/cgroup-v2.rst`
//! ("Device controller").

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::devices::{Kind, Rule};

/// One BPF instruction, `struct bpf_insn`: opcode, two 4-bit registers, a jump
/// offset and an immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// Destination register in the low 4 bits, source in the high 4.
    regs: u8,
    off: i16,
    imm: i32,
}

// The opcodes we use: class | operation | source (`BPF_K`: the immediate,
// `BPF_X`: a register).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K: if dst != imm, pc += off
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT: return r0

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

// ANCHOR: program
/// The program that allows exactly `rules` and refuses everything else.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        // Each test jumps to the next rule when it fails; the offsets are
        // filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        match rule.kind {
            Kind::Char => block.push(insn(JMP_JNE_K, 2, 0, 0, 2)),
            Kind::Block => block.push(insn(JMP_JNE_K, 2, 0, 0, 1)),
        }
        block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        block.push(insn(ALU32_AND_K, 1, 0, 0, !i32::from(rule.access.bits())));
        block.push(insn(JMP_JNE_K, 1, 0, 0, 0));
        if let Some(major) = rule.major {
            block.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
        }
        let tests = block.len();
        block.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        for (at, test) in block.iter_mut().take(tests).enumerate() {
            if test.code == JMP_JNE_K {
                test.off = (tests + 2 - at - 1) as i16;
            }
        }
        code.extend(block);
    }
    code.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    code.push(insn(JMP_EXIT, 0, 0, 0, 0));
    code
}
// ANCHOR_END: program

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Let programs attached further down the tree run too (runc and systemd use it).
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The part of `union bpf_attr` that `BPF_PROG_LOAD` reads; the kernel takes
/// a shorter union than its own and reads the rest as zeros.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// The part of `union bpf_attr` that `BPF_PROG_ATTACH` reads.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Why the kernel refused the program or its attachment.
#[derive(Debug, thiserror::Error)]
pub enum DeviceProgramError {
    #[error("the kernel's BPF verifier refused the device program ({errno}): {log}")]
    Refused { errno: Errno, log: String },
    #[error("cannot attach the device program to the container's cgroup: {0}")]
    Attach(Errno),
}

impl DeviceProgramError {
    pub fn errno(&self) -> Errno {
        match self {
            DeviceProgramError::Refused { errno, .. } | DeviceProgramError::Attach(errno) => *errno,
        }
    }
}

// ANCHOR: load
/// Load `code` into the kernel. When the verifier refuses it, load it again
/// with a log, to say why.
pub fn load(code: &[Insn]) -> Result<OwnedFd, DeviceProgramError> {
    let license = c"Apache-2.0"; // any: only GPL-only kernel helpers care
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: code.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
    };
    match bpf(BPF_PROG_LOAD, &attr) {
        // SAFETY: a new descriptor that the kernel gave us, owned by nobody else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(errno) => {
            let mut log = vec![0u8; 64 * 1024];
            (attr.log_level, attr.log_size, attr.log_buf) =
                (1, log.len() as u32, log.as_mut_ptr() as u64);
            if let Ok(fd) = bpf(BPF_PROG_LOAD, &attr) {
                // SAFETY: as above; it loaded this time (it should not have).
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).trim().replace('\n', "; ");
            Err(DeviceProgramError::Refused { errno, log })
        }
    }
}

/// Attach the loaded `program` to the cgroup whose directory is `cgroup`.
pub fn attach(program: BorrowedFd, cgroup: BorrowedFd) -> Result<(), DeviceProgramError> {
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &attr).map(drop).map_err(DeviceProgramError::Attach)
}
// ANCHOR_END: load

fn bpf<T>(command: libc::c_int, attr: &T) -> Result<libc::c_int, Errno> {
    // SAFETY: `attr` is a `#[repr(C)]` prefix of `union bpf_attr`, with its size;
    // the pointers in it point at memory that outlives the call.
    let done = unsafe {
        libc::syscall(libc::SYS_bpf, command, attr as *const T, std::mem::size_of::<T>())
    };
    if done < 0 { Err(Errno::last()) } else { Ok(done as libc::c_int) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::Access;

    #[test]
    fn a_rule_is_a_block_that_jumps_to_the_next_when_a_test_fails() {
        let rule = Rule { kind: Kind::Char, major: Some(1), minor: Some(3), access: Access::RWM };
        let code = program(&[rule]);
        assert_eq!(code.len(), 6 + 8 + 2);
        // The first test of the block: not a char device? skip the other 7.
        assert_eq!(code[6], insn(JMP_JNE_K, 2, 0, 7, 2));
        // The access test skips the remaining 4 (major, minor, r0 = 1, exit).
        assert_eq!(code[9], insn(JMP_JNE_K, 1, 0, 4, 0));
        assert_eq!(code[11], insn(JMP_JNE_K, 5, 0, 2, 3));
        assert_eq!(code[14..], [insn(ALU64_MOV_K, 0, 0, 0, 0), insn(JMP_EXIT, 0, 0, 0, 0)]);
    }

    #[test]
    fn wildcards_test_nothing() {
        let rule = Rule { kind: Kind::Block, major: None, minor: None, access: Access::MKNOD };
        let code = program(&[rule]);
        assert_eq!(code.len(), 6 + 6 + 2);
        assert_eq!(code[8], insn(ALU32_AND_K, 1, 0, 0, !1));
    }

    /// The kernel's verifier accepts the default program (needs root).
    #[test]
    fn the_verifier_accepts_the_default_program() {
        if !nix::unistd::geteuid().is_root() {
            // The convention of tests/it/support/skip.rs: under CI, fail.
            assert!(std::env::var("CI").as_deref() != Ok("true"), "needs root, and CI=true");
            eprintln!("SKIPPED the_verifier_accepts_the_default_program: needs root");
            return;
        }
        let loaded = load(&program(&crate::devices::DEFAULT_RULES));
        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }
}
