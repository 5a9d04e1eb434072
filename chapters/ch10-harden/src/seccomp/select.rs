//! From a profile to the filter for one container on this machine.
//!
//! A profile is written for every machine and every container; a filter is for
//! one. Three things choose its rules, as moby's and containers-common's
//! `setupSeccomp` do:
//!
//! - the **capabilities** the container keeps: a container with
//!   `CAP_SYS_ADMIN` may call `bpf` and `setns`, one without gets EPERM — a
//!   capability the kernel would check anyway, but behind a call whose code is
//!   best not reached at all;
//! - the **architecture**: `arch_prctl` exists on x86 only, `s390_pci_mmio_read`
//!   on s390x only; `archMap` adds the 32-bit ABIs the native one also runs;
//! - the **kernel**: a rule with `minKernel: "4.8"` (moby allows `ptrace` from
//!   4.8, where it stopped being a way around seccomp) is left out on older ones.

use std::str::FromStr;

use caps::CapsHashSet;
use libseccomp::ScmpArch;

use super::SeccompError;
use super::filter::{Filter, Rule};
use super::profile::{Profile, SyscallRule, When};

/// What the profile's choices depend on, besides capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// The native architecture: libseccomp's, so the kernel's ABI we run on.
    pub arch: ScmpArch,
    pub kernel: KernelVersion,
}

/// A kernel's version as profiles compare them: `6.18` of `6.18.44-generic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl Host {
    /// This machine: libseccomp's native architecture and `uname -r`.
    pub fn this() -> Result<Host, SeccompError> {
        let release = nix::sys::utsname::uname()
            .map_err(|e| SeccompError::KernelVersion {
                release: String::new(),
                reason: e.to_string(),
            })?
            .release()
            .to_string_lossy()
            .into_owned();
        // `6.18.44-fc-v857`: the numbers before the first non-digit of each part.
        let number = |part: Option<&str>| {
            let digits: String = part?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let mut parts = release.split('.');
        match (number(parts.next()), number(parts.next())) {
            (Some(major), Some(minor)) => {
                Ok(Host { arch: ScmpArch::native(), kernel: KernelVersion { major, minor } })
            }
            _ => Err(SeccompError::KernelVersion {
                release,
                reason: "expected MAJOR.MINOR…".into(),
            }),
        }
    }

    /// Go's name for the native architecture, which `includes.arches` use.
    fn arch_name(&self) -> Option<&'static str> {
        ARCH_NAMES.iter().find(|(_, arch)| *arch == self.arch).map(|(name, _)| *name)
    }
}

impl FromStr for KernelVersion {
    type Err = String;

    /// A profile's `minKernel`: exactly `MAJOR.MINOR`, as moby reads it.
    fn from_str(text: &str) -> Result<KernelVersion, String> {
        let bad = || format!("kernel version `{text}` is not MAJOR.MINOR, such as 4.8");
        let (major, minor) = text.split_once('.').ok_or_else(bad)?;
        let version = KernelVersion {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        };
        Ok(version)
    }
}

/// The architectures by the names profiles use (Go's, through libseccomp-golang).
pub(super) const ARCH_NAMES: &[(&str, ScmpArch)] = &[
    ("x86", ScmpArch::X86),
    ("amd64", ScmpArch::X8664),
    ("x32", ScmpArch::X32),
    ("arm", ScmpArch::Arm),
    ("arm64", ScmpArch::Aarch64),
    ("loong64", ScmpArch::Loongarch64),
    ("m68k", ScmpArch::M68k),
    ("mips", ScmpArch::Mips),
    ("mips64", ScmpArch::Mips64),
    ("mips64n32", ScmpArch::Mips64N32),
    ("mipsel", ScmpArch::Mipsel),
    ("mipsel64", ScmpArch::Mipsel64),
    ("mipsel64n32", ScmpArch::Mipsel64N32),
    ("ppc", ScmpArch::Ppc),
    ("ppc64", ScmpArch::Ppc64),
    ("ppc64le", ScmpArch::Ppc64Le),
    ("s390", ScmpArch::S390),
    ("s390x", ScmpArch::S390X),
    ("parisc", ScmpArch::Parisc),
    ("parisc64", ScmpArch::Parisc64),
    ("riscv64", ScmpArch::Riscv64),
    ("sh", ScmpArch::Sh),
    ("sheb", ScmpArch::Sheb),
];

