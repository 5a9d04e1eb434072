//! The chapter's two steps: put the container in a cgroup of its own, with its
//! limits, before it runs anything ([`JoinCgroup`], first in the plan); and, at
//! the end of its set-up, show it only that cgroup ([`CgroupNamespace`]).

use std::cell::RefCell;
use std::path::PathBuf;

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::Pid;

use crate::cgroup::{Cgroup, CgroupError};
use crate::hierarchy::{Layout, Version};
use crate::limits::{Bytes, Limits};

/// Read when the plan is made, before `clone(2)`: the child needs it after
/// `pivot_root`, when the host's mount table is out of its sight.
pub type DetectedLayout = Result<Layout, Errno>;

/// Where the container's cgroup is recorded in its state.
const RECORD: &str = "cgroup";

/// A cgroup of the container's own, with its limits, joined before the
/// container runs a single instruction of its command.
pub struct JoinCgroup {
    pub limits: Limits,
    /// Relative to each hierarchy's root: tincan's part of the tree.
    pub parent: PathBuf,
    /// The cgroup's name in `parent`: the container's id, unless an engine
    /// names it otherwise (podman's `libpod-ID`).
    name: Option<String>,
    layout: DetectedLayout,
    cgroup: RefCell<Option<Cgroup>>,
}

impl JoinCgroup {
    pub fn new(limits: Limits, parent: PathBuf, layout: DetectedLayout) -> Self {
        JoinCgroup { limits, parent, name: None, layout, cgroup: RefCell::new(None) }
    }

    /// The same, with the cgroup called `name` rather than the container's id.
    pub fn named(self, name: Option<String>) -> Self {
        JoinCgroup { name, ..self }
    }
}

// ANCHOR: step
impl Step for JoinCgroup {
    fn name(&self) -> &'static str {
        "cgroup"
    }

    /// Before the container exists: write down its cgroup, make it, write the
    /// limits. On cgroup v2 the child is then *born* in it (`CLONE_INTO_CGROUP`).
    fn before_clone(&self, cx: &Context, into: &mut CloneInto) -> Result<(), StepError> {
        self.limits
            .check()
            .map_err(|e| StepError::new("check the limits", Errno::EINVAL).hint(e.to_string()))?;
        let layout = layout(&self.layout)?;
        let needed = self.limits.controllers();
        let name = self.name.as_deref().unwrap_or(&cx.container.id);
        let cgroup = Cgroup::new(layout, &self.parent, name, &needed).map_err(step_error)?;
        // Someone else's (an engine may name the cgroup): not ours to take,
        // so not recorded, and never taken down.
        if let Some(path) = cgroup.existing() {
            return Err(step_error(CgroupError::Exists(path.to_owned())));
        }
        cx.state.record(RECORD, &cgroup).doing(|| "record the cgroup".to_owned())?;
        cgroup.make(&self.parent, &needed).map_err(step_error)?;
        cgroup.apply(&self.limits).map_err(step_error)?;
        into.cgroup = cgroup.v2_dir().map_err(step_error)?;
        *self.cgroup.borrow_mut() = Some(cgroup);
        Ok(())
    }

    /// On cgroup v1, from outside, while the container waits: move it in.
    /// Everything it runs from now on is born inside.
    fn in_parent(&self, _cx: &Context, child: Pid) -> Result<(), StepError> {
        match self.cgroup.borrow().as_ref() {
            Some(cgroup) => cgroup.add(child).map_err(step_error),
            None => Ok(()),
        }
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // the runtime does it all, from outside
    }

    fn why_it_ended(&self, _cx: &Context) -> Option<String> {
        let cgroup = self.cgroup.borrow();
        let cgroup = cgroup.as_ref()?;
        if let Some(kills @ 1..) = cgroup.oom_kills() {
            let processes =
                if kills == 1 { "a process".to_owned() } else { format!("{kills} processes") };
            return Some(match self.limits.memory {
                Some(limit) => format!(
                    "out of memory: the kernel killed {processes} of the container at its memory limit of {} (--memory)",
                    Bytes(limit)
                ),
                None => format!(
                    "out of memory: the kernel killed {processes} of the container (the host ran out; there was no --memory limit)"
                ),
            });
        }
        let (Some(refused @ 1..), Some(limit)) = (cgroup.forks_refused(), self.limits.pids) else {
            return None;
        };
        let forks = if refused == 1 { "a fork".to_owned() } else { format!("{refused} forks") };
        Some(format!(
            "the container reached its limit of {limit} processes (--pids-limit): the kernel refused {forks}"
        ))
    }

    /// Remove the cgroup, from its record (so also after a runtime that died).
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let recorded = cx.state.recorded::<Cgroup>(RECORD).doing(|| "read a record".to_owned())?;
        if let Some(cgroup) = recorded {
            cgroup.remove().map_err(step_error)?;
        }
        self.cgroup.borrow_mut().take();
        cx.state.forget(RECORD).doing(|| "forget the cgroup".to_owned())
    }
}
// ANCHOR_END: step

