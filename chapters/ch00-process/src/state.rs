//! What the runtime has made on the host, written down *before* it is made.
//!
//! A container leaves things on the host: a mount (chapter 2), an address lease,
//! a veth pair and firewall rules (chapter 6), a cgroup (chapter 7). The runtime
//! takes them down when the container ends. But a runtime can die before that —
//! `kill -9`, a crash, a reboot of a laptop in the middle — and then whatever it
//! made stays: a published port that still sends traffic to an address the next
//! container will get, an empty cgroup, a lease that is never given back.
//!
//! So every container gets a directory, `STATE/containers/ID/`, and each step
//! *records* an object there before making it (a record for a thing not made yet
//! is harmless: its clean-up finds nothing). The clean-up after the container
//! ends reads the same records; so does `chNN cleanup` for a runtime that died.
//!
//! Who is alive? The directory holds a `lock` file that the runtime keeps locked
//! (`flock(2)`) for as long as it runs. The kernel drops the lock when the process
//! dies, however it dies, so "I can take the lock" means "its runtime is gone" —
//! unlike a PID written in a file, which a new process may have taken since.
//! (`man 2 flock`)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Container;

/// Where tincan keeps what runtimes must share or leave behind: `$TINCAN_STATE_DIR`;
/// else `/run/tincan` for root, `$XDG_RUNTIME_DIR/tincan` for a user (both are
/// tmpfs: a reboot, which also ends every container, empties them).
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TINCAN_STATE_DIR") {
        return dir.into();
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !nix::unistd::geteuid().is_root() => PathBuf::from(dir).join("tincan"),
        _ => "/run/tincan".into(),
    }
}

/// One container's state directory, locked by this process.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    _lock: Flock<File>,
}

/// The file that describes the container, for a clean-up after its runtime died.
const CONTAINER: &str = "container.json";
/// Records end in `.json`; anything else in the directory is the state's own.
const RECORD: &str = ".json";

impl State {
    /// Make and lock the state directory of `container` under `root`.
    ///
    /// It is built under a hidden name and renamed into place once locked, so a
    /// clean-up looking for dead runtimes never finds a directory that is not
    /// locked yet because its runtime has only just started.
    pub fn create(root: &Path, container: &Container) -> io::Result<State> {
        State::create_in(&root.join("containers"), container)
    }

    /// Make and lock the state directory of `container` as `parent/ID`, as
    /// [`State::create`] does under `root/containers`. (The OCI runtime keeps
    /// its containers under `--root`, as runc does: engines look there.)
    pub fn create_in(containers: &Path, container: &Container) -> io::Result<State> {
        fs::create_dir_all(containers)?;
        let hidden = containers.join(format!(".new-{}", container.id));
        fs::create_dir(&hidden)?;
        let lock = lock(&hidden.join("lock"))?;
        let dir = containers.join(&container.id);
        let state = State { dir: hidden, _lock: lock };
        state.write(CONTAINER, container)?;
        fs::rename(&state.dir, &dir)?;
        Ok(State { dir, ..state })
    }

    /// Lock the existing state directory `dir`, waiting while another process
    /// holds it: an OCI runtime's commands on one container take turns. A
    /// directory without its lock file is not a container's (or not yet).
    pub fn open(dir: &Path) -> io::Result<State> {
        State::lock_existing(dir, FlockArg::LockExclusive)
    }

