//! The chapter's step: put the container in a cgroup of its own, with its limits,
//! before it starts; show it only that cgroup; remove the cgroup when it ends.

use std::cell::RefCell;
use std::path::PathBuf;

use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::Pid;

use crate::cgroup::{Cgroup, CgroupError};
use crate::hierarchy::{Layout, Version};
use crate::limits::{Bytes, Limits};

/// A cgroup of the container's own, with its limits.
pub struct Cgroups {
    pub limits: Limits,
    /// Relative to each hierarchy's root: tincan's part of the tree.
    pub parent: PathBuf,
    /// Read when the plan is made, before `clone(2)`: the child needs it after
    /// `pivot_root`, when the host's mount table is out of its sight.
    layout: Result<Layout, Errno>,
    cgroup: RefCell<Option<Cgroup>>,
}

impl Cgroups {
    pub fn new(limits: Limits, parent: PathBuf) -> Self {
        let layout =
            Layout::detect().map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw));
        Cgroups { limits, parent, layout, cgroup: RefCell::new(None) }
    }

    fn layout(&self) -> Result<&Layout, StepError> {
        self.layout.as_ref().map_err(|errno| StepError::new("read /proc/self/mountinfo", *errno))
    }
}

// ANCHOR: step
impl Step for Cgroups {
    fn name(&self) -> &'static str {
        "cgroup"
    }

    /// From outside, while the container waits: make its cgroup, write the
    /// limits, and move it in. Everything it runs from now on is born inside.
    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        self.limits
            .check()
            .map_err(|e| StepError::new("check the limits", Errno::EINVAL).hint(e.to_string()))?;
        let layout = self.layout()?;
        let cgroup =
            Cgroup::create(layout, &self.parent, &cx.container.id, &self.limits.controllers())
                .map_err(step_error)?;
        cgroup.apply(&self.limits).map_err(step_error)?;
        cgroup.add(child).map_err(step_error)?;
        *self.cgroup.borrow_mut() = Some(cgroup);
        Ok(())
    }

    /// Inside: a cgroup namespace, so that the container's own cgroup is its
    /// `/`, and the cgroup file system at `/sys/fs/cgroup`, read-only.
    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // Now, not at clone(2): a cgroup namespace is rooted at the cgroup its
        // creator is in, and only now are we in ours.
        unshare(CloneFlags::CLONE_NEWCGROUP).doing(|| "unshare the cgroup namespace".to_owned())?;
        mount_cgroup_fs(self.layout()?)
    }

    fn why_it_ended(&self, _cx: &Context) -> Option<String> {
        let kills = self.cgroup.borrow().as_ref()?.oom_kills()?;
        if kills == 0 {
            return None;
        }
        let processes =
            if kills == 1 { "a process".to_owned() } else { format!("{kills} processes") };
        Some(match self.limits.memory {
            Some(limit) => format!(
                "out of memory: the kernel killed {processes} of the container at its memory limit of {} (--memory)",
                Bytes(limit)
            ),
            None => format!(
                "out of memory: the kernel killed {processes} of the container (the host ran out; there was no --memory limit)"
            ),
        })
    }

    fn after_exit(&self, _cx: &Context) -> Result<(), StepError> {
        match self.cgroup.borrow_mut().take() {
            Some(cgroup) => cgroup.remove().map_err(step_error),
            None => Ok(()),
        }
    }
}
// ANCHOR_END: step

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
