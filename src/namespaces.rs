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

use std::fs::File;
use std::path::PathBuf;

use ch00_process::{Context, Doing, Step, StepError};
use nix::sched::{CloneFlags, setns};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::bundle::BundleError;

/// The kinds a container may join by path: those a process can enter on
/// its own, after `clone(2)`. (A PID namespace is entered only by the
/// children of whoever joins it, a mount namespace would take the chapters'
/// root away, a user namespace changes every ID: not yet.)
pub const JOINABLE: [LinuxNamespaceType; 3] =
    [LinuxNamespaceType::Network, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts];

/// The step: join each namespace, first thing in the child.
pub struct JoinNamespaces(Vec<(CloneFlags, PathBuf, File)>);

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
            let file = File::open(path).map_err(|e| {
                BundleError::Host(format!(
                    "linux.namespaces: open the {:?} namespace {}: {e}",
                    ns.typ(),
                    path.display()
                ))
            })?;
            joined.push((flag(ns.typ()), path.clone(), file));
        }
        Ok((!joined.is_empty()).then_some(JoinNamespaces(joined)))
    }

    /// The kinds it joins, which the container must not make anew.
    pub fn flags(&self) -> CloneFlags {
        self.0.iter().fold(CloneFlags::empty(), |all, (flag, ..)| all | *flag)
    }
}

/// The `clone(2)` flag of a kind of namespace (the one `setns(2)` checks).
fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        _ => unreachable!("only the JOINABLE kinds are opened"),
    }
}

impl Step for JoinNamespaces {
    fn name(&self) -> &'static str {
        "join namespaces"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        for (flag, path, file) in &self.0 {
            // The flag makes the kernel check that the file is a namespace of
            // that kind, not any file a config names.
            setns(file, *flag).doing(|| format!("join the namespace {}", path.display()))?;
        }
        Ok(())
    }
}
