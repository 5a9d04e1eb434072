//! Part A, what a layer must not do: write outside its directory, by name, by
//! symbolic link or by hard link. The observer looks for the files on the
//! host (its `/tmp`, the test's directories), in the store, and in the
//! container; a host file a hard link names keeps its link count and content.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::craft::{Tar, base_layer};
use super::table::check;
use super::{Outcome, Server, Via, in_container, layer_dir, pull, pulled, refused};
use crate::support::{Sandbox, marker, sha256};

/// Removes the host's files a test's escape would have made, if it made them.
struct RemoveAfterwards(Vec<PathBuf>);

impl Drop for RemoveAfterwards {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// Where a file `name` could land outside the layer: in the host's `/tmp`, in
/// a `tmp/` four levels above a layer being unpacked (`STORE/tmp/layer-…`),
/// or anywhere in the sandbox's directory but the layer `diff_id`.
fn outside(sandbox: &Sandbox, diff_id: &str, name: &str) -> Vec<PathBuf> {
    let work = sandbox.dir().parent().expect("the sandboxes' directory");
    let mut found: Vec<PathBuf> = [Path::new("/tmp"), &work.join("tmp")]
        .iter()
        .map(|dir| dir.join(name))
        .filter(|path| path.symlink_metadata().is_ok())
        .collect();
    let layer = layer_dir(sandbox, diff_id);
    found.extend(files_named(sandbox.dir(), name).into_iter().filter(|p| !p.starts_with(&layer)));
    found
}

/// Every entry named `name` below `dir` (links not followed).
fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(files_named(&path, name));
        }
    }
    found
}

/// The layer `tar` makes writes three files under names that lead out of it;
/// the observer looks for them on the host, in the layer, and in the
/// container, where `script` (NAME: the names' stem) shows each file's text
/// (its name), then `also`.
fn lands_inside(via: Via, tar: impl FnOnce(&[String]) -> Tar, script: &str, also: &str) -> Outcome {
    let id = marker("escape");
    let names: Vec<String> = (0..3).map(|i| format!("{id}-{i}")).collect();
    let _remove = RemoveAfterwards(names.iter().map(|n| Path::new("/tmp").join(n)).collect());
    let layer = tar(&names).finish();
    let diff_id = sha256(&layer);
    let server = Server::start(via);
    let reference = server.publish("escape", &[base_layer(), layer]);
    let sandbox = pulled(&reference);
    let escaped = |sandbox: &Sandbox| {
        let out: Vec<PathBuf> = names.iter().flat_map(|n| outside(sandbox, &diff_id, n)).collect();
        if !out.is_empty() {
            eprintln!("found outside the layer: {out:#?}");
        }
        !out.is_empty()
    };
    if escaped(&sandbox) {
        return Outcome::Escaped;
    }
    let layer = layer_dir(&sandbox, &diff_id);
    let in_layer = names.iter().all(|n| {
        fs::read_to_string(layer.join("tmp").join(n)).is_ok_and(|t| t == format!("{n}\n"))
    });
    let shown = in_container(&sandbox, &reference, &script.replace("NAME", &id));
    if escaped(&sandbox) {
        return Outcome::Escaped;
    }
    let expected: String =
        names.iter().map(|n| format!("{n}\n")).chain([also.to_owned()]).collect();
    if in_layer && shown == expected {
        Outcome::KeptInside
    } else {
        eprintln!("in the layer: {in_layer}; the container shows {shown:?}");
        Outcome::Wrong
    }
}

pub fn names_leading_out(via: Via) -> Outcome {
    let deep = "../".repeat(16);
    let tar = |names: &[String]| {
        let text = |n: &String| format!("{n}\n");
        Tar::default()
            .file(&format!("../../../../tmp/{}", names[0]), &text(&names[0]))
            .file(&format!("{deep}tmp/{}", names[1]), &text(&names[1]))
            .file(&format!("/tmp/{}", names[2]), &text(&names[2]))
    };
    lands_inside(via, tar, "cat /tmp/NAME-0 /tmp/NAME-1 /tmp/NAME-2", "")
}

