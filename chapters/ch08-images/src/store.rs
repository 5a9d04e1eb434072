//! The image store on disk: content-addressed, so that what is there is what its
//! name says, and so that two images that share a layer share it on disk.
//!
//! ```text
//! STORE/
//!   blobs/sha256/<hex>          manifests, configs and layers, as the registry sent them
//!   layers/sha256/<diff id>/    each layer unpacked, once: an overlayfs lower dir
//!   containers/<id>/            one container's upper, work and root directories
//!   images.json                 names → manifests (index.rs)
//!   tmp/                        what is being written; renamed into place when complete
//! ```
//!
//! Nothing half-written is ever under its final name: a blob is written to
//! `tmp/`, checked against its digest, and renamed (`rename(2)` is atomic within
//! one file system); a layer is unpacked into a directory in `tmp/` and renamed
//! the same way. Two pulls of one image at once each write their own temporary
//! copy, and whichever renames second finds the first one's identical copy in
//! place and drops its own.
//!
//! STORE is `--root`, else `$TINCAN_ROOT`, else `/var/lib/tincan` for root and
//! `$XDG_DATA_HOME/tincan` (`~/.local/share/tincan`) for a user: not a tmpfs like
//! the state directory, because images should outlive a reboot.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use tempfile::{NamedTempFile, TempDir};

use crate::Digest;

/// What can go wrong in the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{digest} in the store at {path} is damaged ({why}): remove it with `ch08 rmi` and pull again"
    )]
    Damaged { digest: Digest, path: PathBuf, why: String },
    #[error("{what} {digest} is {size} bytes, more than the {limit} bytes tincan accepts for one")]
    TooLarge { what: &'static str, digest: Digest, size: u64, limit: u64 },
}

/// Attach the path to an I/O error.
pub(crate) trait AtPath<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> AtPath<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io { path: path.to_owned(), source })
    }
}

/// The default STORE (see the module comment).
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TINCAN_ROOT") {
        return dir.into();
    }
    if nix::unistd::geteuid().is_root() {
        return "/var/lib/tincan".into();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")));
    data.unwrap_or_else(|| ".".into()).join("tincan")
}