/// Show the container only its own cgroup: a cgroup namespace, and the cgroup
/// file system at `/sys/fs/cgroup`, read-only.
pub struct CgroupNamespace {
    layout: DetectedLayout,
}

impl CgroupNamespace {
    pub fn new(layout: DetectedLayout) -> Self {
        CgroupNamespace { layout }
    }
}

// ANCHOR: namespace
impl Step for CgroupNamespace {
    fn name(&self) -> &'static str {
        "cgroup namespace"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // Now, not at clone(2): a cgroup namespace is rooted at the cgroup its
        // creator is in, and on cgroup v1 we are in ours only since `in_parent`.
        unshare(CloneFlags::CLONE_NEWCGROUP).doing(|| "unshare the cgroup namespace".to_owned())?;
        mount_cgroup_fs(layout(&self.layout)?)
    }
}
// ANCHOR_END: namespace

fn layout(detected: &DetectedLayout) -> Result<&Layout, StepError> {
    detected.as_ref().map_err(|errno| StepError::new("read /proc/self/mountinfo", *errno))
}

/// Our errors, in the shape the runtime reports.
fn step_error(error: CgroupError) -> StepError {
    match &error {
        CgroupError::Io { action, path, .. } => {
            StepError::new(format!("{action} {}", path.display()), error.errno())
        }
        _ => StepError::new("set up the cgroup", error.errno()).hint(error.to_string()),
    }
}

/// Mount the hierarchies the container is in at `/sys/fs/cgroup`, as the host
/// has them: v2 is a single mount; v1 a tmpfs with one mount per hierarchy.
/// Read-only: a container that could write there could raise its own limits.
fn mount_cgroup_fs(layout: &Layout) -> Result<(), StepError> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let used = layout.used();
    if let [only] = used.as_slice()
        && only.version == Version::V2
    {
        return mount(Some("cgroup2"), "/sys/fs/cgroup", Some("cgroup2"), flags, None::<&str>)
            .doing(|| "mount cgroup2 on /sys/fs/cgroup".to_owned());
    }
    let writable = flags - MsFlags::MS_RDONLY;
    mount(Some("cgroup"), "/sys/fs/cgroup", Some("tmpfs"), writable, Some("mode=755"))
        .doing(|| "mount a tmpfs on /sys/fs/cgroup".to_owned())?;
    for hierarchy in used {
        let (fstype, name, options) = match hierarchy.version {
            Version::V1 => {
                let name = hierarchy.mount.file_name().map(|n| n.to_string_lossy().into_owned());
                (
                    "cgroup",
                    name.unwrap_or_else(|| hierarchy.controllers.join(",")),
                    Some(hierarchy.controllers.join(",")),
                )
            }
            Version::V2 => ("cgroup2", "unified".to_owned(), None),
        };
        let at = format!("/sys/fs/cgroup/{name}");
        std::fs::create_dir(&at).doing(|| format!("create {at}"))?;
        mount(Some(fstype), at.as_str(), Some(fstype), flags, options.as_deref())
            .doing(|| format!("mount {fstype} on {at}"))?;
    }
    let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags;
    mount(None::<&str>, "/sys/fs/cgroup", None::<&str>, remount, None::<&str>)
        .doing(|| "make /sys/fs/cgroup read-only".to_owned())
}
