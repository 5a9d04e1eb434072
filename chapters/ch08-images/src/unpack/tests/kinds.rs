//! Every kind of entry, written with its owner, mode, time and attributes.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType;

use super::{MTIME, Scene, Tar, root_or_skip, xattr};

#[test]
fn every_kind_is_written_with_its_metadata() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default()
        .dir("usr/")
        .dir("usr/bin/")
        .owner(1000, 2000)
        .raw(EntryType::Regular, b"usr/bin/su", b"", 0o4755, b"") // set-user-ID: kept
        .device(1, 3)
        .raw(EntryType::Char, b"null", b"", 0o666, b"")
        .device(7, 0)
        .raw(EntryType::Block, b"loop0", b"", 0o660, b"")
        .owner(1001, 2001)
        .raw(EntryType::Fifo, b"fifo", b"", 0o620, b"")
        .file("usr/bin/sh", b"#!\n")
        .owner(1002, 2002)
        .symlink("usr/bin/bash", "sh")
        .hardlink("usr/bin/dash", "usr/bin/sh");
    scene.unpack(tar).unwrap();

    let meta = |path: &str| fs::symlink_metadata(scene.at(path)).unwrap();
    let owner = |path: &str| (meta(path).uid(), meta(path).gid());
    assert_eq!(meta("usr/bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(owner("usr/bin/su"), (1000, 2000));
    assert!(meta("null").file_type().is_char_device());
    assert_eq!((meta("null").rdev(), meta("null").mode() & 0o7777), (libc::makedev(1, 3), 0o666));
    assert!(meta("loop0").file_type().is_block_device());
    assert_eq!(meta("loop0").rdev(), libc::makedev(7, 0));
    assert!(meta("fifo").file_type().is_fifo());
    assert_eq!(meta("fifo").mode() & 0o7777, 0o620);
    assert_eq!(owner("fifo"), (1001, 2001));
    assert_eq!(fs::read_link(scene.at("usr/bin/bash")).unwrap().to_str(), Some("sh"));
    assert_eq!(owner("usr/bin/bash"), (1002, 2002), "a link's own owner");
    assert_eq!(meta("usr/bin/dash").ino(), meta("usr/bin/sh").ino());
    assert_eq!(owner("usr/bin/dash"), (1001, 2001), "a hard link is the file: its owner");
    for path in ["usr", "usr/bin", "usr/bin/su", "null", "usr/bin/bash", "usr/bin/sh"] {
        // Directories too: their times are set after their files were written.
        assert_eq!(meta(path).mtime() as u64, MTIME, "{path}");
    }
}

#[test]
fn long_names_and_pax_records_are_honoured() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let long = format!("{}/file", "a".repeat(150));
    let pax_path = format!("{}/pax", "b".repeat(120));
    let tar = Tar::default()
        .long_name(format!("../../{long}").as_bytes()) // cleaned like any name
        .file("short-name-ignored", b"long\n")
        .pax(&[
            ("path", pax_path.as_bytes()),
            ("uid", b"3000000"),
            ("gid", b"3000001"),
            ("mtime", b"1700000000.5"),
            ("uname", b"nobody-here"),
        ])
        .file("also-ignored", b"pax\n")
        .raw(EntryType::XGlobalHeader, b"pax_global_header", b"", 0o644, b"9 a=b\n\n");
    assert_eq!(scene.unpack(tar).unwrap().entries, 3);
    assert_eq!(fs::read_to_string(scene.at(&long)).unwrap(), "long\n");
    let pax = fs::metadata(scene.at(&pax_path)).unwrap();
    assert_eq!((pax.uid(), pax.gid()), (3_000_000, 3_000_001), "numeric IDs; names ignored");
    assert_eq!((pax.mtime(), pax.mtime_nsec()), (1_700_000_000, 500_000_000));
    assert!(!scene.at("short-name-ignored").exists() && !scene.at("pax_global_header").exists());
}

#[test]
fn only_user_and_capability_xattrs_come_from_the_archive() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    // A file capability, version 2: cap_net_raw (bit 13) permitted and effective.
    let capability = [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let forged: [(&str, &[u8]); 4] = [
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
        ("SCHILY.xattr.user.overlay.opaque", b"y"),
        ("SCHILY.xattr.security.selinux", b"system_u:object_r:bin_t:s0"),
    ];
    let tar = Tar::default()
        .pax(&[
            ("SCHILY.xattr.user.origin", b"layer"),
            ("SCHILY.xattr.security.capability", &capability),
        ])
        .file("ping", b"\x7fELF")
        .pax(&forged)
        .dir("opt/");
    scene.unpack(tar).unwrap();
    assert_eq!(xattr(&scene.at("ping"), "user.origin").as_deref(), Some(&b"layer"[..]));
    assert_eq!(xattr(&scene.at("ping"), "security.capability").as_deref(), Some(&capability[..]));
    for (record, _) in forged {
        let name = record.trim_start_matches("SCHILY.xattr.");
        assert_eq!(xattr(&scene.at("opt"), name), None, "{name} must not come from a layer");
    }
}

#[test]
fn an_entry_of_an_unknown_kind_is_refused_with_its_name() {
    if !root_or_skip() {
        return;
    }
    let scene = Scene::new();
    let tar = Tar::default().raw(EntryType::new(b'Z'), b"odd", b"", 0o644, b"");
    let err = scene.unpack(tar).unwrap_err().to_string();
    assert!(err.starts_with("odd: entry type"), "{err}");
    assert!(err.ends_with("has no place in a layer"), "{err}");
}
