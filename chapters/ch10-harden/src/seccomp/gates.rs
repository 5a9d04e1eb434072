//! Docker's gates, put back on top of the profile read from disk.
//!
//! `/usr/share/containers/seccomp.json` is Podman's profile: it allows
//! `unshare`, `clone`, `mount`, the new mount API (`fsopen`, `fsconfig`, …),
//! `keyctl`, `ptrace`, `reboot`, `syslog` to every container and leaves them to
//! the kernel's own capability checks. Podman can: its containers usually run
//! in a user namespace, where "root" is nobody on the host. Ours run as root in
//! the host's user namespace, and there the kernel's checks are not enough: a
//! container that may call `unshare(CLONE_NEWUSER)` becomes "root" of a user
//! namespace of its own, with every capability *there* — enough to reach
//! `fsconfig`, nf_tables or overlayfs code the kernel only lets a namespace's
//! root reach (CVE-2022-0185, CVE-2023-32233 began that way).
//!
//! Docker's default profile (moby's `profiles/seccomp/default.json`) closes
//! those doors unless the container holds the capability that the call is
//! about. The table below says which, call by call;
//! [`Profile::with_docker_gates`] applies it to a profile:
//!
//! - the gated call is taken out of every rule that does not already require
//!   one of its capabilities (`includes.caps`);
//! - it is added back as allowed for a container holding one of them, and as
//!   EPERM — Docker's answer — for the others.
//!
//! Two calls need more than a capability. `clone` makes threads and processes
//! (every `fork`) as well as namespaces, so without `CAP_SYS_ADMIN` it is
//! allowed only when its flags ask for no new namespace. `clone3` takes its
//! flags in a structure in memory, which a seccomp filter cannot read, so
//! without `CAP_SYS_ADMIN` it fails with ENOSYS: "no such call", and glibc
//! falls back to `clone`, whose flags the filter can check.

use caps::Capability::{
    self, CAP_BPF, CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_CHROOT,
    CAP_SYS_MODULE, CAP_SYS_NICE, CAP_SYS_PACCT, CAP_SYS_PTRACE, CAP_SYS_RAWIO, CAP_SYS_TIME,
    CAP_SYS_TTY_CONFIG, CAP_SYSLOG,
};

use super::filter::{Action, Arg, Op};
use super::profile::{Profile, SyscallRule, When};
use super::select::KernelVersion;

