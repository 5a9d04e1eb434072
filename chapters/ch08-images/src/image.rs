//! An image in the store: its manifest and its config, found by name; and
//! removing images with the blobs and layers no other image uses.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::index::Index;
use crate::reference::Reference;
use crate::store::{AtPath, Store, StoreError};
use crate::{Digest, pull::MAX_CONFIG, registry::MAX_MANIFEST};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "no image {0} in the store: pull it with `ch08 pull {0}`, or list what is there with `ch08 images`"
    )]
    NotFound(String),
    #[error("{0} matches more than one image: give more of its id, or its name")]
    Ambiguous(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{what} of {name} in the store is not valid: {error} (remove it with `ch08 rmi {name}` and pull it again)"
    )]
    Damaged { name: String, what: &'static str, error: String },
    #[error("layer {diff_id} of {name} is missing from the store: pull the image again")]
    MissingLayer { name: String, diff_id: Digest },
}

/// An image, read from the store.
#[derive(Debug)]
pub struct Image {
    /// The name it was found by, as stored: `docker.io/library/alpine:3.20`.
    pub name: String,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The config's digest is the image's id, as `docker images` shows it.
    pub config_digest: Digest,
    pub config: ImageConfiguration,
}

impl Image {
    /// The image `name`: a reference (`alpine`, `127.0.0.1:5000/x:1`,
    /// `alpine@sha256:…`) or the start of an image id (`3f57d9401f8d`).
    pub fn find(store: &Store, name: &str) -> Result<Image, ImageError> {
        let (stored, digest) = Image::lookup(store, name)?;
        Image::load(store, &stored, &digest)
    }

    /// The name in the store that `name` means, and its manifest's digest,
    /// from the names alone where it can: so that `rmi` can still remove an
    /// image whose blobs are damaged.
    pub fn lookup(store: &Store, name: &str) -> Result<(String, Digest), ImageError> {
        let index = Index::load(store)?;
        if let Ok(reference) = name.parse::<Reference>() {
            let found = match reference.digest() {
                // Pinned: the digest decides, under any tag of that repository.
                Some(wanted) => index
                    .images
                    .iter()
                    .filter(|(_, digest)| digest.parse().ok().as_ref() == Some(wanted))
                    .find(|(stored, _)| same_repository(stored, &reference))
                    .map(|(stored, _)| (stored.clone(), wanted.clone())),
                None => {
                    let stored = reference.to_string();
                    index.get(&stored).map(|digest| (stored, digest))
                }
            };
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let id = name.strip_prefix("sha256:").unwrap_or(name);
        if id.len() >= 4 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found: Vec<(String, Digest, Digest)> = Vec::new();
            for (stored, digest) in &index.images {
                let Ok(digest) = digest.parse::<Digest>() else { continue };
                // An image that cannot be read has no id to match.
                let Ok(image) = Image::load(store, stored, &digest) else { continue };
                let config = image.config_digest;
                if config.hex().starts_with(id) && !found.iter().any(|(_, _, c)| *c == config) {
                    found.push((stored.clone(), digest, config));
                }
            }
            match found.len() {
                0 => {}
                1 => return Ok(found.remove(0)).map(|(stored, digest, _)| (stored, digest)),
                _ => return Err(ImageError::Ambiguous(name.to_owned())),
            }
        }
        Err(ImageError::NotFound(name.to_owned()))
    }

    /// Read the image whose manifest is `digest`.
    pub fn load(store: &Store, name: &str, digest: &Digest) -> Result<Image, ImageError> {
        let damaged =
            |what, error: String| ImageError::Damaged { name: name.to_owned(), what, error };
        let manifest: ImageManifest =
            serde_json::from_slice(&store.read_blob(digest, MAX_MANIFEST)?)
                .map_err(|e| damaged("the manifest", e.to_string()))?;
        let config_digest = Digest::try_from(manifest.config().digest())
            .map_err(|e| damaged("the manifest", e.to_string()))?;
        let config: ImageConfiguration =
            serde_json::from_slice(&store.read_blob(&config_digest, MAX_CONFIG)?)
                .map_err(|e| damaged("the config", e.to_string()))?;
        Ok(Image {
            name: name.to_owned(),
            manifest_digest: digest.clone(),
            manifest,
            config_digest,
            config,
        })
    }

