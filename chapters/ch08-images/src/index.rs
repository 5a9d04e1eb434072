//! Names for images: `images.json`, a map from a reference such as
//! `docker.io/library/alpine:3.20` to the digest of its manifest.
//!
//! A name is the only mutable thing in the store — everything else is named by
//! its content — so it is the only file that needs care when two commands change
//! it at once: each change takes `images.lock`, reads the map, changes it, and
//! renames a complete new file into place.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use nix::fcntl::FlockArg;

use crate::Digest;
use crate::store::{AtPath, Store, StoreError};

/// Names → manifest digests.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    pub images: BTreeMap<String, String>,
}

impl Index {
    /// The names now in `store`.
    pub fn load(store: &Store) -> Result<Index, StoreError> {
        let path = path(store);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Damaged {
                digest: Digest::of(&bytes),
                path: path.clone(),
                why: format!("it is not an index of names: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// The manifest named `name`.
    pub fn get(&self, name: &str) -> Option<Digest> {
        self.images.get(name).and_then(|d| d.parse().ok())
    }

    /// Change the names in `store` with `change`, under the index's lock.
    pub fn update<T>(store: &Store, change: impl FnOnce(&mut Index) -> T) -> Result<T, StoreError> {
        let _lock = store.lock_file("images.lock", FlockArg::LockExclusive)?;
        let mut index = Index::load(store)?;
        let result = change(&mut index);
        let path = path(store);
        // Beside the index, not in `tmp/` (which `rmi` and `cleanup` empty),
        // and under the index's lock, so no one else writes it at once.
        let tmp = store.root().join("images.json.new");
        let json = serde_json::to_vec_pretty(&index).expect("a map of strings serialises");
        let mut file = fs::File::create(&tmp).at(&tmp)?;
        file.write_all(&json).and_then(|()| file.sync_all()).at(&tmp)?;
        fs::rename(&tmp, &path).at(&path)?;
        Ok(result)
    }
}

fn path(store: &Store) -> PathBuf {
    store.root().join("images.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_survive_a_reload_and_changes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::of(b"manifest");
        Index::update(&store, |i| {
            i.images.insert("docker.io/library/a:1".into(), digest.to_string())
        })
        .unwrap();
        assert_eq!(Index::load(&store).unwrap().get("docker.io/library/a:1"), Some(digest));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_index_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        fs::write(dir.path().join("images.json"), "{not json").unwrap();
        assert!(matches!(Index::load(&store), Err(StoreError::Damaged { .. })));
    }
}
