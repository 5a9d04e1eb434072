//! `linux.seccomp`: the config's system-call filter, through chapter 10.
//!
//! The OCI format is Docker's profile without its choices (`includes`,
//! `excludes`, `archMap`): an engine has made them already, for the
//! capabilities it gives the container. So chapter 10's parser reads it as it
//! is, strictly (a misspelt field is an error, never a rule dropped), and its
//! compiler makes the BPF program before `clone(2)`.

use std::path::Path;

use ch00_process::Plan;
use ch10_harden::seccomp::{Cache, Profile, SeccompError};
use ch10_harden::syscall_filter::Seccomp;
use oci_spec::runtime::LinuxSeccomp;

/// What is wrong with a config's filter.
#[derive(Debug, thiserror::Error)]
#[error("linux.seccomp: {0}")]
pub struct FilterError(#[from] SeccompError);

/// Where the runtime under `root` keeps compiled programs: beside the
/// containers' states, as crun does (`.cache/seccomp`). An engine gives
/// every container the same filter, and libseccomp takes ~10 ms to compile
/// Docker's; chapter 10's cache makes that once per filter and machine.
pub fn cache(root: &Path) -> Cache {
    Cache::new(root.join(".cache").join("seccomp"))
}

/// The program for `asked`, compiled for this machine, or read from `cache`.
pub fn compile(asked: &LinuxSeccomp, cache: &Cache) -> Result<Seccomp, FilterError> {
    // oci-spec wrote it from JSON; back to JSON, for chapter 10's reader.
    let json = serde_json::to_string(asked).expect("a LinuxSeccomp serialises");
    let profile = Profile::from_json(&json)?;
    // No `includes` to choose by: the capabilities play no part.
    Ok(Seccomp::new(profile.compile_cached(&caps::CapsHashSet::new(), cache)?))
}

/// `plan` with the filter installed where runc installs it. With
/// `no_new_privs`, last of all: every call of the set-up is made before it.
/// Without, the kernel lets only a process with `CAP_SYS_ADMIN` install a
/// filter, so before the capabilities are dropped; the set-up's last calls
/// (the user switch, `capset`, `execve`) must then pass the filter — an
/// engine's filters allow them.
pub fn install(plan: Plan, filter: Seccomp, no_new_privs: bool) -> Plan {
    if no_new_privs {
        plan.then(filter)
    } else {
        plan.insert_before("capability bounding set", filter)
    }
}
