//! The runtime's state: one directory a container under `--root`, as runc
//! keeps it, which engines point at. It holds chapter 0's [`State`] (the lock,
//! and the records of what the steps made on the host, for `delete` to take
//! down), the start FIFO while the container is created, and `runtime-state`:
//! what `state` prints, and how to tell whether the process is still ours.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use ch00_process::State;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::{Deserialize, Serialize};

use crate::gate::FIFO;
use crate::lifecycle::Status;

/// The default `--root`: beside the chapters' own state (`/run/tincan`),
/// not in it, so that no container id can be one of their directories.
pub const DEFAULT_ROOT: &str = "/run/tincan/runtime";

/// What `runtime-state` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The bundle's absolute path.
    pub bundle: PathBuf,
    /// The container's first process, as the host sees it.
    pub pid: i32,
    /// When that process started, in clock ticks since boot (`/proc/PID/stat`,
    /// field 22): a PID may be reused once the process is gone, its start time
    /// tells the two apart.
    pub started_at: u64,
    /// The bundle's annotations, which `state` reports.
    pub annotations: std::collections::HashMap<String, String>,
    /// When the container was created (RFC 3339), as runc reports it.
    pub created: String,
    /// The config's system-call filter, as it was at `create`: every process
    /// `exec` adds gets the same, whatever the bundle holds by then (runc
    /// keeps its config in its state too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The config's hooks, as they were at `create`: `start` runs the
    /// `poststart` ones, `delete` the `poststop` ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// Not a `.json` record of chapter 0's (those are objects on the host to take down).
const RECORD: &str = "runtime-state";

/// The error for a container that does not exist, in runc's words.
pub fn not_found(id: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("container {id} does not exist"))
}

/// The directory of container `id` under `root`, once `id` is a valid one:
/// runc's rule (letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`), so
/// that it names a directory under `root` and nothing else.
pub fn dir(root: &Path, id: &str) -> io::Result<PathBuf> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+-.".contains(c);
    // A name starting with `.` is the runtime's own: a state being written
    // (`.new-ID`), the seccomp cache (`.cache`).
    if id.is_empty() || id.starts_with('.') || !id.chars().all(allowed) || id.len() > 1024 {
        let why =
            format!("invalid container id {id:?}: use letters, digits, _ + - and . (not first)");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    Ok(root.join(id))
}

/// Lock container `id`'s state, waiting for another command on it to
/// finish — but not for `create`. Until `create` has written the record, the
/// container does not exist for other commands, as runc and crun answer too;
/// and a hook of `create`'s (`prestart`, `createRuntime`) that asks the
/// runtime about it must not wait for `create`, which waits for the hook.
pub fn open(root: &Path, id: &str) -> io::Result<State> {
    let dir = dir(root, id)?;
    let found = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => not_found(id),
        _ => e,
    };
    match State::try_open(&dir).map_err(found)? {
        Some(state) => Ok(state),
        // (Or a `delete` has removed the record already.)
        None if !dir.join(RECORD).exists() => {
            let why = format!("container {id} does not exist: it is being created, or deleted");
            Err(io::Error::new(io::ErrorKind::NotFound, why))
        }
        // Another command on it (`start`, `kill`, ...): its turn is short.
        None => State::open(&dir).map_err(found),
    }
}

/// [`open`], also waiting for a `create` still making the container (the
/// face's own `run` makes those it asks about).
pub fn open_after_create(root: &Path, id: &str) -> io::Result<State> {
    State::open(&dir(root, id)?).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => not_found(id),
        _ => e,
    })
}