/// What Docker's default profile asks of a container before it allows a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Allowed to a container holding any one of these capabilities.
    Caps(&'static [Capability]),
    /// As `Caps`, or to every container from this kernel version on (moby
    /// allows `ptrace` from 4.8, where a tracer stopped being a way around
    /// seccomp).
    CapsOrKernel(&'static [Capability], KernelVersion),
    /// Allowed to no container: the kernel's key rings are not namespaced,
    /// and `pivot_root` is the runtime's business, done before the filter.
    Never,
    /// `clone`: with `CAP_SYS_ADMIN` always, without it only with no
    /// `CLONE_NEW*` flag.
    CloneFlags,
    /// `clone3`: with `CAP_SYS_ADMIN`; without it ENOSYS, so libc uses `clone`.
    Clone3,
}

const ADMIN: Gate = Gate::Caps(&[CAP_SYS_ADMIN]);
const MODULE: Gate = Gate::Caps(&[CAP_SYS_MODULE]);
const PTRACE: Gate = Gate::Caps(&[CAP_SYS_PTRACE]);
const PTRACE_OR_4_8: Gate =
    Gate::CapsOrKernel(&[CAP_SYS_PTRACE], KernelVersion { major: 4, minor: 8 });
const RAWIO: Gate = Gate::Caps(&[CAP_SYS_RAWIO]);
const TIME: Gate = Gate::Caps(&[CAP_SYS_TIME]);
const NICE: Gate = Gate::Caps(&[CAP_SYS_NICE]);

// ANCHOR: gates
/// Docker's gates, from moby's `profiles/seccomp/default.json`.
const DOCKER_GATES: &[(&str, Gate)] = &[
    // Mounts and the new mount API.
    ("mount", ADMIN),
    ("umount", ADMIN),
    ("umount2", ADMIN),
    ("fsopen", ADMIN),
    ("fsconfig", ADMIN),
    ("fsmount", ADMIN),
    ("fspick", ADMIN),
    ("move_mount", ADMIN),
    ("open_tree", ADMIN),
    ("mount_setattr", ADMIN),
    ("pivot_root", Gate::Never),
    // Namespaces: new ones, and joining others.
    ("unshare", ADMIN),
    ("setns", ADMIN),
    ("clone", Gate::CloneFlags),
    ("clone3", Gate::Clone3),
    // What else the kernel guards with CAP_SYS_ADMIN (or a newer, narrower capability).
    ("sethostname", ADMIN),
    ("setdomainname", ADMIN),
    ("quotactl", ADMIN),
    ("quotactl_fd", ADMIN),
    ("fanotify_init", ADMIN),
    ("lookup_dcookie", ADMIN),
    ("lsm_get_self_attr", ADMIN),
    ("lsm_set_self_attr", ADMIN),
    ("lsm_list_modules", ADMIN),
    ("bpf", Gate::Caps(&[CAP_SYS_ADMIN, CAP_BPF])),
    ("perf_event_open", Gate::Caps(&[CAP_SYS_ADMIN, CAP_PERFMON])),
    ("syslog", Gate::Caps(&[CAP_SYS_ADMIN, CAP_SYSLOG])),
    // The kernel's key rings: not namespaced, never.
    ("keyctl", Gate::Never),
    ("add_key", Gate::Never),
    ("request_key", Gate::Never),
    // Other processes' memory.
    ("ptrace", PTRACE_OR_4_8),
    ("process_vm_readv", PTRACE_OR_4_8),
    ("process_vm_writev", PTRACE_OR_4_8),
    ("kcmp", PTRACE),
    ("pidfd_getfd", PTRACE),
    ("process_madvise", PTRACE),
    // The machine: reboot, modules, clocks, I/O ports, NUMA memory placement.
    ("reboot", Gate::Caps(&[CAP_SYS_BOOT])),
    ("init_module", MODULE),
    ("finit_module", MODULE),
    ("delete_module", MODULE),
    ("settimeofday", TIME),
    ("stime", TIME),
    ("clock_settime", TIME),
    ("clock_settime64", TIME),
    ("iopl", RAWIO),
    ("ioperm", RAWIO),
    ("get_mempolicy", NICE),
    ("set_mempolicy", NICE),
    ("set_mempolicy_home_node", NICE),
    ("mbind", NICE),
    // The rest of Docker's capability rules, which Podman's profile has too.
    ("chroot", Gate::Caps(&[CAP_SYS_CHROOT])),
    ("acct", Gate::Caps(&[CAP_SYS_PACCT])),
    ("vhangup", Gate::Caps(&[CAP_SYS_TTY_CONFIG])),
    ("open_by_handle_at", Gate::Caps(&[CAP_DAC_READ_SEARCH])),
];
// ANCHOR_END: gates

/// `clone`'s flags that make a namespace. Not CLONE_NEWTIME: clone's low byte
/// is the exit signal, so only `unshare` and `clone3` take that one.
const CLONE_NEW: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// s390 passes `clone`'s flags second (its stack pointer comes first).
const S390: [&str; 2] = ["s390", "s390x"];

impl Profile {
    /// This profile with Docker's gates on top (see this module's doc): what
    /// tincan uses for its default profile, Podman's, so that a container
    /// without `CAP_SYS_ADMIN` cannot make namespaces or mounts. A profile a
    /// user names is taken as it is, as Docker does.
    pub fn with_docker_gates(mut self) -> Profile {
        for &(name, gate) in DOCKER_GATES {
            let opens = gate.caps();
            for rule in &mut self.syscalls {
                // A rule for holders of one of the capabilities stays.
                if !rule.includes.caps.iter().any(|cap| opens.contains(cap)) {
                    rule.names.retain(|n| n != name);
                }
            }
            let mut rules = gate.rules(name);
            // Add no second copy of a rule the profile has kept.
            rules.retain(|new| !self.syscalls.iter().any(|kept| kept.says_as(new, name)));
            self.syscalls.extend(rules);
        }
        self.syscalls.retain(|rule| !rule.names.is_empty());
        self
    }
}

impl SyscallRule {
    /// Does this rule say for `name` what `other` (a rule of the table, for
    /// `name` alone) says, when `other` says it?
    fn says_as(&self, other: &SyscallRule, name: &str) -> bool {
        let same_when = |a: &When, b: &When| {
            (&a.caps, &a.arches, a.min_kernel) == (&b.caps, &b.arches, b.min_kernel)
        };
        self.names.iter().any(|n| n == name)
            && (self.action, self.errno_ret, &self.args)
                == (other.action, other.errno_ret, &other.args)
            && same_when(&self.includes, &other.includes)
            && same_when(&self.excludes, &other.excludes)
    }
}

impl Gate {
    /// The capabilities any one of which opens the gate.
    fn caps(self) -> &'static [Capability] {
        match self {
            Gate::Caps(caps) | Gate::CapsOrKernel(caps, _) => caps,
            Gate::CloneFlags | Gate::Clone3 => &[CAP_SYS_ADMIN],
            Gate::Never => &[],
        }
    }

    /// The rules for `name` that stand for this gate.
    fn rules(self, name: &str) -> Vec<SyscallRule> {
        let caps = self.caps();
        let allow = |args, includes, excludes| {
            SyscallRule::new(name, Action::Allow, None, args, includes, excludes)
        };
        // Refused with a rule, not left to the default action: Podman's is
        // ENOSYS, which would tell a program the call does not exist.
        let eperm = |args, includes, excludes| {
            let eperm = Some(libc::EPERM as u32);
            SyscallRule::new(name, Action::Errno, eperm, args, includes, excludes)
        };
        let none = When::default;
        let unless_caps = When { caps: caps.to_vec(), ..none() };
        // Allowed for a holder of each capability: `includes` needs them all,
        // so one rule per capability.
        let mut rules: Vec<SyscallRule> = caps
            .iter()
            .map(|&cap| allow(vec![], When { caps: vec![cap], ..none() }, none()))
            .collect();
        match self {
            Gate::Caps(_) => rules.push(eperm(vec![], none(), unless_caps)),
            Gate::CapsOrKernel(_, kernel) => {
                rules.push(allow(vec![], When { min_kernel: Some(kernel), ..none() }, none()));
                let excludes = When { min_kernel: Some(kernel), ..unless_caps };
                rules.push(eperm(vec![], none(), excludes));
            }
            Gate::Never => rules.push(eperm(vec![], none(), none())),
            Gate::CloneFlags => {
                // Flags in argument 0, or 1 on s390: allowed if no CLONE_NEW*
                // flag is set, EPERM if any one is. One EPERM rule per flag,
                // since an unconditional rule for a call would take the place
                // of libseccomp's conditional ones (measured).
                let s390 = || S390.map(String::from).to_vec();
                let elsewhere = When { arches: s390(), ..unless_caps.clone() };
                let on_s390 = When { arches: s390(), ..none() };
                for (index, includes, excludes) in
                    [(0, none(), elsewhere), (1, on_s390, unless_caps)]
                {
                    let masked =
                        |value, value_two| Arg { index, value, value_two, op: Op::MaskedEq };
                    let args = vec![masked(clone_new_mask(), 0)];
                    rules.push(allow(args, includes.clone(), excludes.clone()));
                    for flag in CLONE_NEW.map(|f| f as u64) {
                        let args = vec![masked(flag, flag)];
                        rules.push(eperm(args, includes.clone(), excludes.clone()));
                    }
                }
            }
            Gate::Clone3 => {
                let enosys = Some(libc::ENOSYS as u32);
                rules.push(SyscallRule::new(
                    name,
                    Action::Errno,
                    enosys,
                    vec![],
                    none(),
                    unless_caps,
                ));
            }
        }
        rules
    }
}