impl Profile {
    /// The filter for a process holding `caps` (its bounding set) on `host`.
    pub fn filter(&self, caps: &CapsHashSet, host: &Host) -> Filter {
        // `architectures` lists them all; `archMap` the native one's family.
        let family = self.arch_map.iter().find(|m| m.architecture == host.arch);
        let architectures = match family {
            Some(m) if self.architectures.is_empty() => {
                std::iter::once(m.architecture).chain(m.sub_architectures.iter().copied()).collect()
            }
            _ => self.architectures.clone(),
        };
        let rules = self
            .syscalls
            .iter()
            .filter(|rule| rule.applies(caps, host))
            .map(SyscallRule::rule)
            .collect();
        Filter {
            default_action: self.default_action,
            default_errno_ret: self.default_errno_ret,
            architectures,
            flags: self.flags.clone(),
            rules,
        }
    }
}

impl SyscallRule {
    fn rule(&self) -> Rule {
        Rule {
            names: self.names.clone(),
            action: self.action,
            errno_ret: self.errno_ret,
            args: self.args.clone(),
        }
    }

    // ANCHOR: applies
    /// Is this rule in the filter for `caps` on `host`? Every condition of
    /// `includes` must hold, and none of `excludes`.
    fn applies(&self, caps: &CapsHashSet, host: &Host) -> bool {
        let When { caps: need, arches, min_kernel } = &self.includes;
        let included = need.iter().all(|cap| caps.contains(cap))
            && (arches.is_empty()
                || host.arch_name().is_some_and(|a| arches.iter().any(|n| n == a)))
            && min_kernel.is_none_or(|min| host.kernel >= min);
        let When { caps: unless, arches, min_kernel } = &self.excludes;
        let excluded = unless.iter().any(|cap| caps.contains(cap))
            || host.arch_name().is_some_and(|a| arches.iter().any(|n| n == a))
            || min_kernel.is_some_and(|min| host.kernel >= min);
        included && !excluded
    }
    // ANCHOR_END: applies
}

#[cfg(test)]
mod tests {
    use caps::Capability::{CAP_AUDIT_WRITE, CAP_SYS_ADMIN, CAP_SYS_CHROOT};

    use super::*;
    use crate::seccomp::filter::Action;
    use crate::seccomp::testing::{default_profile, profile};

    const AMD64_6_1: Host =
        Host { arch: ScmpArch::X8664, kernel: KernelVersion { major: 6, minor: 1 } };

    fn caps(caps: &[caps::Capability]) -> CapsHashSet {
        caps.iter().copied().collect()
    }

