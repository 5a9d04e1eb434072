//! The filter for one container on one machine: what the profile's includes and
//! excludes leave, and what an OCI bundle's `linux.seccomp` says directly.
//!
//! The names in the JSON (`SCMP_ACT_ERRNO`, `SCMP_CMP_MASKED_EQ`,
//! `SECCOMP_FILTER_FLAG_LOG`) are libseccomp's and the kernel's; serde reads
//! them into these enums, so a misspelt one is an error that lists the right
//! ones.

use libseccomp::ScmpArch;
use serde::{Deserialize, Serialize};

/// A seccomp filter ready to compile: the default action, then rules tried for
/// each system call (see `compile.rs` for how libseccomp orders them).
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// What a system call that no rule matches gets.
    pub default_action: Action,
    /// The errno of an `Errno` default action (EPERM if none).
    pub default_errno_ret: Option<u32>,
    /// The architectures whose system calls the filter judges; the native one
    /// is always in. A call from any other (say a 32-bit binary on a 64-bit
    /// kernel) kills the process.
    pub architectures: Vec<ScmpArch>,
    pub flags: Vec<Flag>,
    pub rules: Vec<Rule>,
}

impl Filter {
    /// The filter as an OCI config's `linux.seccomp`: what an engine hands a
    /// runtime, its choices (`includes`, `excludes`) made already.
    pub fn to_oci(&self) -> serde_json::Value {
        let mut seccomp = serde_json::json!({
            "defaultAction": self.default_action,
            "architectures": self.architectures.iter().filter_map(|a| arch_name(*a)).collect::<Vec<_>>(),
            "flags": self.flags,
            "syscalls": self.rules.iter().map(Rule::to_oci).collect::<Vec<_>>(),
        });
        if let Some(errno) = self.default_errno_ret {
            seccomp["defaultErrnoRet"] = errno.into();
        }
        seccomp
    }

    /// The kernel's `SECCOMP_FILTER_FLAG_*` bits for the filter's flags.
    pub fn flag_bits(&self) -> libc::c_ulong {
        self.flags.iter().fold(0, |all, flag| all | flag.bit())
    }
}

/// One action for some system calls, maybe only when their arguments match.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    /// The errno of an `Errno` action, or the message of a `Trace` action.
    pub errno_ret: Option<u32>,
    /// All must hold (but see `compile.rs` for two on the same argument).
    pub args: Vec<Arg>,
}

impl Rule {
    fn to_oci(&self) -> serde_json::Value {
        let args: Vec<serde_json::Value> = self
            .args
            .iter()
            .map(|a| {
                serde_json::json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op})
            })
            .collect();
        let mut rule =
            serde_json::json!({"names": self.names, "action": self.action, "args": args});
        if let Some(errno) = self.errno_ret {
            rule["errnoRet"] = errno.into();
        }
        rule
    }
}

/// libseccomp's name of `arch`, as profiles and OCI configs spell it.
fn arch_name(arch: ScmpArch) -> Option<&'static str> {
    use std::str::FromStr;
    const NAMES: [&str; 23] = [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_SHEB",
        "SCMP_ARCH_SH",
    ];
    NAMES.into_iter().find(|name| ScmpArch::from_str(name).is_ok_and(|a| a == arch))
}

/// What the kernel does with a system call (`man 2 seccomp`, "Filter return
/// values").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Action {
    /// Kill the calling thread (the old name of `KillThread`).
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    /// Kill the whole process (Linux 4.14).
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    /// Send `SIGSYS` (a sandbox inside the container may emulate the call).
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    /// Fail with an errno, without doing anything.
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    /// Stop for a `ptrace(2)` tracer; without one the call fails with ENOSYS.
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    /// Allow, and log the call to the audit log (Linux 4.14).
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    /// Ask a user-space agent (Linux 5.0): not supported by tincan.
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// How an argument is compared with the rule's `value` (`man 3 seccomp_rule_add`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    /// `arg & value == valueTwo`: `value` is the mask.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// A condition on the system call's argument number `index` (0 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: Op,
}

/// How the kernel installs the filter (`man 2 seccomp`, "flags").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Flag {
    /// Install it on every thread; ours has one, so this changes nothing.
    #[serde(rename = "SECCOMP_FILTER_FLAG_TSYNC")]
    Tsync,
    /// Log every action but allow (Linux 4.14).
    #[serde(rename = "SECCOMP_FILTER_FLAG_LOG")]
    Log,
    /// Keep the CPU's speculative store bypass mitigation off (Linux 4.17).
    #[serde(rename = "SECCOMP_FILTER_FLAG_SPEC_ALLOW")]
    SpecAllow,
    /// Only with a listener (`SCMP_ACT_NOTIFY`): not supported by tincan.
    #[serde(rename = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")]
    WaitKillableRecv,
}

impl Flag {
    /// The kernel's bit for the flag.
    pub fn bit(self) -> libc::c_ulong {
        match self {
            Flag::Tsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            Flag::Log => libc::SECCOMP_FILTER_FLAG_LOG,
            Flag::SpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            Flag::WaitKillableRecv => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{default_profile, docker_caps_and};
    use super::super::{Host, Profile};

    /// What an engine writes into a config is read back, by the OCI runtime's
    /// own reader, as the same filter.
    #[test]
    fn the_oci_form_reads_back_as_the_same_filter() {
        let Some(profile) = default_profile() else { return };
        let host = Host::this().unwrap();
        let caps = docker_caps_and(&[]);
        let filter = profile.with_docker_gates().filter(&caps, &host);
        let oci = filter.to_oci();
        assert!(oci["syscalls"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(oci["architectures"].as_array().is_some_and(|a| !a.is_empty()));
        let again = Profile::from_json(&oci.to_string()).unwrap();
        // No choices left to make: any capabilities give the same filter.
        assert_eq!(again.filter(&caps::CapsHashSet::new(), &host), filter);
    }
}
