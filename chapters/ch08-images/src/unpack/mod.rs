//! Applying a layer: a tar archive written into a directory of its own, in
//! overlayfs' format, with every hostile trick kept inside.
//!
//! A layer is the difference one build step made: the files it added or
//! changed, and the files it *deleted*. A tar archive cannot say "deleted", so
//! the OCI image spec (`layer.md`, "Whiteouts") kept AUFS's convention: an
//! empty file `DIR/.wh.NAME` means "NAME is deleted", and `DIR/.wh..wh..opq`
//! means "DIR hides everything the layers below have in it" (an *opaque*
//! directory: `rm -rf DIR && mkdir DIR` in one step). A whiteout deletes only
//! from the layers *below*; a file the same layer also adds is kept.
//!
//! We keep each layer in its own directory, ready to be one of overlayfs'
//! lower directories, as containers/storage's overlay driver does. Overlayfs
//! has its own markers for the same two facts (the kernel's
//! `Documentation/filesystems/overlayfs.rst`, "whiteouts and opaque
//! directories"): a whiteout is a **character device numbered 0/0** named
//! NAME, and an opaque directory carries the **extended attribute
//! `trusted.overlay.opaque` = `y`**. So `.wh.` entries are translated, never
//! written as files.
//!
//! The `tar` crate could unpack for us, and we do not let it: it knows nothing
//! of whiteouts, and it checks paths by looking at the host's view of the
//! directory, which a symbolic link the archive made a moment earlier can
//! change. A layer is hostile input: whoever built the image chose every byte.
//! It can name `../../etc/passwd`, make `etc -> /etc` and then write
//! `etc/passwd`, hard-link the host's `/etc/shadow`, or be a few kilobytes of
//! gzip that expand to terabytes. So we read the entries with the `tar` crate
//! and write each one ourselves (`entry.rs`, `meta.rs`): names cleaned as if the layer
//! were `/` (`path.rs`), every parent resolved by the kernel inside the layer
//! (`root.rs`), whiteouts translated (`whiteout.rs`), and limits counted here.
//!
//! [`find_in_layers`] (`find.rs`) reads the stack back the way overlayfs
//! would, to say which layer a file of the merged view comes from.

mod entry;
mod find;
mod meta;
mod path;
mod root;
mod userns;
mod whiteout;

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::sys::time::TimeSpec;

pub use find::find_in_layers;

use root::Root;
use whiteout::Marker;

/// Bounds on what one layer may hold.
///
/// Why bound a layer at all? The digest proves the bytes are the ones the
/// manifest named, not that they are reasonable: a decompression bomb is a
/// valid, correctly digested layer — a few kilobytes of gzip (a file of zeros
/// compresses a thousandfold and more) that expand to terabytes and fill the
/// disk, or millions of empty files that exhaust its inodes. The defaults are
/// far above any real image; a caller can raise them for one it trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file content, counted as they are written.
    pub max_bytes: u64,
    /// Entries in the archive, of any kind.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: 32 << 30, max_entries: 10_000_000 }
    }
}

/// What a layer held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
    /// Device nodes left out: in a user namespace (a user's pull, chapter 9)
    /// the kernel lets no one make them (`userns.rs`).
    pub devices_skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("open the layer directory {path}: {source}", path = .path.display())]
    Dest { path: PathBuf, source: io::Error },
    #[error("read the layer's tar archive: {source} (is the blob damaged, or not a tar archive?)")]
    Archive { source: io::Error },
    #[error("{path}: {doing}: {source}", path = .path.display())]
    Entry { path: PathBuf, doing: &'static str, source: io::Error },
    #[error("{path}: {why}", path = .path.display())]
    Refused { path: PathBuf, why: String },
    #[error(
        "the layer holds more than {limit} {what} (at {path}): a decompression bomb, or an image far bigger than expected; raise the limit only for an image you trust",
        path = .path.display()
    )]
    Limit { what: &'static str, limit: u64, path: PathBuf },
}

/// The entry an error is about, named as the archive names it.
#[derive(Clone, Copy)]
struct At<'p>(&'p Path);

