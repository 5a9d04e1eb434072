//! `pause` and `resume`: the cgroup freezer stops every process of the
//! container at once, where no signal could (a `SIGSTOP` can be seen, and
//! would reach only the processes that exist when it is sent). On cgroup v1
//! it is a controller of its own, `freezer`, in which the container needs a
//! cgroup (this step makes it, as chapter 10's makes the `devices` one); on
//! v2 every cgroup has a `cgroup.freeze` file: chapter 7's. The kernel's
//! `Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst` and
//! `cgroup-v2.rst` ("Core interface files").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, State, Step, StepError};
use ch07_cgroups::{Layout, Version};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

const RECORD: &str = "freezer";

/// Where the container's freezer is, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Freezer {
    /// A v1 freezer cgroup this step made: `freezer.state`.
    V1(PathBuf),
    /// Chapter 7's v2 cgroup: `cgroup.freeze`.
    V2(PathBuf),
}

/// The step that gives the container a freezer.
pub struct FreezerCgroup {
    /// tincan's part of each hierarchy (the config's `cgroupsPath` parent).
    pub parent: PathBuf,
    /// The cgroup's name in `parent`: the container's id if `None`.
    pub name: Option<String>,
}

impl Step for FreezerCgroup {
    fn name(&self) -> &'static str {
        "freezer"
    }

    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        let Some(freezer) = where_it_is(self, cx)? else {
            return Ok(()); // no freezer: `pause` will say so
        };
        // v2's is chapter 7's cgroup, which it makes (and refuses if it
        // exists): recorded once the child is in it, so that a record never
        // names another container's cgroup, whose processes `delete` would
        // kill ([`kill_the_rest`]).
        let Freezer::V1(dir) = freezer else { return Ok(()) };
        // Someone else's (an engine may name the cgroup): not ours to thaw,
        // empty or remove.
        if dir.exists() {
            let error = StepError::new("make the freezer cgroup", nix::errno::Errno::EEXIST);
            return Err(
                error.hint(format!("{} exists already: another container's?", dir.display()))
            );
        }
        let freezer = Freezer::V1(dir.clone());
        cx.state.record(RECORD, &freezer).doing(|| "record the freezer".into())?;
        // One made since the check above is someone else's: not recorded as ours.
        if let Err(e) = ch07_cgroups::make_leaf(&dir) {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                let _ = cx.state.forget(RECORD);
            }
            return Err(e).doing(|| format!("create {}", dir.display()));
        }
        Ok(())
    }

    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        match recorded(cx.state)? {
            Some(Freezer::V1(dir)) => {
                let procs = dir.join("cgroup.procs");
                std::fs::write(&procs, child.to_string())
                    .doing(|| format!("write {}", procs.display()))
            }
            Some(Freezer::V2(_)) => Ok(()),
            // v2: the cgroup chapter 7 made, and put the child in.
            None => match v2_dir(self, cx)? {
                Some(dir) => {
                    cx.state.record(RECORD, &Freezer::V2(dir)).doing(|| "record the freezer".into())
                }
                None => Ok(()),
            },
        }
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(())
    }

    /// The v1 cgroup, once its processes are gone (thawed first: a frozen
    /// process never dies), and tincan's empty parents up to the mount.
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        if let Some(Freezer::V1(dir)) = recorded(cx.state)? {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if Instant::now() > deadline => {
                        return Err(e).doing(|| format!("remove {}", dir.display()));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            let mut parent = dir.parent();
            while let Some(p) = parent
                .filter(|p| p.join("freezer.state").exists() && std::fs::remove_dir(p).is_ok())
            {
                parent = p.parent();
            }
        }
        cx.state.forget(RECORD).doing(|| "forget the freezer".into())
    }
}

/// Where the container's freezer is on this host: v1's controller if it is
/// mounted, else v2's cgroup; `None` if neither.
fn where_it_is(step: &FreezerCgroup, cx: &Context) -> Result<Option<Freezer>, StepError> {
    let layout = Layout::detected().doing(|| "read /proc/self/mountinfo".into())?;
    let v1 = layout
        .hierarchies
        .iter()
        .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == "freezer"));
    let name = step.name.as_deref().unwrap_or(&cx.container.id);
    Ok(match (v1, layout.hierarchies.iter().find(|h| h.version == Version::V2)) {
        (Some(v1), _) => Some(Freezer::V1(v1.mount.join(&step.parent).join(name))),
        (None, Some(v2)) => Some(Freezer::V2(v2.mount.join(&step.parent).join(name))),
        (None, None) => None,
    })
}

