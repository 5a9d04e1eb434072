//! Where the docker-style face keeps its containers: beside chapter 8's
//! images, in the same store (`$TINCAN_ROOT`, default `/var/lib/tincan`).
//!
//! ```text
//! STORE/containers/ID/        the container's directory, mode 700 (chapter 8's)
//!   container.json            what it was made from: image, command, name, when
//!   config.json               its OCI bundle's config: the directory is the bundle
//!   upper/ work/ lower/ rootfs/   its overlay (chapter 8 mounts it in the container)
//!   pid  log.json  exit.json  the supervisor's (`tincan-supervisor`)
//! STORE/names/NAME            the ID, in a file made with O_EXCL: one name, one container
//! STORE/containers.lock       held while a container is made, and by `system prune`
//! ```
//!
//! The OCI state (`tincan --root`, `/run/tincan/ID`) says whether it runs;
//! this says what it is and, once it has ended, how.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::Failure;

/// The face's record of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The image as it was named, and its id (the config's digest).
    pub image: String,
    pub image_id: String,
    /// What it runs: the image's entrypoint and command, or the one given.
    pub command: Vec<String>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Removed once it ends (`run --rm`).
    pub remove: bool,
    /// The OCI core's state directory it was created in (`tincan --root`).
    pub oci_root: PathBuf,
    /// What `-v` mounted.
    #[serde(default)]
    pub mounts: Vec<super::volume::Mount>,
    /// The network it is on (`None`: only `lo`).
    #[serde(default)]
    pub network: Option<String>,
}

const RECORD: &str = "container.json";
const NAMES: &str = "names";
/// Beside `containers/`: see [`Containers::making`].
const MAKING: &str = "containers.lock";
/// In a container's directory: see [`Containers::make_dir`].
const MARK: &str = "tincan-face";
/// In a container's directory: see [`Containers::attached`].
const ATTACHED: &str = "attached.lock";
/// `run -dt` makes `containers/.console-XXXXXX/` for the socket a
/// terminal's master goes through to the supervisor, and removes it once
/// the container is created; one a killed `run` left goes at prune.
pub const CONSOLE_PREFIX: &str = ".console-";

/// `flock(2)` on `path`, made if missing, mode 600: a lock anyone could
/// open, anyone could hold for ever.
fn lock(path: &Path, how: FlockArg) -> Result<Flock<std::fs::File>, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    Flock::lock(file, how).map_err(|(_, e)| Failure::new(format!("lock {}: {e}", path.display())))
}

/// The face's containers in the image store at `root`.
pub struct Containers {
    root: PathBuf,
}

impl Containers {
    pub fn new(store_root: &Path) -> Containers {
        Containers { root: store_root.to_owned() }
    }

    /// The image store they are in.
    pub fn store_root(&self) -> &Path {
        &self.root
    }

    /// A container's directory (chapter 8's `STORE/containers/ID`).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Held shared while `run` makes a container (from its directory until
    /// its supervisor holds it), and exclusive by `system prune`: prune never
    /// takes a container that is half made for one a killed `run` left.
    pub fn making(&self, exclusive: bool) -> Result<Flock<std::fs::File>, Failure> {
        let path = self.root.join(MAKING);
        let how = if exclusive { FlockArg::LockExclusive } else { FlockArg::LockShared };
        lock(&path, how)
    }