impl<'p> At<'p> {
    fn io<E: Into<io::Error>>(self, doing: &'static str) -> impl FnOnce(E) -> UnpackError + 'p {
        move |error| UnpackError::Entry { path: self.0.to_owned(), doing, source: error.into() }
    }

    fn refused(self, why: impl Into<String>) -> UnpackError {
        UnpackError::Refused { path: self.0.to_owned(), why: why.into() }
    }
}

/// The bytes the `tar` crate may read for one entry's headers — its own
/// header, a GNU long name or link, PAX records — before we see the entry.
/// It reads those into memory whole, so without a cap a few bytes of gzip
/// could claim a ten-gigabyte "long name" and exhaust memory before any limit
/// of ours sees an entry. Real headers take a few kilobytes.
const HEADER_BUDGET: u64 = 1 << 20;

// ANCHOR: unpack
/// Apply one layer (an *uncompressed* tar stream) into `dest`, an existing
/// empty directory that becomes this layer's own directory, ready to be an
/// overlayfs lower directory. On error, `dest` is left as it is (the caller
/// removes it); nothing outside it is touched, whatever the archive says.
pub fn unpack(tar: impl Read, dest: &Path, limits: &Limits) -> Result<Unpacked, UnpackError> {
    let root =
        Root::open(dest).map_err(|source| UnpackError::Dest { path: dest.to_owned(), source })?;
    let mut layer = Layer {
        root,
        limits,
        done: Unpacked::default(),
        markers: BTreeMap::new(),
        dir_times: Vec::new(),
    };
    let budget = Rc::new(Cell::new(None));
    let mut archive = tar::Archive::new(Metered { inner: tar, budget: Rc::clone(&budget) });
    let mut entries = archive.entries().map_err(|source| UnpackError::Archive { source })?;
    loop {
        budget.set(Some(HEADER_BUDGET));
        let next = entries.next();
        budget.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|source| UnpackError::Archive { source })?;
        let name = path::shown(&entry.path_bytes());
        let at = At(&name);
        layer.count_entry(at)?;
        layer.write(&mut entry, at)?;
        // Whatever content the entry had and we did not write (a whiteout's, a
        // hard link's): read it here, counted, so that the next header's read
        // is only headers.
        layer.copy_content(&mut entry, &mut io::sink(), at)?;
    }
    layer.finish()?;
    Ok(layer.done)
}
// ANCHOR_END: unpack

/// One layer being written.
struct Layer<'l> {
    root: Root,
    limits: &'l Limits,
    done: Unpacked,
    /// The whiteouts and opaque directories this layer made, by where they are
    /// inside it (see `whiteout.rs`).
    markers: BTreeMap<PathBuf, Marker>,
    /// Directories' modification times, set last: writing a file into a
    /// directory changes its time, so a time set earlier would not last.
    dir_times: Vec<(PathBuf, TimeSpec)>,
}

impl Layer<'_> {
    fn count_entry(&mut self, at: At) -> Result<(), UnpackError> {
        self.done.entries += 1;
        if self.done.entries > self.limits.max_entries {
            return Err(UnpackError::Limit {
                what: "entries",
                limit: self.limits.max_entries,
                path: at.0.to_owned(),
            });
        }
        Ok(())
    }

    /// Copy an entry's content, counted against the byte limit.
    fn copy_content(
        &mut self,
        from: &mut impl Read,
        to: &mut impl Write,
        at: At,
    ) -> Result<(), UnpackError> {
        // Never more than one byte past the limit: enough to know it was passed.
        let left = self.limits.max_bytes.saturating_sub(self.done.bytes).saturating_add(1);
        let copied = io::copy(&mut from.take(left), to).map_err(at.io("copy the content"))?;
        self.done.bytes += copied;
        if self.done.bytes > self.limits.max_bytes {
            return Err(UnpackError::Limit {
                what: "bytes of file content",
                limit: self.limits.max_bytes,
                path: at.0.to_owned(),
            });
        }
        Ok(())
    }
}

/// The tar stream, with a budget for the reads the `tar` crate makes between
/// entries (see [`HEADER_BUDGET`]); `None` while we read an entry's content,
/// which our own limits count.
struct Metered<R> {
    inner: R,
    budget: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.budget.get() else { return self.inner.read(buf) };
        if left == 0 {
            return Err(io::Error::other(format!(
                "an entry's headers (long names, PAX records) take more than {HEADER_BUDGET} bytes: no real archive has such headers"
            )));
        }
        let wanted = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..wanted])?;
        self.budget.set(Some(left - read as u64));
        Ok(read)
    }
}
