//! Hostile archives: every trick lands inside the layer, or is refused.

use std::fs;
use std::os::unix::fs::MetadataExt;

use tar::EntryType;

use super::{Scene, Tar, names, root_or_skip};

#[test]
fn dot_dot_and_absolute_names_land_inside_the_layer() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let secret = scene.outside.join("secret");
    let tar = Tar::default()
        .file("../../etc/passwd", b"one\n")
        .file("/etc/shadow", b"two\n")
        .file("a/../../../b", b"three\n")
        // As absolute as it gets: the host's own path of the stand-in.
        .file(secret.to_str().unwrap(), b"four\n")
        .file("../outside/secret", b"five\n");
    scene.unpack(tar).unwrap();
    assert_eq!(fs::read_to_string(scene.at("etc/passwd")).unwrap(), "one\n");
    assert_eq!(fs::read_to_string(scene.at("etc/shadow")).unwrap(), "two\n");
    assert_eq!(fs::read_to_string(scene.at("b")).unwrap(), "three\n");
    let inside = secret.strip_prefix("/").unwrap();
    assert_eq!(fs::read_to_string(scene.dest.join(inside)).unwrap(), "four\n");
    assert_eq!(fs::read_to_string(scene.at("outside/secret")).unwrap(), "five\n");
    scene.assert_outside_untouched();
}

/// The layer's root is `dest`: `.`, `/` or `../` name it, and no entry may
/// make it a file or a link.
#[test]
fn names_of_the_root_itself_are_skipped() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .dir("./")
        .symlink(".", "/")
        .file("/", b"not a root\n")
        .raw(EntryType::Regular, b"", b"", 0o644, b"")
        .symlink("../", "../outside");
    assert_eq!(scene.unpack(tar).unwrap().entries, 5);
    assert!(fs::symlink_metadata(&scene.dest).unwrap().is_dir());
    assert!(names(&scene.dest).is_empty());
    scene.assert_outside_untouched();
}

/// The archive makes a link, then writes "through" it: the link is resolved
/// inside the layer, as the container would resolve it.
#[test]
fn a_file_written_through_a_symlink_stays_inside() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let outside = scene.outside.to_str().unwrap();
    let tar = Tar::default()
        .dir("outside/")
        .symlink("absolute", "/outside")
        .file("absolute/a", b"a\n")
        .symlink("relative", "../../../../outside")
        .file("relative/b", b"b\n")
        .symlink("up", "../../..")
        .file("up/c", b"c\n");
    scene.unpack(tar).unwrap();
    assert_eq!(names(&scene.at("outside")), ["a", "b"]);
    assert_eq!(fs::read_to_string(scene.at("c")).unwrap(), "c\n");

    // A link to the host's real path of `outside`: inside the layer, no such
    // directory. Refused, with both names in the message.
    let scene = Scene::new();
    let tar = Tar::default().symlink("evil", outside).file("evil/secret", b"pwned\n");
    let err = scene.unpack(tar).unwrap_err().to_string();
    assert!(err.starts_with("evil/secret: evil is a symbolic link to /"), "{err}");
    assert!(err.contains("leads to no directory inside the layer"), "{err}");
    scene.assert_outside_untouched();
}

#[test]
fn a_hard_link_resolves_inside_the_layer() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .file("etc/passwd", b"root\n")
        .hardlink("dotdot", "../../etc/passwd")
        .hardlink("absolute", "/etc/passwd")
        .symlink("via", "/etc")
        .hardlink("through-link", "via/passwd")
        .hardlink("etc/passwd", "etc/passwd"); // to itself: already there
    scene.unpack(tar).unwrap();
    let inode = fs::metadata(scene.at("etc/passwd")).unwrap().ino();
    for link in ["dotdot", "absolute", "through-link"] {
        assert_eq!(fs::symlink_metadata(scene.at(link)).unwrap().ino(), inode, "{link}");
    }
    assert_eq!(fs::metadata(scene.at("etc/passwd")).unwrap().nlink(), 4);
    scene.assert_outside_untouched();
}

/// A hard link can only name a file of its own layer: the host's file (by
/// its real path, or through a link), a lower layer's, a directory — refused.
#[test]
fn a_hard_link_to_anything_not_in_the_layer_is_refused() {
    if !root_or_skip() {
        return;
    }
    let probe = Scene::new();
    let secret = probe.outside.join("secret");
    let outside = probe.outside.to_str().unwrap().to_owned();
    let cases = [
        Tar::default().hardlink("h", secret.to_str().unwrap()),
        Tar::default().hardlink("h", "../outside/secret"),
        Tar::default().symlink("o", &outside).hardlink("h", "o/secret"),
        Tar::default().hardlink("h", "usr/bin/from-a-lower-layer"),
        Tar::default().dir("d/").hardlink("h", "d"),
    ];
    for tar in cases {
        let scene = Scene::new();
        let err = scene.unpack(tar).unwrap_err().to_string();
        assert!(err.starts_with("h: a hard link to "), "{err}");
        assert!(err.contains("which is not a file of this layer"), "{err}");
        assert!(!scene.at("h").exists());
        scene.assert_outside_untouched();
    }
    probe.assert_outside_untouched();
}

/// A later entry replaces an earlier one of the same name, whatever each is,
/// removing the old one without following it anywhere.
#[test]
fn an_entry_replaces_what_was_there_without_following_links() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let outside = scene.outside.to_str().unwrap().to_owned();
    let secret = scene.outside.join("secret");
    let tar = Tar::default()
        .file("full/deep/er/file", b"x")
        .file("full", b"a file now\n") // a full directory, removed whole
        .file("was-file", b"x")
        .dir("was-file/") // a directory over a file
        .symlink("to-secret", secret.to_str().unwrap())
        .file("to-secret", b"mine\n") // a file over a link: the link goes
        .symlink("to-outside", &outside)
        .dir("to-outside/") // a directory over a link to a directory
        .file("to-outside/x", b"x")
        .dir("kept/")
        .file("kept/child", b"x")
        .dir("kept/"); // a directory over a directory: merged
    scene.unpack(tar).unwrap();
    assert_eq!(fs::read_to_string(scene.at("full")).unwrap(), "a file now\n");
    assert!(fs::symlink_metadata(scene.at("was-file")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(scene.at("to-secret")).unwrap(), "mine\n");
    assert!(fs::symlink_metadata(scene.at("to-outside")).unwrap().is_dir());
    assert_eq!(names(&scene.at("kept")), ["child"]);
    scene.assert_outside_untouched();
}