/// An open image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open the store at `root`, making its directories if they are missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store { root: root.into() };
        for dir in ["blobs/sha256", "layers/sha256", "containers", "tmp"] {
            let path = store.root.join(dir);
            fs::create_dir_all(&path).at(&path)?;
        }
        // The layers and the containers' directories hold an image's files as
        // its author made them: set-user-ID programs owned by root, device
        // nodes. Reachable by every user of the host, they would be a way to
        // root on it (Docker's CVE-2021-41091): only their owner may enter.
        // `containers` lets anyone *pass* (x, not r): a container in a user
        // namespace (chapter 9) reaches its own directory, which is its
        // mapped root's and 700, through it; nobody can list it.
        for (dir, mode) in [("layers", 0o700), ("containers", 0o711), ("tmp", 0o700)] {
            let path = store.root.join(dir);
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).at(&path)?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A small blob (a manifest, a config), read whole and checked again: a file
    /// changed on disk since must not be trusted because of its name.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).at(&path)?;
        let size = file.metadata().at(&path)?.len();
        if size > limit {
            return Err(StoreError::TooLarge { what: "blob", digest: digest.clone(), size, limit });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(limit).read_to_end(&mut bytes).at(&path)?;
        if Digest::of(&bytes) != *digest {
            let why = format!("its bytes hash to {}", Digest::of(&bytes));
            return Err(StoreError::Damaged { digest: digest.clone(), path, why });
        }
        Ok(bytes)
    }

    /// Keep `bytes` as the blob `digest` (which the caller has checked).
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let mut file = self.temp_file()?;
        io::Write::write_all(&mut file, bytes).at(file.path())?;
        self.keep_blob(file, digest)
    }

    /// A temporary file in the store, for a blob being written.
    pub fn temp_file(&self) -> Result<NamedTempFile, StoreError> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new().prefix("blob-").tempfile_in(&tmp).at(&tmp)
    }

    /// Give a complete, checked temporary file its final name. A blob is its
    /// digest: if another pull put it there first, the two are the same bytes.
    pub fn keep_blob(&self, file: NamedTempFile, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        file.as_file().sync_all().at(&path)?;
        file.persist(&path).map_err(|e| e.error).at(&path)?;
        Ok(())
    }

    /// Where the layer whose uncompressed digest is `diff_id` is unpacked.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// A temporary directory in the store, for a layer being unpacked. Dropped
    /// without [`Store::keep_layer`], it is removed.
    pub fn temp_dir(&self) -> Result<TempDir, StoreError> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new().prefix("layer-").tempdir_in(&tmp).at(&tmp)
    }

    /// Give a completely unpacked layer its final name.
    pub fn keep_layer(&self, dir: TempDir, diff_id: &Digest) -> Result<(), StoreError> {
        let path = self.layer_dir(diff_id);
        // The layer's own root directory is the overlay's view of `/`: make it
        // look like one, whatever mode the temporary directory was made with.
        if fs::symlink_metadata(dir.path()).at(dir.path())?.permissions().mode() & 0o777 == 0o700 {
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).at(dir.path())?;
        }
        match fs::rename(dir.path(), &path) {
            Ok(()) => {
                // Renamed away: there is nothing left for the TempDir to remove.
                let _ = dir.keep();
                Ok(())
            }
            // Another pull unpacked the same layer first; ours goes with `dir`.
            Err(e)
                if path.is_dir()
                    && matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// Where container `id` keeps its upper, work and root directories.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// The containers' directories that exist now (running or kept).
    pub fn container_dirs(&self) -> Vec<PathBuf> {
        let dir = self.root.join("containers");
        let entries = fs::read_dir(dir).into_iter().flatten().flatten();
        entries.map(|e| e.path()).collect()
    }

    /// Remove what pulls and imports that died (`kill -9`) left half-written.
    /// Only under the exclusive lock: then no pull or import is under way.
    pub fn clear_tmp(&self, _exclusive: &Flock<File>) -> Result<usize, StoreError> {
        let tmp = self.root.join("tmp");
        let mut removed = 0;
        for entry in fs::read_dir(&tmp).at(&tmp)?.flatten() {
            remove_entry(&entry)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// A shared lock on the store: held while a pull, an import or a container's
    /// set-up adds to the store, so that a clean-up of unused blobs and layers
    /// (which takes it exclusively) never removes what they are about to use.
    pub fn lock_shared(&self) -> Result<Flock<File>, StoreError> {
        self.lock(FlockArg::LockShared)
    }

    /// The exclusive lock, for removing from the store.
    pub fn lock_exclusive(&self) -> Result<Flock<File>, StoreError> {
        self.lock(FlockArg::LockExclusive)
    }

    /// The exclusive lock if no one holds the store now, else `None`.
    pub fn try_lock_exclusive(&self) -> Result<Option<Flock<File>>, StoreError> {
        match self.lock(FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err(StoreError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EWOULDBLOCK) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn lock(&self, how: FlockArg) -> Result<Flock<File>, StoreError> {
        self.lock_file("lock", how)
    }

    /// Lock the file `name` of the store (made if missing) as `how` says.
    pub(crate) fn lock_file(&self, name: &str, how: FlockArg) -> Result<Flock<File>, StoreError> {
        let path = self.root.join(name);
        let file = fs::OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        Flock::lock(file, how).map_err(|(_, errno)| io::Error::from(errno)).at(&path)
    }
}

/// Remove a directory entry of the store, and all below it if it is a
/// directory. Neither step follows a symbolic link: a link is removed, not
/// its target. Returns whether it was a directory.
pub(crate) fn remove_entry(entry: &fs::DirEntry) -> Result<bool, StoreError> {
    let path = entry.path();
    let is_dir = entry.file_type().at(&path)?.is_dir();
    match is_dir {
        true => fs::remove_dir_all(&path).at(&path)?,
        false => fs::remove_file(&path).at(&path)?,
    }
    Ok(is_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_kept_under_its_digest_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::of(b"{}");
        store.put_blob(&digest, b"{}").unwrap();
        assert!(store.has_blob(&digest));
        assert_eq!(store.read_blob(&digest, 10).unwrap(), b"{}");
        assert!(matches!(store.read_blob(&digest, 1), Err(StoreError::TooLarge { .. })));

        fs::write(store.blob_path(&digest), b"[]").unwrap();
        let damaged = store.read_blob(&digest, 10).unwrap_err();
        assert!(damaged.to_string().contains("damaged"), "{damaged}");
        // Nothing temporary is left behind.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn only_the_owner_may_enter_the_layers_or_list_the_containers() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        for (sub, expected) in [("layers", 0o700), ("containers", 0o711), ("tmp", 0o700)] {
            let mode = fs::metadata(dir.path().join(sub)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, expected, "{sub}");
        }
    }

    #[test]
    fn what_a_dead_pull_left_in_tmp_goes_under_the_exclusive_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _ = store.temp_dir().unwrap().keep();
        store.temp_file().unwrap().keep().unwrap();
        let exclusive = store.lock_exclusive().unwrap();
        assert_eq!(store.clear_tmp(&exclusive).unwrap(), 2);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_layer_unpacked_twice_at_once_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let diff_id = Digest::of(b"layer");
        let (first, second) = (store.temp_dir().unwrap(), store.temp_dir().unwrap());
        fs::write(first.path().join("a"), "first").unwrap();
        fs::write(second.path().join("a"), "second").unwrap();
        store.keep_layer(first, &diff_id).unwrap();
        store.keep_layer(second, &diff_id).unwrap();
        assert_eq!(fs::read_to_string(store.layer_dir(&diff_id).join("a")).unwrap(), "first");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
