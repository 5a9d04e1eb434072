//! The container's cgroup: made, limited, joined, read, removed.
//!
//! It is a directory `PARENT/ID` in each hierarchy that holds one of our
//! controllers (one directory on v2; up to four on v1). PARENT (`tincan` unless
//! `--cgroup-parent` says otherwise) belongs to tincan: we never write to, or
//! move a process out of, a cgroup we did not make.
//!
//! With `mkdir`, `echo`, `cat` and `rmdir` on a v2 host:
//!
//! ```text
//! mkdir /sys/fs/cgroup/tincan
//! echo "+memory +cpu +io +pids" > /sys/fs/cgroup/tincan/cgroup.subtree_control
//! mkdir /sys/fs/cgroup/tincan/ID
//! echo 67108864 > /sys/fs/cgroup/tincan/ID/memory.max
//! echo PID > /sys/fs/cgroup/tincan/ID/cgroup.procs
//! ...                                         # the container runs, and ends
//! grep oom_kill /sys/fs/cgroup/tincan/ID/memory.events
//! rmdir /sys/fs/cgroup/tincan/ID /sys/fs/cgroup/tincan
//! ```

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ch00_process::clone::{pidfd_open, send_signal};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::hierarchy::{Hierarchy, Layout, Version};
use crate::limits::{Controller, Limits};

/// What went wrong with the container's cgroup, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "this host has no cgroups mounted (look for cgroup or cgroup2 in /proc/self/mountinfo)"
    )]
    NoCgroups,
    #[error(
        "the host has no {controller} controller, which {option} needs (is it mounted? see /proc/cgroups)"
    )]
    NoController { controller: &'static str, option: &'static str },
    #[error(
        "cgroup v2: the {controller} controller is not enabled for {root}'s children; enable it with `echo +{controller} > {root}/cgroup.subtree_control` (systemd does this on most hosts)",
        root = .root.display()
    )]
    NotDelegated { controller: &'static str, root: PathBuf },
    #[error("{action} {path}: {source}", path = .path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} still holds processes after they were killed", .0.display())]
    StillBusy(PathBuf),
    #[error(
        "the cgroup {} exists already: another container's? (a container's cgroup is its own; give another name)",
        .0.display()
    )]
    Exists(PathBuf),
}

impl CgroupError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
        let path = path.to_owned();
        move |source| CgroupError::Io { action, path, source }
    }

    /// The OS error behind this one, for the runtime's error report.
    pub fn errno(&self) -> nix::errno::Errno {
        use nix::errno::Errno;
        match self {
            CgroupError::Io { source, .. } => {
                source.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
            }
            CgroupError::StillBusy(_) => Errno::EBUSY,
            CgroupError::Exists(_) => Errno::EEXIST,
            _ => Errno::ENOTSUP,
        }
    }
}

/// One directory of the container's cgroup: its path in one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dir {
    /// The hierarchy: its version, its controllers, and where it is mounted
    /// (to climb no higher when tidying up).
    hierarchy: Hierarchy,
    path: PathBuf,
}

impl Dir {
    fn holds(&self, controller: Controller) -> bool {
        self.hierarchy.has(controller)
    }
}

/// The container's cgroup, in every hierarchy that holds one of our controllers.
/// It can be written down (a record in the container's state) and rebuilt from
/// that, for a clean-up by a runtime that never saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cgroup {
    dirs: Vec<Dir>,
}

