//! One layer, from the registry (or the store) to an unpacked directory, in one
//! pass: the bytes are checked against the manifest's digest and kept as a blob
//! while they are decompressed, hashed again (the diff id, the digest the image
//! config knows the layer by), and unpacked.
//!
//! ```text
//! registry ─▶ Verify(digest, size) ─▶ Tee ─▶ blob file in tmp/
//!                                      └─▶ gunzip/unzstd ─▶ Hashing(diff id) ─▶ unpack ─▶ dir in tmp/
//! ```
//!
//! Only when the last byte has arrived do we know whether the blob was the right
//! one, so everything is written under temporary names and renamed into place at
//! the end; a wrong byte anywhere leaves nothing behind.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};

use indicatif::ProgressBar;
use oci_spec::image::Descriptor;

use crate::compression::decompressed;
use crate::digest::{Hashing, Verify};
use crate::registry::{Client, RegistryError};
use crate::store::{AtPath, Store, StoreError};
use crate::unpack::{Limits, UnpackError, Unpacked, unpack};
use crate::{Digest, DigestError};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("layer {digest}: {source}{}", limit_hint(.source))]
    Unpack { digest: Digest, source: UnpackError },
    #[error(
        "layer {digest} is not what the manifest named: {why}. The registry, or something between it and us, sent other bytes; nothing was kept"
    )]
    Blob { digest: Digest, why: String },
    #[error("layer {digest}: {source}")]
    Read { digest: Digest, source: io::Error },
    #[error(
        "layer {digest} goes on for more than {MAX_TRAILING} bytes after the end of its tar archive: a decompression bomb, or a broken layer"
    )]
    Trailing { digest: Digest },
    #[error(
        "layer {digest} unpacks to content with diff id {got}, but the image config says {expected}: the image is inconsistent, or was tampered with"
    )]
    DiffId { digest: Digest, expected: Digest, got: Digest },
}

fn limit_hint(error: &UnpackError) -> &'static str {
    match error {
        UnpackError::Limit { .. } => " (--max-layer-size)",
        _ => "",
    }
}

