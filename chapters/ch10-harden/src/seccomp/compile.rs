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
/// Measured with Docker's profile: without the tree the kernel takes ~0.5 ms
/// instead of ~0.2 ms to install it, and a call whose arguments it checks
/// costs ~280 ns more instead of ~100 ns.
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
        Program::from_bytes(&export(&ctx)?, self.flag_bits())
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
    // argument become two rules — either may match — as runc does.
    let shared_argument = rule
        .args
        .iter()
        .enumerate()
        .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
    let groups: Vec<&[ScmpArgCompare]> =
        if shared_argument { comparators.chunks(1).collect() } else { vec![&comparators] };
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
        // The kernel returns at most MAX_ERRNO (4095); a tracer's message is 16 bits.
        Action::Errno => ScmpAction::Errno(ret.min(4095) as i32),
        Action::Trace => ScmpAction::Trace(ret.min(0xffff) as u16),
        Action::Allow => ScmpAction::Allow,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

/// The program libseccomp generated: `struct sock_filter`s, 8 bytes each.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    // libseccomp 2.5 writes it to a descriptor (2.6 adds a memory buffer):
    // a memory file, so no size limit of a pipe can block it.
    let memfd =
        nix::sys::memfd::memfd_create(c"tincan-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| SeccompError::Export(e.into()))?;
    let mut file = File::from(memfd);
    ctx.export_bpf(&file).map_err(libseccomp("export the program"))?;
    let mut bytes = Vec::new();
    file.rewind().and_then(|()| file.read_to_end(&mut bytes)).map_err(SeccompError::Export)?;
    Ok(bytes)
}