/// All of [`CLONE_NEW`] in one mask.
fn clone_new_mask() -> u64 {
    CLONE_NEW.iter().fold(0, |mask, &flag| mask | flag as u64)
}

#[cfg(test)]
mod tests {
    use caps::Capability::*;
    use libseccomp::ScmpArch;

    use super::*;
    use crate::seccomp::testing::{default_profile, docker_caps_and, profile};
    use crate::seccomp::{Filter, Host};

    const AMD64_6_1: Host =
        Host { arch: ScmpArch::X8664, kernel: KernelVersion { major: 6, minor: 1 } };

    /// (action, errno) of each rule of `filter` for `name`, with its arguments.
    fn actions(filter: &Filter, name: &str) -> Vec<(Action, Option<u32>, Vec<Arg>)> {
        let rules = filter.rules.iter().filter(|r| r.names.iter().any(|n| n == name));
        rules.map(|r| (r.action, r.errno_ret, r.args.clone())).collect()
    }

    const ALLOW: (Action, Option<u32>, Vec<Arg>) = (Action::Allow, None, vec![]);
    const EPERM: (Action, Option<u32>, Vec<Arg>) = (Action::Errno, Some(1), vec![]);

    #[test]
    fn the_clone_mask_is_dockers() {
        // moby's default.json: clone allowed with `"value": 2114060288,
        // "op": "SCMP_CMP_MASKED_EQ"` (valueTwo 0) without CAP_SYS_ADMIN.
        assert_eq!(clone_new_mask(), 2114060288);
    }

