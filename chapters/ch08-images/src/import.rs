//! `ch08 import TARBALL NAME`: a root file system in a tarball (`docker export`'s
//! output, Alpine's minirootfs) becomes a one-layer image.
//!
//! This is the whole of what makes an image, done by hand: the tarball is the
//! layer blob, as it is (compressed or not); its uncompressed digest is the diff
//! id; a config lists that diff id and says what to run; a manifest names the
//! config and the layer by digest; and a name points at the manifest.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use oci_spec::image::{
    Config, ConfigBuilder, DescriptorBuilder, ImageConfigurationBuilder, ImageManifestBuilder,
    MediaType, RootFsBuilder,
};

use crate::Digest;
use crate::compression::Compression;
use crate::digest::Hashing;
use crate::index::Index;
use crate::layer::{self, LayerError, Source};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{AtPath, Store, StoreError};
use crate::unpack::Limits;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(
        "a name for an import cannot hold a digest ({0}): its manifest is made here; give NAME or NAME:TAG"
    )]
    Pinned(Digest),
    #[error("{0} is not a tar archive (plain, gzip or zstd)")]
    NotATarball(String),
}

/// Import `tarball` as the image `name`. Returns the manifest's digest.
pub fn import(
    store: &Store,
    tarball: &Path,
    name: &Reference,
    limits: &Limits,
) -> Result<Digest, ImportError> {
    if let Some(digest) = name.digest() {
        // The name of an image made here cannot promise a digest.
        return Err(ImportError::Pinned(digest.clone()));
    }
    let _shared = store.lock_shared()?;
    // First pass: copy the tarball into the store as a blob, hashing it, and
    // hash its uncompressed content for the diff id on the way.
    let mut input = BufReader::new(File::open(tarball).at(tarball)?);
    let head = io::BufRead::fill_buf(&mut input).at(tarball)?;
    let compression = Compression::sniff(head);
    let mut blob = store.temp_file()?;
    let mut hashing = Hashing::new(input);
    io::copy(&mut hashing, blob.as_file_mut()).at(tarball)?;
    let (digest, size) = hashing.finish();
    let mut uncompressed = Hashing::new(
        crate::compression::decompressed(BufReader::new(File::open(blob.path()).at(blob.path())?))
            .at(tarball)?,
    );
    let not_a_tarball = || ImportError::NotATarball(tarball.display().to_string());
    // A tar archive starts with a header whose checksum holds. Text, a picture
    // or an HTML error page does not: refused here, before anything is kept,
    // rather than by the unpacker in the tar parser's words.
    {
        let mut archive = tar::Archive::new(&mut uncompressed);
        let first = archive.entries().map(|mut entries| entries.next());
        if !matches!(first, Ok(Some(Ok(_)))) {
            return Err(not_a_tarball());
        }
    }
    io::copy(&mut uncompressed, &mut io::sink()).map_err(|_| not_a_tarball())?;
    let (diff_id, _) = uncompressed.finish();

    let media_type = match compression {
        Compression::None => MediaType::ImageLayer,
        Compression::Gzip => MediaType::ImageLayerGzip,
        Compression::Zstd => MediaType::ImageLayerZstd,
    };
    let layer = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(&digest)
        .size(size)
        .build()
        .expect("all required fields are set");
    // Second pass: unpack it, checked against both digests; the blob is kept
    // only once its layer is (a hostile or oversized archive leaves nothing).
    let bar = indicatif::ProgressBar::hidden();
    layer::fetch(store, Source::File(blob.path()), &layer, &diff_id, limits, &bar)?;
    store.keep_blob(blob, &digest)?;

    let host = Platform::host();
    let config = ImageConfigurationBuilder::default()
        .architecture(host.architecture.as_str())
        .os(host.os.as_str())
        .config(default_config())
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .expect("complete"),
        )
        .build()
        .expect("all required fields are set");
    let config_bytes = serde_json::to_vec(&config).expect("a config serialises");
    let config_digest = Digest::of(&config_bytes);
    store.put_blob(&config_digest, &config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(&config_digest)
                .size(config_bytes.len() as u64)
                .build()
                .expect("all required fields are set"),
        )
        .layers(vec![layer])
        .build()
        .expect("all required fields are set");
    let manifest_bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
    let manifest_digest = Digest::of(&manifest_bytes);
    store.put_blob(&manifest_digest, &manifest_bytes)?;
    Index::update(store, |index| {
        index.images.insert(name.to_string(), manifest_digest.to_string())
    })?;
    Ok(manifest_digest)
}

/// What a tarball's image runs when given no command: a shell, as `docker
/// import` leaves it to the user (we pick `/bin/sh` so that `ch08 run NAME` works).
fn default_config() -> Config {
    ConfigBuilder::default()
        .cmd(vec!["/bin/sh".to_owned()])
        .env(vec![format!("PATH={}", ch00_process::DEFAULT_PATH)])
        .build()
        .expect("all fields are optional")
}