pub fn links_leading_out(via: Via) -> Outcome {
    let tar = |names: &[String]| {
        let text = |n: &String| format!("{n}\n");
        Tar::default()
            .dir_mode("tmp/", 0o1777)
            .symlink("evil", "/tmp")
            .file(&format!("evil/{}", names[0]), &text(&names[0]))
            .symlink("evil2", "../../../../tmp")
            .file(&format!("evil2/{}", names[1]), &text(&names[1]))
            .symlink("evil3", "/tmp/../../../../tmp")
            .file(&format!("evil3/{}", names[2]), &text(&names[2]))
    };
    let script = "cat /tmp/NAME-0 /tmp/NAME-1 /tmp/NAME-2 && readlink /evil && readlink /evil2";
    lands_inside(via, tar, script, "/tmp\n../../../../tmp\n")
}

pub fn link_leading_nowhere(via: Via) -> Outcome {
    let name = marker("escape");
    let _remove = RemoveAfterwards(vec![Path::new("/tmp").join(&name)]);
    let entry = format!("evil/{name}");
    let layer = Tar::default().symlink("evil", "/tmp").file(&entry, "escaped\n").finish();
    let server = Server::start(via);
    let reference = server.publish("nowhere", &[layer]);
    let sandbox = Sandbox::new();
    let pull = pull(&sandbox, &reference, &[]);
    if Path::new("/tmp").join(&name).exists() {
        return Outcome::Escaped;
    }
    refused(&sandbox, &pull, &[&entry, "symbolic link"])
}

/// A host file's link count, identity (device, inode) and content: what a
/// hard link to it would change, or share.
fn host_file(path: &Path) -> (u64, (u64, u64), Vec<u8>) {
    let meta = fs::metadata(path).expect("the host file");
    (meta.nlink(), (meta.dev(), meta.ino()), fs::read(path).expect("read the host file"))
}

pub fn hard_links_out(via: Via) -> Outcome {
    let file = tempfile::Builder::new().prefix("tincan-secret-").tempfile_in("/tmp");
    let file = file.expect("a file in /tmp");
    fs::write(file.path(), "host secret\n").expect("write the host file");
    let secret = file.path().to_str().expect("a UTF-8 path").to_owned();
    assert_eq!(host_file(Path::new(&secret)).0, 1, "a new file has one link");
    let up = "../".repeat(12);
    let mut targets = vec![secret.clone(), format!("{up}{}", &secret[1..])];
    if Path::new("/etc/hostname").exists() {
        targets.extend(["/etc/hostname".to_owned(), format!("{up}etc/hostname")]);
    }
    let server = Server::start(via);
    let mut outcomes = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let host = if target.ends_with("etc/hostname") { "/etc/hostname" } else { &secret };
        let before = host_file(Path::new(host));
        let layer = Tar::default().dir("etc/").hardlink("etc/evil-link", target).finish();
        let diff_id = sha256(&layer);
        let reference = server.publish(&format!("link{i}"), &[layer]);
        let sandbox = Sandbox::new();
        let pull = pull(&sandbox, &reference, &[]);
        let outcome = if host_file(Path::new(host)) != before {
            Outcome::Escaped
        } else if pull.code == 0 {
            // Allowed too: a link to a file of the layer itself — not the host's.
            let link = fs::symlink_metadata(layer_dir(&sandbox, &diff_id).join("etc/evil-link"));
            if link.is_ok_and(|l| (l.dev(), l.ino()) != before.1) {
                Outcome::KeptInside
            } else {
                Outcome::Wrong
            }
        } else {
            refused(&sandbox, &pull, &["etc/evil-link", target])
        };
        outcomes.push(outcome);
    }
    assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{targets:#?}: {outcomes:?}");
    outcomes[0]
}

#[test]
fn dot_dot_and_absolute_names_land_inside_the_layer() {
    check("names_leading_out", Via::Registry);
}

#[test]
fn files_written_through_symlinks_to_tmp_land_inside_the_layer() {
    check("links_leading_out", Via::Registry);
}

#[test]
fn a_file_written_through_a_symlink_that_leads_nowhere_inside_is_refused() {
    check("link_leading_nowhere", Via::Registry);
}

#[test]
fn a_hard_link_to_a_host_file_is_refused_and_the_host_file_keeps_one_link() {
    check("hard_links_out", Via::Registry);
}