    #[test]
    fn without_cap_sys_admin_the_default_profile_allows_no_namespace_or_mount() {
        let Some(profile) = default_profile() else { return };
        let gated = profile.with_docker_gates();
        let filter = gated.filter(&docker_caps_and(&[]), &AMD64_6_1);
        // Podman's file allows all of these to every container; moby's only
        // with the capability named beside them.
        for (name, cap) in [
            ("mount", "CAP_SYS_ADMIN"),
            ("umount2", "CAP_SYS_ADMIN"),
            ("unshare", "CAP_SYS_ADMIN"),
            ("setns", "CAP_SYS_ADMIN"),
            ("fsopen", "CAP_SYS_ADMIN"),
            ("fsconfig", "CAP_SYS_ADMIN"),
            ("fsmount", "CAP_SYS_ADMIN"),
            ("fspick", "CAP_SYS_ADMIN"),
            ("move_mount", "CAP_SYS_ADMIN"),
            ("open_tree", "CAP_SYS_ADMIN"),
            ("mount_setattr", "CAP_SYS_ADMIN"),
            ("bpf", "CAP_SYS_ADMIN or CAP_BPF"),
            ("syslog", "CAP_SYS_ADMIN or CAP_SYSLOG"),
            ("reboot", "CAP_SYS_BOOT"),
            ("pidfd_getfd", "CAP_SYS_PTRACE"),
            ("get_mempolicy", "CAP_SYS_NICE"),
            ("settimeofday", "CAP_SYS_TIME"),
            ("init_module", "CAP_SYS_MODULE"),
            // moby never names these: its default, EPERM.
            ("keyctl", "never"),
            ("add_key", "never"),
            ("request_key", "never"),
            ("pivot_root", "never"),
        ] {
            assert_eq!(actions(&filter, name), [EPERM], "{name} needs {cap}");
        }
        // clone: only with none of the CLONE_NEW* flags, EPERM with any one.
        let clone = actions(&filter, "clone");
        let masked = |value, value_two| Arg { index: 0, value, value_two, op: Op::MaskedEq };
        assert_eq!(clone[0], (Action::Allow, None, vec![masked(2114060288, 0)]));
        let user = masked(0x10000000, 0x10000000);
        assert!(clone.contains(&(Action::Errno, Some(1), vec![user])), "{clone:?}");
        assert!(clone.iter().all(|(_, _, args)| args.len() == 1), "no unconditional rule");
        assert_eq!(actions(&filter, "clone3"), [(Action::Errno, Some(38), vec![])]);
        // What Docker's default set holds stays allowed, and so does ptrace
        // from Linux 4.8 (moby's `minKernel`), and everything ordinary.
        for name in ["chroot", "ptrace", "process_vm_readv", "read", "execve", "wait4"] {
            assert_eq!(actions(&filter, name), [ALLOW], "{name}");
        }
        let old = Host { kernel: KernelVersion { major: 4, minor: 7 }, ..AMD64_6_1 };
        let on_4_7 = gated.filter(&docker_caps_and(&[]), &old);
        assert_eq!(actions(&on_4_7, "ptrace"), [EPERM]);
    }