/// Where a layer's bytes come from.
pub enum Source<'a> {
    Registry(&'a Client),
    /// A blob already in the store (a second image with this layer, or a
    /// layer directory removed since): checked again as it is read.
    Store,
    /// A file not yet in the store (`import`'s copy of a tarball): it is kept
    /// only once its layer is unpacked.
    File(&'a std::path::Path),
}

/// Make sure the layer `descriptor` (known to the config as `diff_id`) is
/// unpacked in the store. Returns whether its blob had to be downloaded.
pub fn fetch(
    store: &Store,
    source: Source,
    descriptor: &Descriptor,
    diff_id: &Digest,
    limits: &Limits,
    bar: &ProgressBar,
) -> Result<bool, LayerError> {
    let digest = Digest::try_from(descriptor.digest())?;
    if store.has_layer(diff_id) {
        bar.finish_with_message("already here");
        return Ok(false);
    }
    let size = descriptor.size();
    bar.set_length(size);
    let (input, mut keep): (Box<dyn Read + Send>, Option<tempfile::NamedTempFile>) = match source {
        Source::Registry(client) if !store.has_blob(&digest) => {
            (Box::new(client.blob(&digest)?), Some(store.temp_file()?))
        }
        Source::File(path) => (Box::new(File::open(path).at(path)?), None),
        _ => {
            let path = store.blob_path(&digest);
            (Box::new(File::open(&path).at(&path)?), None)
        }
    };
    let downloaded = keep.is_some();
    let checked = Verify::new(input, digest.clone(), size);
    let tee = Tee { inner: checked, copy: keep.as_mut().map(|f| f.as_file_mut()), bar };
    let mut compressed = BufReader::with_capacity(256 << 10, tee);

    let dir = store.temp_dir()?;
    let unpacked = unpack_checked(&mut compressed, dir.path(), limits);
    // Whatever went wrong, if the bytes were not the manifest's, that is the
    // error to report: a tar parser fed the wrong bytes fails in its own words,
    // often before their end, so read on to it (at most the promised size).
    if unpacked.is_err() {
        let _ = io::copy(&mut compressed, &mut io::sink());
    }
    if let Some(why) = compressed.get_ref().inner.failure() {
        return Err(LayerError::Blob { digest, why: why.to_owned() });
    }
    let (got, done) = unpacked.map_err(|source| match source {
        Failure::Unpack(source) => LayerError::Unpack { digest: digest.clone(), source },
        Failure::Read(source) => LayerError::Read { digest: digest.clone(), source },
        Failure::Trailing => LayerError::Trailing { digest: digest.clone() },
    })?;
    if got != *diff_id {
        return Err(LayerError::DiffId { digest, expected: diff_id.clone(), got });
    }
    if done.devices_skipped > 0 {
        // Never silently: the image's devices are missing from its containers.
        bar.suspend(|| {
            eprintln!(
                "warning: layer {}: {} device nodes left out (root of a user namespace may make none; a container gets its devices from the runtime)",
                digest.short(),
                done.devices_skipped
            );
        });
    }
    if let Some(file) = keep {
        store.keep_blob(file, &digest)?;
    }
    store.keep_layer(dir, diff_id)?;
    bar.finish_with_message(if downloaded { "done" } else { "unpacked" });
    Ok(downloaded)
}

enum Failure {
    Unpack(UnpackError),
    Read(io::Error),
    Trailing,
}

/// How much may follow a layer's end-of-archive blocks.
const MAX_TRAILING: u64 = 1 << 20;

/// Decompress and unpack into `dir`; read to the end, so that the diff id
/// covers every byte (the archive's end-of-archive blocks may come before the
/// end of the stream) and the blob's digest is checked over all of it. Returns
/// the diff id, and what the layer held.
fn unpack_checked(
    compressed: &mut impl io::BufRead,
    dir: &std::path::Path,
    limits: &Limits,
) -> Result<(Digest, Unpacked), Failure> {
    let mut tar = Hashing::new(decompressed(&mut *compressed).map_err(Failure::Read)?);
    let done = unpack(&mut tar, dir, limits).map_err(Failure::Unpack)?;
    // What follows the archive's end is padding (tar writes in records of
    // 10 KiB): a little, or a decompression bomb that no limit would count.
    let trailing = io::copy(&mut (&mut tar).take(MAX_TRAILING + 1), &mut io::sink());
    if trailing.map_err(Failure::Read)? > MAX_TRAILING {
        return Err(Failure::Trailing);
    }
    let (diff_id, _) = tar.finish();
    io::copy(compressed, &mut io::sink()).map_err(Failure::Read)?;
    Ok((diff_id, done))
}

/// Pass the bytes on, and write a copy of each to `copy` on the way.
struct Tee<'a, R> {
    inner: R,
    copy: Option<&'a mut File>,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = &mut self.copy {
            copy.write_all(&buf[..n])?;
        }
        self.bar.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::image::{DescriptorBuilder, MediaType};

    use super::*;
    use crate::testing::root_or_skip;

    /// A layer as a store blob: a tar archive of one file, then `tail`.
    fn layer_blob(store: &Store, tail: &[u8]) -> Descriptor {
        let mut archive = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_cksum();
        archive.append_data(&mut header, "hello", &b"hi\n"[..]).unwrap();
        let mut bytes = archive.into_inner().unwrap();
        bytes.extend_from_slice(tail);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gzip, &bytes).unwrap();
        let blob = gzip.finish().unwrap();
        let digest = Digest::of(&blob);
        store.put_blob(&digest, &blob).unwrap();
        DescriptorBuilder::default()
            .media_type(MediaType::ImageLayerGzip)
            .digest(&digest)
            .size(blob.len() as u64)
            .build()
            .unwrap()
    }

    /// Zeros after the archive's end are read (they count for the diff id) but
    /// only so far: past a MiB it is a bomb no limit on the files would see.
    #[test]
    fn what_follows_the_archive_is_bounded() {
        if !root_or_skip() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bar = ProgressBar::hidden();
        let limits = Limits::default();
        let diff_id = Digest::of(b"not checked before the end");
        let padded = layer_blob(&store, &[0; 20 << 10]);
        let result = fetch(&store, Source::Store, &padded, &diff_id, &limits, &bar);
        assert!(matches!(result, Err(LayerError::DiffId { .. })), "read to its end: {result:?}");
        let bomb = layer_blob(&store, &vec![0; (MAX_TRAILING + (2 << 20)) as usize]);
        let result = fetch(&store, Source::Store, &bomb, &diff_id, &limits, &bar);
        assert!(matches!(result, Err(LayerError::Trailing { .. })), "{result:?}");
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