fn libseccomp(what: &str) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError + '_ {
    move |source| SeccompError::Libseccomp { what: what.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use caps::CapsHashSet;

    use super::*;
    use crate::seccomp::testing::{default_profile, in_filtered_child, no_new_privs, profile};
    use crate::seccomp::{Cache, Host, Profile};

    fn compiled(json: &str) -> Result<Program, SeccompError> {
        profile(json).filter(&CapsHashSet::new(), &Host::this().unwrap()).compile()
    }

    #[test]
    fn the_default_profile_compiles_for_any_capabilities_within_the_kernels_limit() {
        let Some(profile) = default_profile() else { return };
        let gated = profile.clone().with_docker_gates();
        for caps in [CapsHashSet::new(), caps::all()] {
            for profile in [&profile, &gated] {
                let program = profile.compile(&caps).unwrap();
                // Three architectures of ~400 calls: hundreds of instructions, but
                // a binary tree, and under BPF_MAXINSNS.
                assert!((200..4096).contains(&program.instructions()), "{program:?}");
            }
        }
    }

    #[test]
    fn an_agent_is_refused_with_what_to_remove() {
        let notify = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#;
        let e = compiled(notify).unwrap_err().to_string();
        assert!(
            e.starts_with("SCMP_ACT_NOTIFY is not supported by tincan") && e.contains("remove it"),
            "{e}"
        );
        let flag = r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#;
        let e = compiled(flag).unwrap_err().to_string();
        assert!(e.starts_with("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported"), "{e}");
    }

    #[test]
    fn a_rule_that_says_what_the_default_says_is_left_out() {
        let same = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
        let nothing = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1}"#;
        assert_eq!(
            compiled(same).unwrap().instructions(),
            compiled(nothing).unwrap().instructions()
        );
        // With another errno it is a rule of its own: more instructions.
        let other = same.replace(r#""errnoRet": 1}"#, r#""errnoRet": 13}"#);
        assert!(
            compiled(&other).unwrap().instructions() > compiled(nothing).unwrap().instructions()
        );
    }

    #[test]
    fn every_action_compiles() {
        for action in
            ["KILL", "KILL_THREAD", "KILL_PROCESS", "TRAP", "ERRNO", "TRACE", "LOG", "ALLOW"]
        {
            let json = format!(
                r#"{{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{{"names": ["mkdir"], "action": "SCMP_ACT_{action}"}}]}}"#
            );
            let program = compiled(&json).unwrap_or_else(|e| panic!("{action}: {e}"));
            assert!(program.instructions() > 0);
        }
    }

    /// `cargo test --release -p ch10-harden -- --ignored --nocapture measure`:
    /// what the default profile adds to a start, and to each system call.
    #[test]
    #[ignore = "a measurement: run it in release and read what it prints"]
    fn measure_parse_and_compile() {
        let Some(_) = default_profile() else { return };
        let text = std::fs::read_to_string(crate::seccomp::DEFAULT_PROFILE).unwrap();
        let (host, caps) = (Host::this().unwrap(), CapsHashSet::new());
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        // Each step on its own, a hundred times (twenty for libseccomp's).
        let time = |runs: usize, mut step: Box<dyn FnMut() + '_>| {
            let mut times: Vec<Duration> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    step();
                    start.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        };
        let profile = Profile::from_json(&text).unwrap();
        let filter = profile.filter(&caps, &host);
        let program = filter.compile().unwrap();
        let parse = time(100, Box::new(|| drop(Profile::from_json(&text).unwrap())));
        let select = time(100, Box::new(|| drop(profile.filter(&caps, &host))));
        let compile = time(20, Box::new(|| drop(filter.compile().unwrap())));
        let cached = time(100, Box::new(|| drop(profile.compile_cached(&caps, &cache).unwrap())));
        assert_eq!(profile.compile_cached(&caps, &cache).unwrap().to_bytes(), program.to_bytes());
        println!("default profile, medians: parse {parse:?}, select {select:?}");
        println!("  libseccomp compile + export {compile:?}");
        println!("  select + cached program (hash, read) {cached:?}");
        println!("  program: {} instructions", program.instructions());
        // In a child: the install, and what the filter adds to a system call.
        // Since Linux 5.11 the kernel answers calls the filter always allows
        // (getppid) from a bitmap; calls with argument rules (personality)
        // run the program. The child always has a filter: allow-all, then
        // maybe the profile's.
        let calls = 200_000;
        let per_call = |with: Option<&Program>| {
            let seen = in_filtered_child(&allow_all(), no_new_privs, || {
                let start = Instant::now();
                if let Some(program) = with {
                    program.install().unwrap();
                }
                let installed = start.elapsed().as_nanos() as i32;
                let each = |number: libc::c_long, arg: libc::c_long| {
                    let start = Instant::now();
                    for _ in 0..calls {
                        // SAFETY: getppid, and personality(0xffffffff), which only reads.
                        unsafe { libc::syscall(number, arg) };
                    }
                    (start.elapsed().as_nanos() / calls) as i32
                };
                vec![
                    installed,
                    each(libc::SYS_getppid, 0),
                    each(libc::SYS_personality, 0xffff_ffff),
                ]
            });
            seen.unwrap()
        };
        // The native architecture alone: what x86 and x32 (archMap) cost.
        let native = Filter { architectures: Vec::new(), ..filter.clone() }.compile().unwrap();
        let (without, with): (Vec<_>, Vec<_>) =
            (0..11).map(|_| (per_call(None), per_call(Some(&program)))).unzip();
        let alone: Vec<_> = (0..11).map(|_| per_call(Some(&native))).collect();
        let middle = |runs: &[Vec<i32>], i: usize| {
            let mut seen: Vec<i32> = runs.iter().map(|r| r[i]).collect();
            seen.sort();
            seen[seen.len() / 2]
        };
        println!("  install {} µs (medians of 11 children)", middle(&with, 0) / 1000);
        println!(
            "  the native architecture alone: {} instructions, install {} µs",
            native.instructions(),
            middle(&alone, 0) / 1000
        );
        println!("  getppid {} ns, with the profile {} ns", middle(&without, 1), middle(&with, 1));
        println!(
            "  personality {} ns, with the profile {} ns",
            middle(&without, 2),
            middle(&with, 2)
        );
    }

    fn allow_all() -> Program {
        profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
            .filter(&CapsHashSet::new(), &Host::this().unwrap())
            .compile()
            .unwrap()
    }
}
