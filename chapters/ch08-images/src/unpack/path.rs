//! Names in a layer: cleaned as if the layer were `/`, and read for whiteouts.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

// ANCHOR: clean
/// An archive's name for an entry, cleaned *lexically* as if the layer were the
/// root directory: `..` at the top stays at the top, as it does at `/`, so
/// `../../etc/passwd` and `/etc/passwd` both become `etc/passwd` (umoci and
/// containers/storage clean names the same way). Empty, `.` and `..`
/// components disappear; the result is relative, and empty for the root itself.
///
/// This only stops `..` in the *name*. A symbolic link the layer made earlier
/// can still lead anywhere; that is what resolving inside the root is for.
pub(super) fn clean(raw: &[u8]) -> PathBuf {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|byte| *byte == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    PathBuf::from(OsStr::from_bytes(&parts.join(&b'/')))
}
// ANCHOR_END: clean

/// For messages: an archive's name as it wrote it (`../../etc/passwd`, not
/// what we made of it), so the error shows the trick.
pub(super) fn shown(raw: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(raw))
}

/// What the last component of a name says, in the whiteout convention the OCI
/// image spec took from AUFS (`layer.md`, "Whiteouts").
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Name<'a> {
    /// An ordinary file, directory or link.
    Plain,
    /// `.wh.NAME`: NAME, in the layers below, is deleted.
    Whiteout(&'a OsStr),
    /// `.wh..wh..opq`: this directory hides everything the layers below have
    /// in it.
    Opaque,
    /// `.wh..wh.plnk`, `.wh..wh.aufs`, ...: AUFS's own bookkeeping, which some
    /// old images carry. It describes no file of the image: skipped.
    Aufs,
    /// `.wh.` alone, `.wh..`, `.wh...`: a whiteout of no name (or of the
    /// directory itself, or its parent). No tool writes these.
    Invalid,
}

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

pub(super) fn classify(name: &OsStr) -> Name<'_> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE {
        return Name::Opaque;
    }
    if bytes.starts_with(META_PREFIX) {
        return Name::Aufs;
    }
    match bytes.strip_prefix(PREFIX) {
        None => Name::Plain,
        Some(b"" | b"." | b"..") => Name::Invalid,
        Some(deleted) => Name::Whiteout(OsStr::from_bytes(deleted)),
    }
}

/// True if a component of `path` is AUFS bookkeeping: AUFS kept whole
/// directories of it (`.wh..wh.plnk/` held hard link targets), and nothing in
/// them belongs to the image.
pub(super) fn in_aufs_metadata(path: &std::path::Path) -> bool {
    path.iter().any(|part| part.as_bytes().starts_with(META_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn names_are_cleaned_as_if_the_layer_were_the_root() {
        let table: [(&str, &str); 9] = [
            ("etc/passwd", "etc/passwd"),
            ("../../etc/passwd", "etc/passwd"),
            ("/etc/passwd", "etc/passwd"),
            ("a/../../../b", "b"),
            ("./a/./b//c/", "a/b/c"),
            ("a/b/..", "a"),
            (".", ""),
            ("../", ""),
            ("", ""),
        ];
        for (raw, cleaned) in table {
            assert_eq!(clean(raw.as_bytes()), Path::new(cleaned), "{raw:?}");
        }
    }

    #[test]
    fn names_that_are_not_utf8_survive_cleaning() {
        assert_eq!(clean(b"../caf\xe9").as_os_str().as_bytes(), b"caf\xe9");
    }

    #[test]
    fn whiteout_names_are_recognised() {
        let table = [
            ("passwd", Name::Plain),
            ("x.wh.y", Name::Plain),
            (".wh.passwd", Name::Whiteout(OsStr::new("passwd"))),
            (".wh..hidden", Name::Whiteout(OsStr::new(".hidden"))),
            (".wh..wh..opq", Name::Opaque),
            (".wh..wh.plnk", Name::Aufs),
            (".wh..wh.aufs", Name::Aufs),
            (".wh.", Name::Invalid),
            (".wh..", Name::Invalid),
            (".wh...", Name::Invalid),
        ];
        for (name, expected) in table {
            assert_eq!(classify(OsStr::new(name)), expected, "{name:?}");
        }
        assert!(in_aufs_metadata(Path::new(".wh..wh.plnk/123.456")));
        assert!(!in_aufs_metadata(Path::new("etc/.wh.passwd")));
    }
}
