//! Where the host keeps its cgroups: which version, which controllers, where.
//!
//! A cgroup *hierarchy* is a tree of directories in a `cgroup` (v1) or `cgroup2`
//! (v2) file system; a *controller* (memory, cpu, pids, io) is attached to exactly
//! one hierarchy. The mount table says where each is:
//!
//! - **v2 ("unified")**: one `cgroup2` mount, usually `/sys/fs/cgroup`; its
//!   `cgroup.controllers` lists the controllers it holds. Most machines today.
//! - **v1 ("legacy")**: one `cgroup` mount per controller or group of controllers,
//!   usually `/sys/fs/cgroup/memory`, `/sys/fs/cgroup/cpu,cpuacct`, ...; the mount
//!   options name the controllers.
//! - **hybrid**: v1 mounts for the controllers, and a `cgroup2` mount (often
//!   `/sys/fs/cgroup/unified`) with few or none. Some CI machines, and ours.
//!
//! Which is which is read from `/proc/self/mountinfo`, never assumed from a path.

use std::path::{Path, PathBuf};

use crate::limits::Controller;

/// A cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Version {
    V1,
    V2,
}

/// How the host's cgroups are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup v2.
    Unified,
    /// Only cgroup v1.
    Legacy,
    /// Both: v1 hierarchies and a v2 one.
    Hybrid,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hierarchy {
    pub version: Version,
    /// Where it is mounted on the host.
    pub mount: PathBuf,
    /// The controllers attached to it.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// Does this hierarchy hold `controller`?
    pub fn has(&self, controller: Controller) -> bool {
        self.controllers.iter().any(|c| c == controller.name(self.version))
    }
}

/// Every cgroup hierarchy the host has mounted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// Read the layout from this process's mount table.
    pub fn detect() -> std::io::Result<Layout> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Ok(Layout::parse(&mountinfo, |mount| {
            std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default()
        }))
    }

    /// [`Layout::detect`], read once per process and then remembered. A
    /// runtime's steps each need the layout (its cgroup, its devices, its
    /// freezer, and their clean-up), and reading the mount table costs
    /// about a tenth of a millisecond each time; a runtime lives a few
    /// milliseconds, and its own mount table does not change meanwhile (the
    /// container mounts in a namespace of its own).
    pub fn detected() -> std::io::Result<Layout> {
        static ONCE: std::sync::OnceLock<Result<Layout, i32>> = std::sync::OnceLock::new();
        let once = ONCE.get_or_init(|| {
            Layout::detect().map_err(|e| e.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32))
        });
        once.clone().map_err(std::io::Error::from_raw_os_error)
    }

    /// The layout described by a mount table. `v2_controllers` reads a cgroup2
    /// mount's `cgroup.controllers`, which the mount table does not show.
    pub fn parse(mountinfo: &str, v2_controllers: impl Fn(&Path) -> String) -> Layout {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut seen_devices = Vec::new();
        for line in mountinfo.lines() {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER_OPTIONS
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
            let (Some(device), Some(mount), Some(fstype)) =
                (fields.get(2), fields.get(4), fields.get(dash + 1))
            else {
                continue;
            };
            // A hierarchy mounted twice (a bind mount) is still one hierarchy.
            if !matches!(*fstype, "cgroup" | "cgroup2") || seen_devices.contains(device) {
                continue;
            }
            seen_devices.push(*device);
            let mount = PathBuf::from(unescape(mount));
            let hierarchy = if *fstype == "cgroup2" {
                let controllers = v2_controllers(&mount);
                let controllers = controllers.split_whitespace().map(str::to_owned).collect();
                Hierarchy { version: Version::V2, mount, controllers }
            } else {
                // v1's super options are like "rw,cpu,cpuacct": the controllers,
                // plus flags and `name=` for hierarchies with none (systemd's).
                let options = fields.get(dash + 3).copied().unwrap_or("");
                let controllers = options
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                    .filter(|o| !o.starts_with("noprefix") && *o != "clone_children")
                    .map(str::to_owned)
                    .collect();
                Hierarchy { version: Version::V1, mount, controllers }
            };
            hierarchies.push(hierarchy);
        }
        Layout { hierarchies }
    }

    /// v2, v1 or both. `None` if there are no cgroups mounted at all.
    pub fn mode(&self) -> Option<Mode> {
        let v1 =
            self.hierarchies.iter().any(|h| h.version == Version::V1 && !h.controllers.is_empty());
        let v2 = self.hierarchies.iter().any(|h| h.version == Version::V2);
        match (v1, v2) {
            (true, true) => Some(Mode::Hybrid),
            (true, false) => Some(Mode::Legacy),
            (false, true) => Some(Mode::Unified),
            (false, false) => None,
        }
    }

    /// The hierarchy that holds `controller`, if the host has it.
    pub fn find(&self, controller: Controller) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.has(controller))
    }

    /// The hierarchies that hold the controllers we use, each once (v1 may
    /// mount cpu with cpuacct; v2 holds them all).
    pub fn used(&self) -> Vec<&Hierarchy> {
        let mut used: Vec<&Hierarchy> = Vec::new();
        for controller in Controller::ALL {
            if let Some(h) = self.find(controller)
                && !used.contains(&h)
            {
                used.push(h);
            }
        }
        used
    }
}

/// The mount table escapes spaces and a few other bytes as `\NNN` (octal).
fn unescape(field: &str) -> String {
    let mut out = Vec::new();
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok());
        match (bytes[i], octal.and_then(|d| u8::from_str_radix(d, 8).ok())) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount table of our CI machines: hybrid, cpu and cpuacct apart.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd machine of the v1 era: cpu and cpuacct together, plus a bind mount.
    const LEGACY: &str = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
27 24 0:23 / /mnt/memory\\040again rw,nosuid - cgroup cgroup rw,memory
";

    const UNIFIED: &str = "25 24 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    fn parse(table: &str, v2: &str) -> Layout {
        Layout::parse(table, |_| v2.to_owned())
    }

    #[test]
    fn hybrid_uses_the_v1_controllers() {
        let layout = parse(HYBRID, "hugetlb\n");
        assert_eq!(layout.mode(), Some(Mode::Hybrid));
        let memory = layout.find(Controller::Memory).unwrap();
        assert_eq!(
            (memory.version, memory.mount.as_path()),
            (Version::V1, Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(layout.find(Controller::Io).unwrap().controllers, ["blkio"]);
        let used: Vec<_> = layout.used().iter().map(|h| h.mount.clone()).collect();
        assert_eq!(used.len(), 4, "memory, cpu, pids, blkio: {used:?}");
    }

    #[test]
    fn co_mounted_controllers_are_one_hierarchy() {
        let layout = parse(LEGACY, "");
        assert_eq!(layout.mode(), Some(Mode::Legacy));
        assert_eq!(layout.find(Controller::Cpu).unwrap().controllers, ["cpu", "cpuacct"]);
        assert_eq!(layout.hierarchies.len(), 2, "the bind mount is the same hierarchy");
        assert_eq!(layout.find(Controller::Pids), None);
    }

    #[test]
    fn unified_holds_every_controller_in_one_tree() {
        let layout = parse(UNIFIED, "cpuset cpu io memory hugetlb pids\n");
        assert_eq!(layout.mode(), Some(Mode::Unified));
        assert_eq!(layout.used().len(), 1);
        assert_eq!(layout.find(Controller::Io).unwrap().version, Version::V2);
        assert_eq!(parse("", "").mode(), None);
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        assert_eq!(unescape("/mnt/memory\\040again"), "/mnt/memory again");
    }
}