/// [`open`] for `delete --force`: a `create` still making the container is
/// killed, and what it made is then taken down from its records, as after
/// any crash. An engine that forces a delete there has given up on that
/// `create` — one whose hook hangs with no `timeout` would otherwise hold
/// the container for good. (runc and crun remove the state under the
/// running `create`, which then fails half-way.)
pub fn open_ending_create(root: &Path, id: &str) -> io::Result<State> {
    let dir = dir(root, id)?;
    let found = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => not_found(id),
        _ => e,
    };
    let mut ended = false;
    loop {
        if let Some(state) = State::try_open(&dir).map_err(found)? {
            return Ok(state);
        }
        // Another command on it: its turn is short.
        if dir.join(RECORD).exists() {
            return State::open(&dir).map_err(found);
        }
        // Held with no record: by its `create` (once that has said so), or
        // by a `delete` that has removed the record already.
        if !ended {
            ended = end_creator(&dir)?;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Who is creating the container: `create`'s PID and start time, written
/// as soon as its state is there, so that `delete --force` can end that
/// process — and no other that has its PID since.
const CREATOR: &str = "creating";

/// Say that this process is creating the container of `state`.
pub fn write_creator(state: &State) -> io::Result<()> {
    let me = std::process::id() as i32;
    let started = started_at(me).ok_or_else(|| io::Error::other("no start time of our own"))?;
    fs::write(state.dir().join(CREATOR), format!("{me} {started}\n"))
}

/// SIGKILL the `create` of the container in `dir` if it still runs, and wait
/// until it has ended (its hooks are told as it exits: `hooks.rs`). Whether
/// one was ended.
fn end_creator(dir: &Path) -> io::Result<bool> {
    use ch00_process::clone::{pidfd_open, send_signal};
    use nix::errno::Errno;
    let Ok(said) = fs::read_to_string(dir.join(CREATOR)) else { return Ok(false) };
    let mut words = said.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(started))) = (words.next(), words.next()) else {
        return Ok(false);
    };
    let pid = pid as i32;
    let pidfd = match pidfd_open(nix::unistd::Pid::from_raw(pid)) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(false), // ended by itself
        Err(e) => return Err(e.into()),
    };
    // Pinned by the pidfd: its start time tells it from a later process
    // with the same PID.
    if started_at(pid) != Some(started) {
        return Ok(false);
    }
    match send_signal(&pidfd, nix::sys::signal::Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => return Err(e.into()),
    }
    // A pidfd turns readable once its process has ended.
    let mut ready = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    poll(&mut ready, PollTimeout::from(10_000u16)).map_err(io::Error::from)?;
    Ok(true)
}

/// Write the record, atomically (a crash leaves the old one or the new one).
pub fn write(state: &State, record: &Record) -> io::Result<()> {
    let partial = state.dir().join(format!(".{RECORD}.partial"));
    fs::write(&partial, serde_json::to_vec_pretty(record)?)?;
    fs::rename(partial, state.dir().join(RECORD))
}

/// Read the record; `None` while `create` has not written it yet.
pub fn read(state: &State) -> io::Result<Option<Record>> {
    match fs::read(state.dir().join(RECORD)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The container's status now: its process alive (and still the same
/// process) and waiting at the FIFO, or running, or gone.
pub fn status(state: &State, record: Option<&Record>) -> Status {
    let Some(record) = record else { return Status::Creating };
    if started_at(record.pid) != Some(record.started_at) || is_zombie(record.pid) {
        return Status::Stopped;
    }
    if state.dir().join(FIFO).exists() {
        return Status::Created;
    }
    if crate::freezer::frozen(state) { Status::Paused } else { Status::Running }
}

/// Field 22 of `/proc/PID/stat`, the process's start time; `None` if there
/// is no such process.
pub fn started_at(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19)?.parse().ok()
}

fn is_zombie(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')').and_then(|at| stat.get(at + 2..at + 3)) == Some("Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_name_that_does_not_start_with_a_dot() {
        let root = Path::new("/run/x");
        assert_eq!(dir(root, "web-1.a_b+c").unwrap(), root.join("web-1.a_b+c"));
        for bad in ["", ".", "..", ".cache", ".new-x", "a/b", "a b", &"x".repeat(1025)] {
            let e = dir(root, bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn a_live_process_has_a_start_time_and_a_gone_one_none() {
        let me = std::process::id() as i32;
        let started = started_at(me).expect("our own start time");
        assert_eq!(started_at(me), Some(started), "it does not change");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(started_at(pid), None, "reaped: no such process");
    }
}
