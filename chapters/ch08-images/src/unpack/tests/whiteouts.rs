//! Whiteouts and opaque markers, in overlayfs' format — and read by overlayfs.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::{Scene, Tar, is_opaque, is_whiteout, names, root_or_skip};

#[test]
fn a_whiteout_becomes_a_character_device_0_0() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default().dir("etc/").file("etc/.wh.passwd", b"").file(".wh.opt", b"");
    scene.unpack(tar).unwrap();
    assert!(is_whiteout(&scene.at("etc/passwd")));
    assert!(is_whiteout(&scene.at("opt")));
    assert_eq!(names(&scene.dest), ["etc", "opt"], "no .wh. file is written");
}

#[test]
fn an_opaque_marker_becomes_the_xattr_on_its_directory() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar =
        Tar::default().dir("var/").file("var/.wh..wh..opq", b"").file("new/dir/.wh..wh..opq", b""); // its directories missing: made
    scene.unpack(tar).unwrap();
    assert!(is_opaque(&scene.at("var")) && is_opaque(&scene.at("new/dir")));
    assert!(!is_opaque(&scene.at("new")));
    assert!(names(&scene.at("var")).is_empty() && names(&scene.at("new/dir")).is_empty());
}

#[test]
fn aufs_bookkeeping_is_skipped() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .dir(".wh..wh.plnk/")
        .file(".wh..wh.plnk/1234.5678", b"x")
        .file(".wh..wh.aufs", b"")
        .dir("etc/.wh..wh.orph/");
    assert_eq!(scene.unpack(tar).unwrap().entries, 4);
    assert!(names(&scene.dest).is_empty());
}

#[test]
fn a_whiteout_with_no_name_is_refused() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let err = scene.unpack(Tar::default().file("etc/.wh..", b"")).unwrap_err().to_string();
    assert_eq!(err, "etc/.wh..: a whiteout must name what it deletes: .wh.NAME");
}

/// layer.md: a whiteout deletes only from the layers below; what the same
/// layer adds wins, whichever comes first in the archive.
#[test]
fn a_file_the_layer_also_adds_wins_over_its_whiteout() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .file(".wh.before", b"")
        .file("before", b"added\n")
        .file("after", b"added\n")
        .file(".wh.after", b"");
    scene.unpack(tar).unwrap();
    for name in ["before", "after"] {
        assert_eq!(fs::read_to_string(scene.at(name)).unwrap(), "added\n", "{name}");
    }
}

/// A directory deleted and re-added in one layer must hide the lower one: an
/// opaque directory, whichever comes first — and also when the directory is
/// only implied by a file in it.
#[test]
fn a_directory_the_layer_also_adds_becomes_opaque() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .file(".wh.before", b"")
        .dir("before/")
        .file("before/f", b"")
        .dir("after/")
        .file("after/f", b"")
        .file(".wh.after", b"")
        .file(".wh.implied", b"")
        .file("implied/f", b"");
    scene.unpack(tar).unwrap();
    for dir in ["before", "after", "implied"] {
        assert!(is_opaque(&scene.at(dir)), "{dir}");
        assert_eq!(names(&scene.at(dir)), ["f"], "{dir}");
    }
}

/// In an opaque directory a whiteout is redundant, and overlayfs would list
/// it: whichever comes first, none is left there.
#[test]
fn no_whiteout_is_left_inside_an_opaque_directory() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .file("d/.wh.early", b"")
        .file("d/sub/.wh.deep", b"")
        .file("d/.wh..wh..opq", b"")
        .file("d/.wh.late", b"")
        .file("d/kept", b"")
        .file("e/.wh.other", b""); // not under d: kept
    scene.unpack(tar).unwrap();
    assert!(is_opaque(&scene.at("d")));
    assert_eq!(names(&scene.at("d")), ["kept", "sub"]);
    assert!(names(&scene.at("d/sub")).is_empty());
    assert!(is_whiteout(&scene.at("e/other")));
}

/// `rm -rf /foo` can yield `.wh.foo` and then `foo/.wh.bar`: the second has
/// nothing left to delete, and must not bring `foo` back as a directory.
#[test]
fn a_whiteout_under_a_deleted_directory_changes_nothing() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar =
        Tar::default().file(".wh.foo", b"").file("foo/.wh.bar", b"").file("foo/.wh..wh..opq", b"");
    scene.unpack(tar).unwrap();
    assert!(is_whiteout(&scene.at("foo")));
}

/// The proof of the format: overlayfs itself, stacking a lower layer and ours,
/// shows the deleted file gone and the opaque directory's old files hidden.
#[test]
fn overlayfs_reads_our_markers() {
    if !root_or_skip() {
        return;
    }
    let lower = Scene::new();
    let tar = Tar::default()
        .file("etc/passwd", b"")
        .file("etc/group", b"")
        .file("opt/old", b"")
        .file("srv/gone/file", b"");
    lower.unpack(tar).unwrap();
    let upper = Scene::new();
    let tar = Tar::default()
        .file("etc/.wh.passwd", b"")
        .file("opt/.wh..wh..opq", b"")
        .file("opt/new", b"")
        .file(".wh.srv", b"")
        .dir("srv/")
        .file("srv/fresh", b"");
    upper.unpack(tar).unwrap();

    let merged = upper.tmp.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let lowerdir = format!("lowerdir={}:{}", upper.dest.display(), lower.dest.display());
    mount(Some("overlay"), &merged, Some("overlay"), MsFlags::MS_RDONLY, Some(lowerdir.as_str()))
        .unwrap();
    let _unmount = Unmount(&merged);
    assert_eq!(names(&merged.join("etc")), ["group"]);
    assert_eq!(names(&merged.join("opt")), ["new"]);
    assert_eq!(names(&merged.join("srv")), ["fresh"]);
}

/// Unmounts when the test ends, passed or failed.
struct Unmount<'p>(&'p Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = umount2(self.0, MntFlags::MNT_DETACH);
    }
}