    /// Make the directory of a new container `id`, with the face's mark in
    /// it, whole or not at all: made under a hidden name, then renamed. So a
    /// directory of `containers/` without the mark is chapter 8's (`ch08 run
    /// IMAGE` keeps its containers there too), never a face container's.
    pub fn make_dir(&self, id: &str) -> Result<PathBuf, Failure> {
        let dir = self.dir(id);
        let partial = self.root.join("containers").join(format!(".making-{id}"));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&partial)
            .and_then(|()| std::fs::write(partial.join(MARK), ""))
            .and_then(|()| std::fs::rename(&partial, &dir))
            .map_err(|e| Failure::new(format!("make {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Is `id`'s directory one the face made?
    pub fn marked(&self, id: &str) -> bool {
        self.dir(id).join(MARK).is_file()
    }

    /// Remove container `id`'s directory, whole or, if we are killed half-way,
    /// as a hidden one that [`Containers::unfinished_dirs`] finds: renamed
    /// first, so that no directory is ever left without its record or mark.
    /// One that is not there is no error (someone else removed it).
    pub fn discard(&self, id: &str) -> Result<(), Failure> {
        let gone = self.root.join("containers").join(format!(".removing-{id}"));
        match std::fs::rename(self.dir(id), &gone) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Failure::new(format!("remove {}: {e}", self.dir(id).display()))),
            Ok(()) => {}
        }
        // remove_dir_all does not follow symbolic links: `lower/0` goes, not
        // the layer it names.
        std::fs::remove_dir_all(&gone)
            .map_err(|e| Failure::new(format!("remove {}: {e}", gone.display())))
    }

    /// What a `run` or `rm` killed half-way left: hidden directories, never
    /// a container's (see [`Containers::make_dir`], [`Containers::discard`]),
    /// and the directories of terminals' sockets (see [`CONSOLE_PREFIX`]).
    pub fn unfinished_dirs(&self) -> Vec<PathBuf> {
        let entries =
            std::fs::read_dir(self.root.join("containers")).into_iter().flatten().flatten();
        entries
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                [".making-", ".removing-", CONSOLE_PREFIX].iter().any(|p| name.starts_with(p))
            })
            .map(|e| e.path())
            .collect()
    }

    /// Held by a `run` attached to container `id` (`-i`, `-t`, and a
    /// foreground `run` following its output) for as long as it is: `system
    /// prune` leaves the container to it. `wait`: false, to try only.
    pub fn attached(&self, id: &str, wait: bool) -> Result<Flock<std::fs::File>, Failure> {
        let how = if wait { FlockArg::LockExclusive } else { FlockArg::LockExclusiveNonblock };
        lock(&self.dir(id).join(ATTACHED), how)
    }

    /// The directories under `containers/`, by id, whether or not they
    /// hold a record yet.
    pub fn ids(&self) -> Vec<String> {
        let dirs = std::fs::read_dir(self.root.join("containers")).into_iter().flatten().flatten();
        dirs.filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|d| d.file_name().to_str().map(str::to_owned))
            .filter(|id| check_name(id).is_ok())
            .collect()
    }

    /// Every name, and the id it was claimed for.
    pub fn names(&self) -> Vec<(String, String)> {
        let files = std::fs::read_dir(self.root.join(NAMES)).into_iter().flatten().flatten();
        files
            .filter_map(|f| f.file_name().to_str().map(str::to_owned))
            .filter_map(|name| Some((name.clone(), self.named(&name)?)))
            .collect()
    }

    /// Claim `name` for `id`: fails if another container has it.
    pub fn claim(&self, name: &str, id: &str) -> Result<(), Failure> {
        check_name(name)?;
        let names = self.root.join(NAMES);
        // Mode 700: which containers exist is root's to know.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&names)
            .map_err(|e| Failure::new(format!("{}: {e}", names.display())))?;
        let path = names.join(name);
        // A name whose container is gone (an `rm` cut short) is free again.
        if let Some(holder) = self.named(name)
            && self.read(&holder).is_none()
            && !self.dir(&holder).exists()
        {
            let _ = std::fs::remove_file(&path);
        }
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        let mut file = file.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::new(format!(
                "the name {name} is in use by container {}: remove it first (tincan rm {name}), or choose another",
                self.named(name).unwrap_or_else(|| "?".into())
            )),
            _ => Failure::new(format!("claim the name {name}: {e}")),
        })?;
        file.write_all(id.as_bytes()).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
    }

    /// Let go of `name`, if `id` has it.
    pub fn release(&self, name: &str, id: &str) {
        if self.named(name).as_deref() == Some(id) {
            let _ = std::fs::remove_file(self.root.join(NAMES).join(name));
        }
    }

    /// The id of the container called `name`.
    fn named(&self, name: &str) -> Option<String> {
        check_name(name).ok()?;
        std::fs::read_to_string(self.root.join(NAMES).join(name)).ok()
    }

    /// Write `record` into its container's directory, whole or not at all.
    pub fn write(&self, record: &Record) -> Result<(), Failure> {
        let dir = self.dir(&record.id);
        let partial = dir.join(format!(".{RECORD}.partial"));
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| Failure::new(e.to_string()))?;
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, dir.join(RECORD)))
            .map_err(|e| Failure::new(format!("write {}: {e}", dir.join(RECORD).display())))
    }

    /// The record of the container `name_or_id` names: its full id, its
    /// name, or a prefix of the id that only it has (as Docker takes them).
    pub fn find(&self, name_or_id: &str) -> Result<Record, Failure> {
        if check_name(name_or_id).is_ok()
            && let Some(record) = self.read(name_or_id)
        {
            return Ok(record);
        }
        if let Some(id) = self.named(name_or_id)
            && let Some(record) = self.read(&id)
        {
            return Ok(record);
        }
        let matching: Vec<Record> =
            self.all().into_iter().filter(|r| r.id.starts_with(name_or_id)).collect();
        match matching.as_slice() {
            [one] if !name_or_id.is_empty() => Ok(one.clone()),
            [] | [_] => Err(Failure::new(format!("no such container: {name_or_id}"))),
            _ => Err(Failure::new(format!(
                "{name_or_id} is the start of {} containers' ids: give more of it",
                matching.len()
            ))),
        }
    }

    /// Is there a container `id` (exactly)?
    pub fn has(&self, id: &str) -> bool {
        check_name(id).is_ok() && self.dir(id).join(RECORD).is_file()
    }

    fn read(&self, id: &str) -> Option<Record> {
        let bytes = std::fs::read(self.dir(id).join(RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every container the face made, oldest first.
    pub fn all(&self) -> Vec<Record> {
        let dirs = std::fs::read_dir(self.root.join("containers")).into_iter().flatten().flatten();
        let mut all: Vec<Record> =
            dirs.filter_map(|d| self.read(d.file_name().to_str()?)).collect();
        all.sort_by(|a, b| a.created.cmp(&b.created));
        all
    }
}

/// Docker's rule for names: a letter or digit, then letters, digits, `_`,
/// `.` and `-`. Never a path.
pub fn check_name(name: &str) -> Result<(), Failure> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "invalid container name {name:?}: a letter or digit, then letters, digits, '_', '.' or '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str, created: &str) -> Record {
        Record {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            command: vec!["sh".into()],
            created: created.into(),
            remove: false,
            oci_root: "/run/tincan".into(),
            mounts: Vec::new(),
            network: None,
        }
    }

    #[test]
    fn a_container_is_found_by_name_by_id_and_by_a_prefix_only_it_has() {
        let store = tempfile::tempdir().unwrap();
        let containers = Containers::new(store.path());
        for (id, name, created) in [("abc123", "web", "2"), ("abd456", "db", "1")] {
            std::fs::create_dir_all(containers.dir(id)).unwrap();
            containers.claim(name, id).unwrap();
            containers.write(&record(id, name, created)).unwrap();
        }
        assert_eq!(containers.find("web").unwrap().id, "abc123");
        assert_eq!(containers.find("abd456").unwrap().name, "db");
        assert_eq!(containers.find("abc").unwrap().id, "abc123");
        assert!(containers.find("ab").unwrap_err().0.contains("2 containers"));
        assert!(containers.find("zzz").unwrap_err().0.contains("no such container"));
        assert!(containers.find("").is_err());
        let ids: Vec<String> = containers.all().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["abd456", "abc123"], "oldest first");
    }

    #[test]
    fn a_name_is_one_containers_until_released() {
        let store = tempfile::tempdir().unwrap();
        let containers = Containers::new(store.path());
        containers.claim("web", "a").unwrap();
        std::fs::create_dir_all(containers.dir("a")).unwrap();
        assert!(containers.claim("web", "b").unwrap_err().0.contains("in use by container a"));
        containers.release("web", "b");
        assert!(containers.claim("web", "b").is_err(), "only its holder lets it go");
        containers.release("web", "a");
        containers.claim("web", "b").unwrap();
        // b's directory never came, or went: its name is free for c.
        containers.claim("web", "c").unwrap();
    }

    #[test]
    fn a_name_is_never_a_path() {
        for bad in ["", "../etc", "a/b", "-x", ".hidden", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["web", "db-1", "a.b_c", "9lives"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