/// The v2 cgroup, when that is the freezer.
fn v2_dir(step: &FreezerCgroup, cx: &Context) -> Result<Option<PathBuf>, StepError> {
    Ok(match where_it_is(step, cx)? {
        Some(Freezer::V2(dir)) => Some(dir),
        _ => None,
    })
}

fn recorded(state: &State) -> Result<Option<Freezer>, StepError> {
    state.recorded(RECORD).doing(|| "read the freezer's record".into())
}

/// Freeze (`true`) or thaw the container, and wait until the kernel has.
pub fn set(state: &State, frozen: bool) -> Result<(), String> {
    let freezer = recorded(state).map_err(|e| e.to_string())?;
    let Some(freezer) = freezer else {
        return Err("this host has no cgroup freezer (neither v1's controller nor v2)".into());
    };
    let (file, value) = match (&freezer, frozen) {
        (Freezer::V1(dir), true) => (dir.join("freezer.state"), "FROZEN"),
        (Freezer::V1(dir), false) => (dir.join("freezer.state"), "THAWED"),
        (Freezer::V2(dir), true) => (dir.join("cgroup.freeze"), "1"),
        (Freezer::V2(dir), false) => (dir.join("cgroup.freeze"), "0"),
    };
    std::fs::write(&file, value)
        .map_err(|e| format!("write {value} to {}: {e}", file.display()))?;
    // Freezing takes a moment (v1 says FREEZING meanwhile).
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_frozen(&freezer) != frozen {
        if Instant::now() > deadline {
            return Err(format!(
                "the container did not {} in 5 s",
                if frozen { "freeze" } else { "thaw" }
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Whether the container's processes are frozen.
pub fn frozen(state: &State) -> bool {
    matches!(recorded(state), Ok(Some(f)) if is_frozen(&f))
}

fn is_frozen(freezer: &Freezer) -> bool {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    match freezer {
        Freezer::V1(dir) => read(&dir.join("freezer.state")).trim() == "FROZEN",
        Freezer::V2(dir) => read(&dir.join("cgroup.events")).lines().any(|l| l == "frozen 1"),
    }
}

/// The directory of the container's freezer cgroup, if it has one.
fn dir(state: &State) -> Option<PathBuf> {
    match recorded(state) {
        Ok(Some(Freezer::V1(dir) | Freezer::V2(dir))) => Some(dir),
        _ => None,
    }
}

/// The container's processes, as its freezer's cgroup lists them (every
/// process it ever started, `exec`'s too, in whatever PID namespace), `init`
/// first. Empty without a freezer.
pub fn processes(state: &State, init: i32) -> Vec<i32> {
    let Some(dir) = dir(state) else { return Vec::new() };
    let mut pids = listed(&dir);
    pids.sort_by_key(|pid| (*pid != init, *pid));
    pids
}

fn listed(dir: &Path) -> Vec<i32> {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    procs.lines().filter_map(|l| l.parse().ok()).collect()
}

/// Kill whatever is left in the container's cgroup once its first process
/// is gone. In a PID namespace of its own the kernel has done so already;
/// in one it joined, its other processes live on, and would keep the cgroup
/// from being removed. Frozen meanwhile, as runc does, so that none can
/// fork a process we would miss; then waited for (a frozen process dies
/// once thawed), and any that slipped through killed too.
pub fn kill_the_rest(state: &State) {
    let Some(dir) = dir(state).filter(|dir| !listed(dir).is_empty()) else { return };
    let frozen = set(state, true).is_ok();
    kill_listed(&dir);
    if frozen {
        let _ = set(state, false);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed(&dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        kill_listed(&dir);
    }
}

fn kill_listed(dir: &Path) {
    for pid in listed(dir) {
        // A pidfd first, then the check that it is still in the cgroup: from
        // then on the signal cannot reach a process that reused the PID.
        let Ok(pidfd) = ch00_process::clone::pidfd_open(Pid::from_raw(pid)) else { continue };
        if listed(dir).contains(&pid) {
            let _ = ch00_process::clone::send_signal(&pidfd, nix::sys::signal::Signal::SIGKILL);
        }
    }
}
