//! `linux.namespaces` entries with a `path`: a namespace that exists already,
//! which the container joins instead of making its own. podman makes the
//! network namespace itself — its network plugins wire it, publish its
//! ports — and hands the runtime its path (`/run/netns/netns-…`).
//!
//! The runtime opens each path before `clone(2)`, while the host's view is
//! its own (close-on-exec: the descriptor never reaches the container's
//! command). The child joins them with `setns(2)` first of all, before any
//! step that depends on its namespaces: `/sys` shows the network namespace
//! of whoever mounts it, `/dev/mqueue` the IPC one.
//!
//! A PID namespace cannot be entered by a process, only by its children
//! (`man 2 setns`, `CLONE_NEWPID`): so the runtime joins it just before
//! `clone(2)`, and the child is born in it — another container's, as in a
//! Kubernetes pod that shares its processes. Not as its PID 1: when it
//! ends, its own children live on, which is why `delete` kills what is left
//! in its cgroup ([`crate::freezer::kill_the_rest`]). The runtime then goes
//! back to its own, for the processes it starts later (the hooks).
//!
//! A user namespace must own the container's other new namespaces, so they
//! are made from inside it: the child is cloned by a helper that joined it
//! ([`ch00_process::clone::CloneInto::user_namespace`]), and is born there.

use std::fs::File;
use std::path::PathBuf;

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::bundle::BundleError;

/// The kinds a container may join by path. (Not a mount namespace: it would
/// take the chapters' root away — runc and crun fail there too.)
pub const JOINABLE: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::User,
];

/// The step: join each namespace, first thing in the child (the PID one
/// from the runtime, before the clone).
pub struct JoinNamespaces {
    joined: Vec<(CloneFlags, PathBuf, File)>,
    /// The runtime's own PID namespace, to go back to after the clone.
    own_pid: Option<File>,
}

impl JoinNamespaces {
    /// The namespaces of `asked` that have a path, opened; `None` if none has.
    pub fn open(asked: &[LinuxNamespace]) -> Result<Option<JoinNamespaces>, BundleError> {
        let mut joined = Vec::new();
        for ns in asked {
            let Some(path) = ns.path() else { continue };
            if !JOINABLE.contains(&ns.typ()) {
                return Err(BundleError::Unsupported(format!(
                    "linux.namespaces: joining a {:?} namespace ({})",
                    ns.typ(),
                    path.display()
                )));
            }
            let file = open_namespace(path).map_err(|e| {
                BundleError::Host(format!(
                    "linux.namespaces: open the {:?} namespace {}: {e}",
                    ns.typ(),
                    path.display()
                ))
            })?;
            joined.push((flag(ns.typ()), path.clone(), file));
        }
        if joined.is_empty() {
            return Ok(None);
        }
        let pid = joined.iter().any(|(flag, ..)| *flag == CloneFlags::CLONE_NEWPID);
        let own_pid = match pid {
            true => Some(File::open("/proc/self/ns/pid").map_err(|e| {
                BundleError::Host(format!("open the runtime's PID namespace: {e}"))
            })?),
            false => None,
        };
        Ok(Some(JoinNamespaces { joined, own_pid }))
    }

    /// The kinds it joins, which the container must not make anew.
    pub fn flags(&self) -> CloneFlags {
        self.joined.iter().fold(CloneFlags::empty(), |all, (flag, ..)| all | *flag)
    }

    fn pid(&self) -> Option<&(CloneFlags, PathBuf, File)> {
        self.joined.iter().find(|(flag, ..)| *flag == CloneFlags::CLONE_NEWPID)
    }
}

/// Open `path`, which must be a namespace (a file of the kernel's `nsfs`,
/// as `/proc/PID/ns/*` and their bind mounts are): without blocking, so that
/// a FIFO named in a config cannot hang the runtime, and refusing anything
/// else before a device's `open` could do anything.
fn open_namespace(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let fs = nix::sys::statfs::fstatfs(&file)?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return Err(std::io::Error::other("not a namespace (a file of /proc/PID/ns)"));
    }
    Ok(file)
}

/// `NSFS_MAGIC`, from `<linux/magic.h>`.
const NSFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x6e73_6673);

/// The `clone(2)` flag of a kind of namespace (the one `setns(2)` checks).
fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        _ => unreachable!("only the JOINABLE kinds are opened"),
    }
}

impl Step for JoinNamespaces {
    fn name(&self) -> &'static str {
        "join namespaces"
    }

    /// The PID and user namespaces: the child is born in them.
    fn before_clone(&self, _cx: &Context, into: &mut CloneInto) -> Result<(), StepError> {
        if let Some((flag, path, file)) = self.pid() {
            setns(file, *flag).doing(|| format!("join the PID namespace {}", path.display()))?;
        }
        let user = self.joined.iter().find(|(flag, ..)| *flag == CloneFlags::CLONE_NEWUSER);
        if let Some((_, path, file)) = user {
            let fd = file.try_clone().doing(|| format!("dup {}", path.display()))?;
            into.user_namespace = Some(fd.into());
        }
        Ok(())
    }

    /// Back in the runtime's own PID namespace.
    fn in_parent(&self, _cx: &Context, _child: Pid) -> Result<(), StepError> {
        if let Some(own) = &self.own_pid {
            let back = setns(own, CloneFlags::CLONE_NEWPID);
            back.doing(|| "go back to the runtime's PID namespace".into())?;
        }
        Ok(())
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let born_in = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER;
        let others = self.joined.iter().filter(|(flag, ..)| !born_in.contains(*flag));
        for (flag, path, file) in others {
            // The flag makes the kernel check that the file is a namespace of
            // that kind, not any file a config names.
            setns(file, *flag).doing(|| format!("join the namespace {}", path.display()))?;
        }
        Ok(())
    }
}

/// Back in the runtime's own PID namespace whatever happened, if a step
/// after this one failed before the clone (or the clone did): the runtime
/// may start processes after (`poststop` hooks). The child never drops it.
impl Drop for JoinNamespaces {
    fn drop(&mut self) {
        if let Some(own) = &self.own_pid {
            let _ = setns(own, CloneFlags::CLONE_NEWPID);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_namespace_is_opened_and_a_fifo_does_not_block() {
        assert!(open_namespace(std::path::Path::new("/proc/self/ns/net")).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let refused = open_namespace(&fifo).unwrap_err().to_string();
        assert_eq!(refused, "not a namespace (a file of /proc/PID/ns)");
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(open_namespace(&file).is_err());
    }
}