    /// The names of the rules in the filter for `caps` on `host`, in order.
    fn chosen(json_rules: &str, caps: &CapsHashSet, host: &Host) -> Vec<String> {
        let json = format!(r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{json_rules}]}}"#);
        profile(&json).filter(caps, host).rules.iter().map(|r| r.names.join(",")).collect()
    }

    fn rule(name: &str, condition: &str) -> String {
        format!(r#"{{"names": ["{name}"], "action": "SCMP_ACT_ALLOW", {condition}}}"#)
    }

    #[test]
    fn includes_need_every_capability_and_excludes_any_one() {
        let rules = [
            rule("both", r#""includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]}"#),
            rule("unless", r#""excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_AUDIT_WRITE"]}"#),
        ]
        .join(",");
        assert_eq!(chosen(&rules, &caps(&[]), &AMD64_6_1), ["unless"]);
        assert_eq!(chosen(&rules, &caps(&[CAP_SYS_ADMIN]), &AMD64_6_1), Vec::<String>::new());
        assert_eq!(chosen(&rules, &caps(&[CAP_SYS_ADMIN, CAP_SYS_CHROOT]), &AMD64_6_1), ["both"]);
        assert_eq!(
            chosen(&rules, &caps(&[CAP_SYS_CHROOT, CAP_AUDIT_WRITE]), &AMD64_6_1),
            Vec::<String>::new()
        );
    }

    #[test]
    fn arches_choose_by_the_native_architecture() {
        let rules = [
            rule("x86", r#""includes": {"arches": ["amd64", "x32", "x86"]}"#),
            rule("not_arm", r#""excludes": {"arches": ["arm64"]}"#),
        ]
        .join(",");
        let arm64 = Host { arch: ScmpArch::Aarch64, ..AMD64_6_1 };
        assert_eq!(chosen(&rules, &caps(&[]), &AMD64_6_1), ["x86", "not_arm"]);
        assert_eq!(chosen(&rules, &caps(&[]), &arm64), Vec::<String>::new());
    }

    #[test]
    fn min_kernel_compares_major_then_minor() {
        let rules = [
            rule("new", r#""includes": {"minKernel": "4.8"}"#),
            rule("old", r#""excludes": {"minKernel": "4.8"}"#),
        ]
        .join(",");
        let on = |major, minor| Host { kernel: KernelVersion { major, minor }, ..AMD64_6_1 };
        assert_eq!(chosen(&rules, &caps(&[]), &on(4, 7)), ["old"]);
        assert_eq!(chosen(&rules, &caps(&[]), &on(4, 8)), ["new"]);
        assert_eq!(chosen(&rules, &caps(&[]), &on(5, 0)), ["new"]);
        assert_eq!(chosen(&rules, &caps(&[]), &on(3, 19)), ["old"]);
    }

    #[test]
    fn arch_map_gives_the_native_architecture_and_its_sub_architectures() {
        let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]}"#;
        let arches =
            |arch| profile(json).filter(&caps(&[]), &Host { arch, ..AMD64_6_1 }).architectures;
        assert_eq!(arches(ScmpArch::X8664), [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]);
        assert_eq!(arches(ScmpArch::Aarch64), [ScmpArch::Aarch64, ScmpArch::Arm]);
        assert_eq!(arches(ScmpArch::Riscv64), []);
        let listed = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_ARM"]}"#;
        assert_eq!(
            profile(listed).filter(&caps(&[]), &AMD64_6_1).architectures,
            [ScmpArch::X86, ScmpArch::Arm]
        );
    }

    #[test]
    fn this_host_has_a_kernel_version_and_libseccomps_native_architecture() {
        let host = Host::this().unwrap();
        let uname = nix::sys::utsname::uname().unwrap();
        let release = uname.release().to_str().unwrap();
        assert!(
            release.starts_with(&format!("{}.{}", host.kernel.major, host.kernel.minor)),
            "{release}"
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(host.arch, ScmpArch::X8664);
    }

    /// The actions of the filter's rules that name `name` without conditions.
    fn actions_for(filter: &Filter, name: &str) -> Vec<(Action, Option<u32>)> {
        let names = |r: &&Rule| r.names.iter().any(|n| n == name) && r.args.is_empty();
        filter.rules.iter().filter(names).map(|r| (r.action, r.errno_ret)).collect()
    }

    #[test]
    fn the_default_profile_allows_by_capability_as_its_file_says() {
        let Some(profile) = default_profile() else { return };
        let none = profile.filter(&caps(&[]), &AMD64_6_1);
        let admin = profile.filter(&caps(&[CAP_SYS_ADMIN, CAP_AUDIT_WRITE]), &AMD64_6_1);
        let allow = vec![(Action::Allow, None)];
        for name in ["read", "write", "getpid", "execve"] {
            assert_eq!(actions_for(&none, name), allow, "{name}");
        }
        // containers-common allows ptrace and keyctl on any kernel (moby gates
        // ptrace on 4.8); it names neither add_key nor request_key: ENOSYS.
        assert_eq!(actions_for(&none, "ptrace"), allow);
        assert_eq!(actions_for(&none, "keyctl"), allow);
        assert_eq!(
            (actions_for(&none, "add_key"), actions_for(&none, "request_key")),
            (vec![], vec![])
        );
        assert_eq!(actions_for(&none, "kexec_load"), [(Action::Errno, Some(1))]);
        assert_eq!(actions_for(&none, "bpf"), [(Action::Errno, Some(1))]);
        assert_eq!(actions_for(&admin, "bpf"), allow);
        // The audit socket: conditional rules without CAP_AUDIT_WRITE, one plain allow with it.
        let socket = |f: &Filter| f.rules.iter().filter(|r| r.names == ["socket"]).count();
        assert_eq!((socket(&none), socket(&admin)), (4, 1));
        assert_eq!(actions_for(&admin, "socket"), allow);
        // By architecture: arch_prctl on x86 only.
        assert_eq!(actions_for(&none, "arch_prctl"), allow);
        assert_eq!(actions_for(&none, "s390_pci_mmio_read"), []);
        assert_eq!(none.architectures, [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]);
        assert_eq!((none.default_action, none.default_errno_ret), (Action::Errno, Some(38)));
    }

    #[test]
    fn kernel_versions_in_profiles_are_major_dot_minor() {
        assert_eq!("4.8".parse(), Ok(KernelVersion { major: 4, minor: 8 }));
        assert_eq!("10.19".parse(), Ok(KernelVersion { major: 10, minor: 19 }));
        for bad in ["4", "4.8.1", "a.b", "4.", ".8", "4.8-rc1"] {
            assert!(bad.parse::<KernelVersion>().is_err(), "{bad}");
        }
    }
}
