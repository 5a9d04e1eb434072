//! Finding which layer provides a file of the merged view.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Scene, Tar, root_or_skip};
use crate::unpack::find_in_layers;
use tar::EntryType;

/// Three layers, bottom first, and what each looks up gives.
#[test]
fn the_search_goes_down_from_the_top_and_stops_where_something_hides_the_path() {
    if !root_or_skip() {
        return;
    }
    let layers = [
        Tar::default()
            .file("etc/passwd", b"0\n")
            .file("etc/group", b"0\n")
            .file("opt/a", b"0\n")
            .file("var/x", b"0\n")
            .file("home", b"0\n"),
        Tar::default().file("etc/passwd", b"1\n").file(".wh.var", b"").file("home/user/x", b"1\n"),
        Tar::default()
            .file("opt/.wh..wh..opq", b"")
            .file("opt/b", b"2\n")
            .file("etc/.wh.group", b""),
    ];
    let scenes: Vec<Scene> = layers
        .map(|tar| {
            let scene = Scene::new();
            scene.unpack(tar).unwrap();
            scene
        })
        .into();
    let dirs: Vec<PathBuf> = scenes.iter().map(|scene| scene.dest.clone()).collect();
    let find = |path: &str| {
        find_in_layers(&dirs, Path::new(path)).unwrap().map(|(index, mut file)| {
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (index, text)
        })
    };
    assert_eq!(find("etc/passwd"), Some((1, "1\n".into())), "the top layer that has it");
    assert_eq!(find("/etc/../etc/passwd"), Some((1, "1\n".into())), "cleaned first");
    assert_eq!(find("etc/group"), None, "a whiteout deletes it");
    assert_eq!(find("var/x"), None, "a whiteout of its directory deletes it");
    assert_eq!(find("opt/a"), None, "an opaque directory hides it");
    assert_eq!(find("opt/b"), Some((2, "2\n".into())));
    assert_eq!(find("home/user/x"), Some((1, "1\n".into())), "a directory over a file");
    assert_eq!(find("missing"), None);
    assert_eq!(find_in_layers(&[], Path::new("etc/passwd")).unwrap().map(|(i, _)| i), None);
}

/// A directory marked opaque by `user.overlay.opaque` alone — as a user's
/// own store has it (rootless, chapter 9: `trusted.*` is root's) — hides the
/// layers below as well.
#[test]
fn the_user_mark_alone_makes_a_directory_opaque() {
    if !root_or_skip() {
        return;
    }
    let [bottom, top] =
        [Tar::default().file("opt/a", b"0\n"), Tar::default().dir("opt/")].map(|tar| {
            let scene = Scene::new();
            scene.unpack(tar).unwrap();
            scene
        });
    let opt = std::ffi::CString::new(top.at("opt").into_os_string().into_encoded_bytes()).unwrap();
    let (name, value) = (c"user.overlay.opaque", c"y");
    // SAFETY: the path and the name are NUL-terminated; the value is 1 byte.
    let set = unsafe { libc::setxattr(opt.as_ptr(), name.as_ptr(), value.as_ptr().cast(), 1, 0) };
    assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    let dirs = [bottom.dest.clone(), top.dest.clone()];
    assert_eq!(find_in_layers(&dirs[..1], Path::new("opt/a")).unwrap().map(|(i, _)| i), Some(0));
    assert!(find_in_layers(&dirs, Path::new("opt/a")).unwrap().is_none());
}

/// Links in a layer are resolved inside that layer: one pointing at the
/// host's files finds nothing there.
#[test]
fn the_search_resolves_links_inside_the_layer() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let outside = scene.outside.to_str().unwrap().to_owned();
    let tar = Tar::default()
        .symlink("host", &outside)
        .symlink("escape", "../../../../outside/secret")
        .file("real/passwd", b"inside\n")
        .symlink("etc", "/real");
    scene.unpack(tar).unwrap();
    let layers = [scene.dest.clone()];
    assert!(find_in_layers(&layers, Path::new("host/secret")).unwrap().is_none());
    let err = find_in_layers(&layers, Path::new("escape")).unwrap_err().to_string();
    assert!(err.starts_with("escape: open it in its layer"), "{err}");
    let (index, mut file) = find_in_layers(&layers, Path::new("etc/passwd")).unwrap().unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    assert_eq!((index, text.as_str()), (0, "inside\n"));
    assert_eq!(fs::read_to_string(scene.outside.join("secret")).unwrap(), "host\n");
}

/// What the image put at a path is opened to read only if it is a regular
/// file: opening a device node can act on the host (a watchdog arms), and a
/// FIFO would block. Anything else comes back `O_PATH`: it can be looked at,
/// not read.
#[test]
fn only_a_regular_file_is_opened_to_read() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default().raw(EntryType::Fifo, b"etc/passwd", b"", 0o644, b"").device(1, 3).raw(
        EntryType::Char,
        b"etc/group",
        b"",
        0o666,
        b"",
    );
    scene.unpack(tar).unwrap();
    let layers = [scene.dest.clone()];
    for (path, kind) in [("etc/passwd", "FIFO"), ("etc/group", "char device")] {
        let (_, mut file) = find_in_layers(&layers, Path::new(path)).unwrap().unwrap();
        assert!(!file.metadata().unwrap().is_file(), "{path} is a {kind}");
        let read = file.read(&mut [0u8; 8]);
        assert_eq!(
            read.map_err(|e| e.raw_os_error()),
            Err(Some(libc::EBADF)),
            "{path}: not opened to read"
        );
    }
}