impl Cgroup {
    // ANCHOR: create
    /// The cgroup `parent/name` in each hierarchy we use, not made yet. `needed`
    /// are the controllers the limits need: a host without one of them is an
    /// error, a host without one that nobody asked for is fine.
    pub fn new(
        layout: &Layout,
        parent: &Path,
        name: &str,
        needed: &[(Controller, &'static str)],
    ) -> Result<Cgroup, CgroupError> {
        if layout.hierarchies.is_empty() {
            return Err(CgroupError::NoCgroups);
        }
        for (controller, option) in needed {
            if layout.find(*controller).is_none() {
                let controller = controller.name(Version::V2);
                return Err(CgroupError::NoController { controller, option });
            }
        }
        let dirs = layout
            .used()
            .into_iter()
            .map(|h| Dir { hierarchy: h.clone(), path: h.mount.join(parent).join(name) })
            .collect();
        Ok(Cgroup { dirs })
    }

    /// The first of its directories that exists already: a cgroup this
    /// container may not take (nor, when it fails, take down).
    pub fn existing(&self) -> Option<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).find(|p| p.exists())
    }

    /// Make the directories (and the parents, on v2 with our controllers handed
    /// down to their children).
    pub fn make(
        &self,
        parent: &Path,
        needed: &[(Controller, &'static str)],
    ) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            make_dir(dir, parent, needed)?;
        }
        Ok(())
    }
    // ANCHOR_END: create

    /// Write the limits, each into the directory of its controller's hierarchy
    /// and in that hierarchy's version's terms.
    pub fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            for setting in
                limits.settings(dir.hierarchy.version).iter().filter(|s| dir.holds(s.controller))
            {
                let file = setting
                    .files
                    .iter()
                    .map(|f| dir.path.join(f))
                    .find(|p| p.exists())
                    .unwrap_or_else(|| dir.path.join(setting.files[0]));
                fs::write(&file, &setting.value)
                    .map_err(CgroupError::io("write a limit into", &file))?;
            }
        }
        Ok(())
    }

    // ANCHOR: clone_into
    /// On cgroup v2, the cgroup's directory, opened for `clone3(2)`'s
    /// `CLONE_INTO_CGROUP`: the container is then *born* in its cgroup.
    pub fn v2_dir(&self) -> Result<Option<OwnedFd>, CgroupError> {
        let Some(dir) = self.dirs.iter().find(|d| d.hierarchy.version == Version::V2) else {
            return Ok(None);
        };
        // EXERCISE(ch07-cgroups-v2): open the v2 cgroup's directory for clone3.
        // hint: std::fs::File::open on a directory gives a descriptor for it;
        // `.into()` makes it an OwnedFd; map an error with
        // CgroupError::io("open", &dir.path).
        let file = fs::File::open(&dir.path).map_err(CgroupError::io("open", &dir.path))?;
        Ok(Some(file.into()))
        // END EXERCISE
    }
    // ANCHOR_END: clone_into

    // ANCHOR: add
    /// On cgroup v1, where a process cannot be born in a cgroup: move `pid` (the
    /// container, still waiting to start) into the cgroup of each v1 hierarchy.
    /// Its children will be born in it. Can it leave? A process moves by writing
    /// to a cgroup's `cgroup.procs`, and the container's cgroup file system is
    /// mounted read-only — but it is root with every capability, so it could mount
    /// another one; taking that power away is a later chapter's work
    /// (capabilities).
    pub fn add(&self, pid: Pid) -> Result<(), CgroupError> {
        for dir in self.dirs.iter().filter(|d| d.hierarchy.version == Version::V1) {
            // EXERCISE(ch07-cgroups): move `pid` into this directory's cgroup.
            // hint: a process joins a cgroup when its PID is written to the
            // cgroup's `cgroup.procs` file; map an error with
            // CgroupError::io("add the container to", &path).
            let procs = dir.path.join("cgroup.procs");
            fs::write(&procs, pid.to_string())
                .map_err(CgroupError::io("add the container to", &procs))?;
            // END EXERCISE
        }
        Ok(())
    }
    // ANCHOR_END: add

    // ANCHOR: oom_kills
    /// How many of the container's processes the kernel's OOM killer killed.
    pub fn oom_kills(&self) -> Option<u64> {
        let dir = self.dir_of(Controller::Memory)?;
        // v2 counts events in memory.events; v1 in memory.oom_control (since 4.13).
        let file = match dir.hierarchy.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        count(&dir.path.join(file), "oom_kill")
    }
    // ANCHOR_END: oom_kills

    // ANCHOR: forks_refused
    /// How many times the kernel refused a fork at the pids limit (`pids.events`,
    /// in both versions).
    pub fn forks_refused(&self) -> Option<u64> {
        count(&self.dir_of(Controller::Pids)?.path.join("pids.events"), "max")
    }
    // ANCHOR_END: forks_refused

    /// The directory in the hierarchy that holds `controller`.
    fn dir_of(&self, controller: Controller) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.holds(controller))
    }

    // ANCHOR: remove
    /// Remove the cgroup, and its parents if no other container uses them.
    ///
    /// A cgroup can be removed only when no process is in it. When the
    /// container's PID 1 exits, the kernel kills the rest of its processes, but
    /// they take a moment to die; we wait for that, then kill what is left (only
    /// the container's processes can be in here).
    pub fn remove(&self) -> Result<(), CgroupError> {
        // Every directory, even when one of them fails; the first failure is reported.
        let removed: Vec<Result<(), CgroupError>> = self.dirs.iter().map(remove_dir).collect();
        removed.into_iter().collect()
    }
    // ANCHOR_END: remove
}

