//! Bombs: a small blob that expands past what a layer may hold.

use std::io::Write;

use tar::EntryType;

use super::{Scene, Tar, root_or_skip};
use crate::compression::decompressed;
use crate::unpack::{Limits, UnpackError, unpack};

/// 4 MiB of zeros compress to a few kilobytes: the layer stops at the limit,
/// and the error names the limit, the entry, and what to do.
#[test]
fn a_decompression_bomb_stops_at_the_byte_limit() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let zeros = vec![0; 4 << 20];
    let tar = Tar::default().file("small", b"fine\n").file("bomb", &zeros).finish();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&tar).unwrap();
    let blob = gzip.finish().unwrap();
    assert!(blob.len() < 16 << 10, "{} bytes of gzip", blob.len());

    let limits = Limits { max_bytes: 1 << 20, ..Limits::default() };
    let err = unpack(decompressed(&blob[..]).unwrap(), &scene.dest, &limits).unwrap_err();
    assert!(matches!(err, UnpackError::Limit { limit: 1_048_576, .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("the layer holds more than 1048576 bytes of file content (at bomb)")
    );
    assert!(message.ends_with("raise the limit only for an image you trust"), "{message}");
    // Written up to the limit and no further.
    assert!(std::fs::metadata(scene.at("bomb")).unwrap().len() <= 1 << 20);

    // Within the limit, the same archive is fine, and counted.
    let scene = Scene::new();
    let done = unpack(decompressed(&blob[..]).unwrap(), &scene.dest, &Limits::default()).unwrap();
    assert_eq!((done.entries, done.bytes), (2, 5 + (4 << 20)));
}

#[test]
fn too_many_entries_stop_at_the_entry_limit() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = (0..10).fold(Tar::default(), |tar, n| tar.file(&format!("f{n}"), b""));
    let limits = Limits { max_entries: 5, ..Limits::default() };
    let err = unpack(&tar.finish()[..], &scene.dest, &limits).unwrap_err().to_string();
    assert!(err.starts_with("the layer holds more than 5 entries (at f5)"), "{err}");
}

/// The tar crate reads a GNU long name into memory whole: one claiming to be
/// huge must fail before it is read, not exhaust memory.
#[test]
fn a_huge_long_name_is_refused_while_it_is_read() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let name = vec![b'a'; 2 << 20];
    let tar = Tar::default()
        .raw(EntryType::GNULongName, b"././@LongLink", b"", 0o644, &name)
        .file("x", b"");
    let err = scene.unpack(tar).unwrap_err().to_string();
    assert!(err.starts_with("read the layer's tar archive: an entry's headers"), "{err}");
    assert!(err.contains("take more than 1048576 bytes"), "{err}");
}
