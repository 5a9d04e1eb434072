//! The filter for one container on one machine: what the profile's includes and
//! excludes leave, and what an OCI bundle's `linux.seccomp` says directly.
//!
//! The names in the JSON (`SCMP_ACT_ERRNO`, `SCMP_CMP_MASKED_EQ`,
//! `SECCOMP_FILTER_FLAG_LOG`) are libseccomp's and the kernel's; serde reads
//! them into these enums, so a misspelt one is an error that lists the right
//! ones.

use libseccomp::ScmpArch;
use serde::Deserialize;

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

/// What the kernel does with a system call (`man 2 seccomp`, "Filter return
/// values").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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
