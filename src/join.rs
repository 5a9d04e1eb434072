//! The first step of an `exec`: a new process joins the namespaces and the
//! cgroups of the container's first process, instead of making its own. Its
//! PID namespace is joined by the runtime itself, before `clone(2)`: a
//! process cannot move into another PID namespace, but its children are born
//! into the one it names (`man 2 setns`, `CLONE_NEWPID`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use ch00_process::{Context, Doing, Step, StepError};
use ch07_cgroups::{Layout, Version};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Join the container of `init` (a pidfd of its first process).
pub struct JoinContainer {
    init: OwnedFd,
    /// The namespaces of `init` that are not the runtime's own.
    namespaces: CloneFlags,
    /// Its cgroups: the `cgroup.procs` file of each.
    cgroups: Vec<PathBuf>,
}

impl JoinContainer {
    pub fn new(init: OwnedFd, pid: i32) -> Result<JoinContainer, String> {
        // Its user namespace too, if it has one of its own: joined with the
        // rest in one `setns(2)` on the pidfd, which enters it first and checks
        // the others with the credentials it gives. Without it the process
        // would be the host's root in the container's other namespaces.
        let namespaces = [
            (CloneFlags::CLONE_NEWUSER, "user"),
            (CloneFlags::CLONE_NEWNS, "mnt"),
            (CloneFlags::CLONE_NEWUTS, "uts"),
            (CloneFlags::CLONE_NEWIPC, "ipc"),
            (CloneFlags::CLONE_NEWNET, "net"),
            (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        ]
        .into_iter()
        .filter(|(_, name)| {
            let link = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/{name}")).ok();
            link(&pid.to_string()) != link("self")
        })
        .fold(CloneFlags::empty(), |all, (flag, _)| all | flag);
        Ok(JoinContainer { init, namespaces, cgroups: cgroups_of(pid)? })
    }

    /// Make this process's children be born in the container's PID namespace.
    pub fn join_pid_namespace(&self) -> Result<(), String> {
        setns(&self.init, CloneFlags::CLONE_NEWPID)
            .map_err(|e| format!("join the container's PID namespace: {e}"))
    }
}

// ANCHOR: join
impl Step for JoinContainer {
    fn name(&self) -> &'static str {
        "join the container"
    }

    /// Into its cgroups, while the child waits.
    fn in_parent(&self, _cx: &Context, child: Pid) -> Result<(), StepError> {
        for procs in &self.cgroups {
            std::fs::write(procs, child.to_string())
                .doing(|| format!("write {}", procs.display()))?;
        }
        Ok(())
    }

    /// Into its namespaces: the mount namespace also makes its root ours.
    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        setns(&self.init, self.namespaces).doing(|| "join the container's namespaces".into())
    }
}
// ANCHOR_END: join

// ANCHOR: setns
/// `setns(2)` with a pidfd: every namespace of `flags` at once (Linux 5.8).
fn setns(pidfd: &OwnedFd, flags: CloneFlags) -> nix::Result<()> {
    // SAFETY: a pidfd we hold, and namespace flags.
    Errno::result(unsafe { libc::setns(pidfd.as_raw_fd(), flags.bits()) }).map(drop)
}
// ANCHOR_END: setns

/// The `cgroup.procs` file of each cgroup `pid` is in, in the hierarchies
/// chapter 7 finds (`/proc/PID/cgroup`: `ID:CONTROLLERS:PATH`, `0::PATH` for v2).
fn cgroups_of(pid: i32) -> Result<Vec<PathBuf>, String> {
    let layout = Layout::detect().map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
    let file = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("read {file}: {e}"))?;
    let mut procs = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let hierarchy = layout.hierarchies.iter().find(|h| match h.version {
            Version::V2 => controllers.is_empty(),
            Version::V1 => controllers.split(',').any(|c| h.controllers.iter().any(|hc| hc == c)),
        });
        if let Some(h) = hierarchy {
            procs.push(h.mount.join(path.trim_start_matches('/')).join("cgroup.procs"));
        }
    }
    Ok(procs)
}