    /// [`State::open`] if no other process holds the lock now; else
    /// `Ok(None)` at once, for a caller that must not wait (a runtime's hook
    /// asking about the container that runtime is still making).
    pub fn try_open(dir: &Path) -> io::Result<Option<State>> {
        match State::lock_existing(dir, FlockArg::LockExclusiveNonblock) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            locked => locked.map(Some),
        }
    }

    fn lock_existing(dir: &Path, how: FlockArg) -> io::Result<State> {
        let file =
            OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(dir.join("lock"))?;
        let lock = Flock::lock(file, how).map_err(|(_, errno)| errno)?;
        // While we waited, the command before us may have removed the
        // container: our lock is then on a file no longer there.
        if !dir.join("lock").exists() {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(State { dir: dir.to_owned(), _lock: lock })
    }

    /// In the child, right after `clone`: close the child's copy of the lock.
    /// The lock is held as long as *any* process has it open, and a child killed
    /// with its runtime takes a moment to die: its copy would make a clean-up
    /// that starts at once think the runtime is still alive.
    pub fn close_lock_in_child(&self) {
        // SAFETY: this copy of the state is never dropped (the child ends with
        // execve or _exit), so nothing uses the descriptor after this.
        unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(&*self._lock)) };
    }

    /// The directory, for files a step keeps there (chapter 6's `/etc` files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long ago the state last changed.
    pub fn age(&self) -> Duration {
        age(&self.dir)
    }

    /// The container this state belongs to.
    pub fn container(&self) -> io::Result<Container> {
        self.read(CONTAINER)?.ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    /// Write down `value` under `name`, replacing what was recorded there.
    /// Atomic (a temporary file, then a rename): a crash leaves the old record
    /// or the new one, never half of one.
    pub fn record(&self, name: &str, value: &impl Serialize) -> io::Result<()> {
        self.write(&format!("{name}{RECORD}"), value)
    }

    /// What was recorded under `name`, if anything.
    pub fn recorded<T: DeserializeOwned>(&self, name: &str) -> io::Result<Option<T>> {
        self.read(&format!("{name}{RECORD}"))
    }

    /// Drop the record `name`: what it described is gone.
    pub fn forget(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(format!("{name}{RECORD}"))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The names of the records still here.
    pub fn records(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                (name != CONTAINER).then(|| name.strip_suffix(RECORD).map(str::to_owned))?
            })
            .collect();
        names.sort();
        names
    }

    /// Remove the directory, once every record has been dealt with (forgotten).
    /// Records that remain mean objects that remain: the directory stays, and
    /// their names are returned, so that `chNN cleanup` can try again.
    pub fn remove(self) -> Result<(), Vec<String>> {
        let left = self.records();
        if !left.is_empty() {
            return Err(left);
        }
        // The lock goes with the directory; we still hold it until `self` drops.
        fs::remove_dir_all(&self.dir).map_err(|e| vec![format!("({e})")])
    }

    fn write(&self, file: &str, value: &impl Serialize) -> io::Result<()> {
        let path = self.dir.join(file);
        let partial = self.dir.join(format!(".{file}.partial"));
        fs::write(&partial, serde_json::to_vec_pretty(value)?)?;
        fs::rename(partial, path)
    }

    fn read<T: DeserializeOwned>(&self, file: &str) -> io::Result<Option<T>> {
        match fs::read(self.dir.join(file)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The states under `root` whose runtime is gone, each now locked by us (so that
/// two runtimes never clean up the same one). Also the hidden directories of
/// runtimes that died while creating theirs, once they are a minute old (a
/// younger one may be a runtime starting right now).
pub fn dead(root: &Path) -> Vec<State> {
    let Ok(entries) = fs::read_dir(root.join("containers")) else { return Vec::new() };
    let mut dead = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden && age(&dir) < Duration::from_secs(60) {
            continue;
        }
        // Never create the lock file here: one that does not exist yet belongs
        // to a runtime that is creating it.
        let Ok(file) =
            OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(dir.join("lock"))
        else {
            continue;
        };
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue; // its runtime is alive
        };
        // Between our listing and our lock, a clean-up in another runtime may have
        // finished and removed the directory: then there is nothing to do.
        if dir.join("lock").exists() {
            dead.push(State { dir, _lock: lock });
        }
    }
    dead
}

/// How long ago `path` was last changed (zero if that cannot be read).
fn age(path: &Path) -> Duration {
    let modified = fs::metadata(path).and_then(|m| m.modified());
    modified.ok().and_then(|t| t.elapsed().ok()).unwrap_or_default()
}

/// Open (creating if needed) and lock `path`, or fail at once if it is locked.
/// The descriptor is close-on-exec: the container, a copy of the runtime until
/// it calls `execve`, must not keep the lock alive once the runtime is gone.
fn lock(path: &Path) -> io::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| errno.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_alive_while_its_lock_is_held_and_dead_after() {
        let root = tempfile::tempdir().unwrap();
        let container = Container::new("/r", vec!["true".into()]);
        let state = State::create(root.path(), &container).unwrap();
        state.record("thing", &"made").unwrap();
        assert!(dead(root.path()).is_empty(), "its runtime (this test) still holds the lock");
        drop(state); // the runtime "dies": the kernel drops its lock
        let found = dead(root.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].container().unwrap().id, container.id);
        assert_eq!(found[0].recorded::<String>("thing").unwrap().as_deref(), Some("made"));
        assert_eq!(found[0].records(), ["thing"]);
    }

    #[test]
    fn a_state_removed_while_waiting_for_its_lock_is_not_found() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("runtime");
        let state = State::create_in(&containers, &Container::new("/r", vec![])).unwrap();
        let dir = state.dir().to_owned();
        let waiting = std::thread::spawn({
            let dir = dir.clone();
            move || State::open(&dir).map(drop).map_err(|e| e.kind())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        state.remove().unwrap(); // the command before it deletes the container
        assert_eq!(waiting.join().unwrap(), Err(io::ErrorKind::NotFound));
    }

    #[test]
    fn trying_to_open_a_held_state_does_not_wait() {
        let root = tempfile::tempdir().unwrap();
        let state = State::create(root.path(), &Container::new("/r", vec![])).unwrap();
        let dir = state.dir().to_owned();
        assert!(State::try_open(&dir).unwrap().is_none(), "held by `state`");
        drop(state);
        let opened = State::try_open(&dir).unwrap().expect("free now");
        assert!(State::try_open(&dir).unwrap().is_none(), "held by `opened`");
        drop(opened);
        let gone = State::try_open(&root.path().join("containers/nothing")).map(|_| ());
        assert_eq!(gone.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_state_with_records_left_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let state = State::create(root.path(), &Container::new("/r", vec![])).unwrap();
        let dir = state.dir().to_owned();
        state.record("veth", &"tc123").unwrap();
        assert_eq!(state.remove().unwrap_err(), ["veth"]);
        assert!(dir.exists());
        let state = dead(root.path()).pop().unwrap();
        state.forget("veth").unwrap();
        state.remove().unwrap();
        assert!(!dir.exists());
    }
}
