//! From a [`Filter`] to the BPF program the kernel runs, with libseccomp.
//!
//! libseccomp does what is hard to do by hand: it numbers each system call for
//! each architecture (`_llseek` is 140 on x86 and does not exist on x86_64), it
//! checks the architecture first (a 32-bit call on a 64-bit kernel has other
//! numbers: without the check, `int 0x80` would walk around the filter), and it
//! lays the rules out as a binary tree, so a call costs a few dozen
//! instructions, not one per rule.
//!
//! We compile in the runtime, not in the child: libseccomp allocates, and a
//! child forked from a multi-threaded runtime should not. libseccomp's
//! `seccomp_load` would also install the filter for us, but only in the process
//! that compiled it — so we *export* the program (`seccomp_export_bpf`) into a
//! memory file and read it back as instructions for `install.rs`.

use std::fs::File;
use std::io::{Read, Seek};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use super::SeccompError;
use super::filter::{Action, Arg, Filter, Flag, Op, Rule};
use super::install::Program;

/// libseccomp's binary tree pays off above this many rules (runc's choice; and
/// libseccomp 2.5.4 and older build a wrong tree for a filter with none).
const TREE_ABOVE: usize = 32;

impl Filter {
    /// The BPF program for this filter, for [`Program::install`] in the child.
    pub fn compile(&self) -> Result<Program, SeccompError> {
        self.refuse_agents()?;
        let default = scmp_action(self.default_action, self.default_errno_ret);
        let mut ctx = ScmpFilterContext::new(default).map_err(libseccomp("start a filter"))?;
        for &arch in &self.architectures {
            // The native architecture is in from the start.
            if !ctx.is_arch_present(arch).map_err(libseccomp("list architectures"))? {
                ctx.add_arch(arch)
                    .map_err(libseccomp(&format!("add the architecture {arch:?}")))?;
            }
        }
        if self.rules.iter().map(|r| r.names.len()).sum::<usize>() > TREE_ABOVE {
            ctx.set_ctl_optimize(2).map_err(libseccomp("choose the binary tree layout"))?;
        }
        for rule in &self.rules {
            add_rule(&mut ctx, rule, default)?;
        }
        let flags = self.flags.iter().fold(0, |all, flag| all | flag.bit());
        Program::new(export(&ctx)?, flags)
    }

    /// A seccomp agent (`SCMP_ACT_NOTIFY`) would need the child to pass a
    /// listener descriptor to it over a socket: tincan does not do that yet.
    fn refuse_agents(&self) -> Result<(), SeccompError> {
        let unsupported = |what: &str| Err(SeccompError::Unsupported { what: what.into() });
        if self.default_action == Action::Notify
            || self.rules.iter().any(|r| r.action == Action::Notify)
        {
            return unsupported("SCMP_ACT_NOTIFY");
        }
        if self.flags.contains(&Flag::WaitKillableRecv) {
            return unsupported("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
        }
        Ok(())
    }
}

// ANCHOR: add_rule
/// Add one rule for each of its system calls.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &Rule,
    default: ScmpAction,
) -> Result<(), SeccompError> {
    let action = scmp_action(rule.action, rule.errno_ret);
    if action == default {
        // Says what no rule would say; libseccomp refuses it (runc skips it too).
        return Ok(());
    }
    let comparators: Vec<ScmpArgCompare> = rule.args.iter().map(comparator).collect();
    // libseccomp compares each argument once per rule. Two conditions on one
    // argument become two rules — either may match — as runc and crun do.
    let shared_argument = rule
        .args
        .iter()
        .enumerate()
        .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
    let groups: Vec<&[ScmpArgCompare]> = match shared_argument {
        true => comparators.chunks(1).collect(),
        false => vec![&comparators],
    };
    for name in &rule.names {
        // A name this libseccomp does not know is newer than it: skip it, as
        // Docker and Podman do; the default action answers that call.
        let Ok(syscall) = ScmpSyscall::from_name(name) else { continue };
        for group in &groups {
            ctx.add_rule_conditional(action, syscall, group)
                .map_err(libseccomp(&format!("add the rule for the system call `{name}`")))?;
        }
    }
    Ok(())
}
// ANCHOR_END: add_rule

// ANCHOR: comparator
/// One argument condition as libseccomp's comparator.
fn comparator(arg: &Arg) -> ScmpArgCompare {
    // EXERCISE(ch10-seccomp): turn the profile's condition on argument `arg.index` into a comparator.
    // hint: ScmpArgCompare::new(index, op, datum) with an ScmpCompareOp per Op
    // (Eq → Equal, Ne → NotEqual, Lt → Less, Le → LessOrEqual, Gt → Greater,
    // Ge → GreaterEqual). SCMP_CMP_MASKED_EQ means `argument & value ==
    // valueTwo`: in libseccomp's terms the mask is `value` and the datum
    // `valueTwo` (ScmpCompareOp::MaskedEqual(mask)).
    let (op, datum) = match arg.op {
        Op::Eq => (ScmpCompareOp::Equal, arg.value),
        Op::Ne => (ScmpCompareOp::NotEqual, arg.value),
        Op::Lt => (ScmpCompareOp::Less, arg.value),
        Op::Le => (ScmpCompareOp::LessOrEqual, arg.value),
        Op::Gt => (ScmpCompareOp::Greater, arg.value),
        Op::Ge => (ScmpCompareOp::GreaterEqual, arg.value),
        Op::MaskedEq => (ScmpCompareOp::MaskedEqual(arg.value), arg.value_two),
    };
    ScmpArgCompare::new(arg.index, op, datum)
    // END EXERCISE
}
// ANCHOR_END: comparator

/// The kernel's answer for an action; `errno_ret` is the errno (or the tracer's
/// message), EPERM where the profile gives none (as runc does).
fn scmp_action(action: Action, errno_ret: Option<u32>) -> ScmpAction {
    let ret = errno_ret.unwrap_or(libc::EPERM as u32);
    match action {
        Action::Kill | Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        // The profile's checks keep these in range (4095, 65535).
        Action::Errno => ScmpAction::Errno(ret as i32),
        Action::Trace => ScmpAction::Trace(ret as u16),
        Action::Allow => ScmpAction::Allow,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

/// The program libseccomp generated, as the kernel's `struct sock_filter`s.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    // libseccomp 2.5 writes it to a descriptor (2.6 adds a memory buffer):
    // a memory file, so no size limit of a pipe can block it.
    let memfd =
        nix::sys::memfd::memfd_create(c"tincan-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| SeccompError::Export(e.into()))?;
    let mut file = File::from(memfd);
    ctx.export_bpf(&file).map_err(libseccomp("export the program"))?;
    let mut bytes = Vec::new();
    file.rewind().and_then(|()| file.read_to_end(&mut bytes)).map_err(SeccompError::Export)?;
    // Each instruction: u16 code, u8 jt, u8 jf, u32 k, in the machine's byte order.
    Ok(bytes
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

fn libseccomp(what: &str) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError + '_ {
    move |source| SeccompError::Libseccomp { what: what.to_owned(), source }
}