    /// The layers' diff ids, bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        let damaged = |e: crate::DigestError| ImageError::Damaged {
            name: self.name.clone(),
            what: "the config",
            error: e.to_string(),
        };
        self.config.rootfs().diff_ids().iter().map(|d| d.parse().map_err(damaged)).collect()
    }

    /// The unpacked layer directories, bottom first: the overlay's lower dirs.
    pub fn layer_dirs(&self, store: &Store) -> Result<Vec<PathBuf>, ImageError> {
        let mut dirs = Vec::new();
        for diff_id in self.diff_ids()? {
            if !store.has_layer(&diff_id) {
                return Err(ImageError::MissingLayer { name: self.name.clone(), diff_id });
            }
            dirs.push(store.layer_dir(&diff_id));
        }
        Ok(dirs)
    }

    /// The size of the image's blobs as stored (compressed layers).
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }
}

/// Whether the stored name `stored` is of the same repository as `reference`.
fn same_repository(stored: &str, reference: &Reference) -> bool {
    stored.parse::<Reference>().is_ok_and(|s| {
        s.registry() == reference.registry() && s.repository() == reference.repository()
    })
}

/// What `rmi` removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub names: Vec<String>,
    pub blobs: usize,
    pub layers: usize,
    /// What dead pulls had left half-written.
    pub temporary: usize,
}

/// Forget the names `images`, then remove every blob and layer that no
/// remaining image uses and no container stands on. Every name is looked up
/// before anything changes: one unknown name changes nothing.
pub fn remove(store: &Store, images: &[String]) -> Result<Removed, ImageError> {
    let mut removed = Removed::default();
    for name in images {
        let (stored, _) = Image::lookup(store, name)?;
        if !removed.names.contains(&stored) {
            removed.names.push(stored);
        }
    }
    Index::update(store, |index| {
        for name in &removed.names {
            index.images.remove(name);
        }
    })?;
    let exclusive = store.lock_exclusive()?;
    removed.temporary = store.clear_tmp(&exclusive)?;
    let (blobs, layers) = in_use(store)?;
    for (dir, keep) in [("blobs/sha256", &blobs), ("layers/sha256", &layers)] {
        let dir = store.root().join(dir);
        for entry in fs::read_dir(&dir).at(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            match crate::store::remove_entry(&entry)? {
                true => removed.layers += 1,
                false => removed.blobs += 1,
            }
        }
    }
    Ok(removed)
}

/// The blobs (hex digests) of every named image, and the layers (hex diff ids)
/// those images have or a container's overlay stands on.
fn in_use(store: &Store) -> Result<(BTreeSet<String>, BTreeSet<String>), ImageError> {
    let (mut blobs, mut layers) = (BTreeSet::new(), BTreeSet::new());
    for (name, digest) in &Index::load(store)?.images {
        let Ok(digest) = digest.parse::<Digest>() else { continue };
        blobs.insert(digest.hex().to_owned());
        // A named image that cannot be read keeps what its name still names;
        // the rest is its owner's to pull again (or `rmi`).
        let Ok(image) = Image::load(store, name, &digest) else { continue };
        blobs.insert(image.config_digest.hex().to_owned());
        for layer in image.manifest.layers() {
            blobs.insert(layer.digest().digest().to_owned());
        }
        if let Ok(diff_ids) = image.diff_ids() {
            layers.extend(diff_ids.iter().map(|d| d.hex().to_owned()));
        }
    }
    for dir in store.container_dirs() {
        layers.extend(crate::overlay::layers_in_use(&dir));
    }
    Ok((blobs, layers))
}