    #[test]
    fn a_capability_opens_its_gate_and_no_other() {
        let Some(profile) = default_profile() else { return };
        let profile = profile.with_docker_gates();
        let filter = |more: &[Capability]| profile.filter(&docker_caps_and(more), &AMD64_6_1);
        let admin = filter(&[CAP_SYS_ADMIN]);
        for name in ["mount", "unshare", "setns", "fsconfig", "clone", "clone3", "syslog", "bpf"] {
            let all_allow = actions(&admin, name).iter().all(|a| *a == ALLOW);
            assert!(all_allow && !actions(&admin, name).is_empty(), "{name}");
        }
        assert_eq!(actions(&admin, "keyctl"), [EPERM], "never, even with CAP_SYS_ADMIN");
        assert_eq!(actions(&admin, "reboot"), [EPERM], "CAP_SYS_ADMIN is not CAP_SYS_BOOT");
        assert_eq!(actions(&filter(&[CAP_BPF]), "bpf"), [ALLOW]);
        assert_eq!(actions(&filter(&[CAP_SYSLOG]), "syslog"), [ALLOW]);
        assert_eq!(actions(&filter(&[CAP_SYSLOG]), "mount"), [EPERM]);
        assert_eq!(actions(&filter(&[CAP_SYS_BOOT]), "reboot"), [ALLOW]);
        assert_eq!(actions(&filter(&[CAP_SYS_PTRACE]), "pidfd_getfd"), [ALLOW]);
        assert_eq!(actions(&filter(&[CAP_SYS_NICE]), "mbind"), [ALLOW]);
    }

    #[test]
    fn a_rule_that_already_requires_the_capability_stays_and_others_lose_the_name() {
        let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "mount", "keyctl"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["unshare"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 3, "value": 1, "op": "SCMP_CMP_EQ"}],
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["keyctl"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#;
        let gated = profile(json).with_docker_gates();
        let names = |r: &SyscallRule| r.names.join(",");
        // The file's rules first, without the gated names where they did not
        // require CAP_SYS_ADMIN; `unshare`'s own rule is gone, and so is
        // keyctl's for CAP_SYS_ADMIN (never); then the table's, mount's first.
        let names: Vec<_> = gated.syscalls[..3].iter().map(names).collect();
        assert_eq!(names, ["read", "mount", "mount"]);
        assert_eq!(gated.syscalls[1].args.len(), 1, "the rule for CAP_SYS_ADMIN holders stays");
        // Then the table's: mount allowed (unconditionally) to holders of CAP_SYS_ADMIN.
        let none = caps::CapsHashSet::new();
        assert_eq!(actions(&gated.filter(&none, &AMD64_6_1), "mount"), [EPERM]);
        let admin = gated.filter(&[CAP_SYS_ADMIN].into(), &AMD64_6_1);
        assert_eq!(actions(&admin, "mount")[1..], [ALLOW]);
        assert_eq!(actions(&admin, "unshare"), [ALLOW]);
        assert_eq!(actions(&admin, "read"), [ALLOW]);
        assert_eq!(actions(&admin, "keyctl"), [EPERM], "never, whatever the file says");
    }
}
