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