/// The number after `key ` in a flat-keyed cgroup file (`oom_kill 1`).
fn count(file: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Make `parent/name` in one hierarchy.
fn make_dir(
    dir: &Dir,
    parent: &Path,
    needed: &[(Controller, &'static str)],
) -> Result<(), CgroupError> {
    let hierarchy = &dir.hierarchy;
    let v2 = hierarchy.version == Version::V2;
    if v2 {
        check_delegated(&hierarchy.mount, needed)?;
    }
    // Another container's clean-up may remove a parent between our `mkdir -p` and
    // our `mkdir`: then simply make it again.
    for _ in 0..10 {
        let mut path = hierarchy.mount.clone();
        for component in parent.components() {
            path.push(component);
            let made = match fs::create_dir(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(CgroupError::io("create the cgroup", &path)(e)),
            };
            // v2: hand our controllers down from a parent we just made; one that
            // existed (ours from an earlier run, or the host's) must already
            // hand down what the limits need — we never write to a cgroup we
            // did not make.
            match (v2, made) {
                (true, true) => enable_controllers(&path)?,
                (true, false) => check_delegated(&path, needed)?,
                (false, _) => {}
            }
        }
        match fs::create_dir(&dir.path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CgroupError::io("create the cgroup", &dir.path)(e)),
        }
    }
    Err(CgroupError::io("create the cgroup", &dir.path)(io::ErrorKind::NotFound.into()))
}

/// `mkdir -p` of `dir`'s parents, then `mkdir` of `dir` itself, which fails
/// with `AlreadyExists` if someone made it first: a container's cgroup is
/// its own. Another container's clean-up may remove an empty parent in
/// between: then it is made again. (For the cgroups a runtime makes beside
/// this chapter's: chapter 10's devices, the OCI runtime's freezer.)
pub fn make_leaf(dir: &Path) -> io::Result<()> {
    for _ in 0..10 {
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)?;
        }
        match fs::create_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            done => return done,
        }
    }
    Err(io::ErrorKind::NotFound.into())
}

