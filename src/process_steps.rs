//! What an OCI config sets on the container's process that no chapter
//! teaches: its resource limits (`process.rlimits`), how readily the kernel's
//! OOM killer picks it (`process.oomScoreAdj`), and the namespaced kernel
//! settings of `linux.sysctl`. The limits and the score are set by the
//! runtime, from outside, while the child waits, as runc does: raising a
//! limit or lowering a score needs `CAP_SYS_RESOURCE` in the host's user
//! namespace, which a child in a user namespace of its own never holds. The
//! sysctls are written in the child, in its namespaces.

use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;

/// `process.rlimits`: (the resource's number, soft, hard), by `setrlimit(2)`.
pub struct Rlimits(pub Vec<(String, libc::__rlimit_resource_t, u64, u64)>);

impl Step for Rlimits {
    fn name(&self) -> &'static str {
        "rlimits"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // set from outside
    }

    /// `prlimit(2)` on the waiting child.
    fn in_parent(&self, _cx: &Context, child: nix::unistd::Pid) -> Result<(), StepError> {
        for (name, resource, soft, hard) in &self.0 {
            let limit = libc::rlimit { rlim_cur: *soft, rlim_max: *hard };
            // SAFETY: prlimit(2) reads the struct above; no old limit asked.
            let set =
                unsafe { libc::prlimit(child.as_raw(), *resource, &limit, std::ptr::null_mut()) };
            Errno::result(set).map(drop).map_err(|errno| {
                let error = StepError::new(format!("set {name} to {soft}:{hard}"), errno);
                match errno {
                    Errno::EPERM => error.hint(format!(
                        "the runtime's own hard limit is lower, and it may not raise one (it lacks CAP_SYS_RESOURCE): ask for at most `ulimit -H` of {name}"
                    )),
                    _ => error,
                }
            })?;
        }
        Ok(())
    }
}

/// `process.oomScoreAdj`: written to `/proc/self/oom_score_adj`.
pub struct OomScoreAdj(pub i32);

impl Step for OomScoreAdj {
    fn name(&self) -> &'static str {
        "oom score"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // set from outside
    }

    /// Written for the waiting child.
    fn in_parent(&self, _cx: &Context, child: nix::unistd::Pid) -> Result<(), StepError> {
        std::fs::write(format!("/proc/{child}/oom_score_adj"), self.0.to_string())
            .doing(|| format!("set oom_score_adj to {}", self.0))
    }
}

/// `process.user.umask`: the mode bits the command's new files never get
/// (podman asks for 022). Without it the runtime's own umask stays, as in
/// runc.
pub struct Umask(pub u32);

impl Step for Umask {
    fn name(&self) -> &'static str {
        "umask"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(self.0));
        Ok(())
    }
}

/// `linux.sysctl`: each key (`net.ipv4.ip_forward`) written under
/// `/proc/sys` (`net/ipv4/ip_forward`) in the container's namespaces, before
/// `/proc/sys` turns read-only. Only the settings a namespace owns are the
/// container's to change: the rest would change the host's, and are refused.
pub struct Sysctl(pub Vec<(String, String)>);

/// The prefixes of the settings that belong to a namespace the container
/// has its own of (runc's list: IPC, network and UTS).
const NAMESPACED: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shm",
    "fs.mqueue.",
    "net.",
    "kernel.hostname",
];

impl Sysctl {
    /// Whether `key` belongs to one of the container's namespaces.
    pub fn is_namespaced(key: &str) -> bool {
        NAMESPACED.iter().any(|prefix| key.starts_with(prefix)) || key == "kernel.domainname"
    }
}

impl Step for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        for (key, value) in &self.0 {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).doing(|| format!("set {key} to {value}"))?;
        }
        Ok(())
    }
}

/// Last, for a process that outlives the runtime which starts it (a
/// detached `exec`): no parent-death signal, which chapter 0 asks for.
pub struct Outlive;

impl Step for Outlive {
    fn name(&self) -> &'static str {
        "outlive the runtime"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::sys::prctl::set_pdeathsig(None).doing(|| "clear the parent-death signal".into())
    }
}

/// An exec'd process's working directory, which must exist (as runc has it:
/// unlike a container's, which `create` makes if missing).
pub struct Chdir(pub std::path::PathBuf);

impl Step for Chdir {
    fn name(&self) -> &'static str {
        "working directory"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::unistd::chdir(&self.0)
            .doing(|| format!("enter the working directory {}", self.0.display()))
    }
}

/// A session of its own for an exec'd process without a terminal (chapter
/// 3's console step makes one with it), so that what an engine sends the
/// runtime's process group does not reach it.
pub struct NewSession;

impl Step for NewSession {
    fn name(&self) -> &'static str {
        "new session"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::unistd::setsid().map(drop).doing(|| "setsid".into())
    }
}

/// A session keyring of the container's own, named `_ses.ID` (runc's name),
/// unless `--no-new-keyring`: without it the container would share the
/// runtime's session keyring, and could read or add to the keys of whoever
/// started it (`man 7 session-keyring`). Before the seccomp filter, which
/// may refuse `keyctl(2)`.
pub struct SessionKeyring(pub String);

/// `KEYCTL_JOIN_SESSION_KEYRING`, from `<linux/keyctl.h>`.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

impl Step for SessionKeyring {
    fn name(&self) -> &'static str {
        "session keyring"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let name = std::ffi::CString::new(self.0.as_str())
            .map_err(|_| StepError::new("name the session keyring", Errno::EINVAL))?;
        // SAFETY: keyctl(2) with a NUL-terminated name; it returns the new
        // keyring's serial or -1.
        let joined =
            unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
        Errno::result(joined).map(drop).doing(|| format!("join a new session keyring {}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_namespace_s_settings_are_the_container_s() {
        assert!(Sysctl::is_namespaced("net.ipv4.ping_group_range"));
        assert!(Sysctl::is_namespaced("kernel.shmmax"));
        assert!(!Sysctl::is_namespaced("kernel.core_pattern"));
        assert!(!Sysctl::is_namespaced("vm.overcommit_memory"));
    }
}