/// v2's "no internal processes" rule: a cgroup hands controllers to its children
/// only through `cgroup.subtree_control`, and the root's is the host's to set.
/// A controller the limits need must be handed down; the others are used if they are.
fn check_delegated(
    cgroup: &Path,
    needed: &[(Controller, &'static str)],
) -> Result<(), CgroupError> {
    let control = cgroup.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).map_err(CgroupError::io("read", &control))?;
    for (controller, _) in needed {
        let name = controller.name(Version::V2);
        if !enabled.split_whitespace().any(|c| c == name) {
            return Err(CgroupError::NotDelegated { controller: name, root: cgroup.to_owned() });
        }
    }
    Ok(())
}

/// Hand our controllers down from one of tincan's own cgroups to its children.
/// (It holds no processes, so v2 allows it.) Also for chapter 9, which hands a
/// user a cgroup of its own.
pub fn enable_controllers(path: &Path) -> Result<(), CgroupError> {
    let available = fs::read_to_string(path.join("cgroup.controllers"))
        .map_err(CgroupError::io("read", &path.join("cgroup.controllers")))?;
    let enable: Vec<String> = Controller::ALL
        .iter()
        .map(|c| c.name(Version::V2))
        .filter(|name| available.split_whitespace().any(|c| c == *name))
        .map(|name| format!("+{name}"))
        .collect();
    let control = path.join("cgroup.subtree_control");
    fs::write(&control, enable.join(" "))
        .map_err(CgroupError::io("enable controllers in", &control))
}

/// Remove one directory of the container's cgroup, then its empty parents up to
/// (not including) the hierarchy's root.
fn remove_dir(dir: &Dir) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut killed = false;
    loop {
        match fs::remove_dir(&dir.path) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            // EBUSY: processes are still in it.
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32) => {
                let waited = start.elapsed();
                if waited > Duration::from_secs(5) {
                    return Err(CgroupError::StillBusy(dir.path.clone()));
                }
                if !killed && waited > Duration::from_secs(1) {
                    kill_all(dir);
                    killed = true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(CgroupError::io("remove the cgroup", &dir.path)(e)),
        }
    }
    // The parents go when they are empty; another container's cgroup keeps them.
    let mut parent = dir.path.parent();
    while let Some(path) =
        parent.filter(|p| p.starts_with(&dir.hierarchy.mount) && *p != dir.hierarchy.mount)
    {
        if fs::remove_dir(path).is_err() {
            break;
        }
        parent = path.parent();
    }
    Ok(())
}

/// Kill whatever is left in the cgroup: v2 has a file for that; on v1, each
/// process by its PID.
fn kill_all(dir: &Dir) {
    if dir.hierarchy.version == Version::V2 && fs::write(dir.path.join("cgroup.kill"), "1").is_ok()
    {
        return;
    }
    // By PID, through a pidfd taken *before* checking that the process is still
    // in our cgroup: a number read from cgroup.procs may have been given to a
    // host process since; a pidfd cannot change its process.
    let ours = format!(
        ":{}",
        Path::new("/")
            .join(dir.path.strip_prefix(&dir.hierarchy.mount).unwrap_or(&dir.path))
            .display()
    );
    let procs = fs::read_to_string(dir.path.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse().ok()).map(Pid::from_raw) {
        let Ok(pidfd) = pidfd_open(pid) else { continue };
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if cgroups.lines().any(|line| line.ends_with(&ours)) {
            let _ = send_signal(&pidfd, Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 root whose subtree_control hands down only `cpu` and `pids`.
    fn root(dir: &Path) -> Hierarchy {
        fs::write(dir.join("cgroup.subtree_control"), "cpu pids\n").unwrap();
        let controllers = ["cpu", "io", "memory", "pids"].map(String::from).to_vec();
        Hierarchy { version: Version::V2, mount: dir.to_owned(), controllers }
    }

    #[test]
    fn a_needed_controller_that_is_not_handed_down_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        root(dir.path());
        let err = check_delegated(dir.path(), &[(Controller::Memory, "--memory")]).unwrap_err();
        let root = dir.path().display();
        assert_eq!(
            err.to_string(),
            format!(
                "cgroup v2: the memory controller is not enabled for {root}'s children; enable it with `echo +memory > {root}/cgroup.subtree_control` (systemd does this on most hosts)"
            )
        );
    }

    #[test]
    fn controllers_nobody_asked_for_need_not_be_handed_down() {
        let dir = tempfile::tempdir().unwrap();
        root(dir.path());
        assert!(check_delegated(dir.path(), &[(Controller::Pids, "--pids-limit")]).is_ok());
        assert!(check_delegated(dir.path(), &[]).is_ok());
    }
}
