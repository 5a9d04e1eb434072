//! The store: layers downloaded once and shared, removed with the last image
//! that has them, pulled twice at once, and imported from a tarball.

use std::process::{Command, Stdio};

use super::{
    Auth, PUSHED, can_run, ch08, diff_ids, inspect, listing, offline, ok, pull, pulled_three,
    pushed, registry, summary, text,
};
use crate::support::images::{AMD64, Format, KEPT, PLATFORM_FILE, REPLACED};
use crate::support::root_or_skip;

/// A second pull downloads nothing; a second image that shares the first
/// one's layers downloads only its own.
#[test]
fn a_layer_is_downloaded_once_and_shared_by_the_images_that_have_it() {
    if !can_run(module_path!()) {
        return;
    }
    let (registry, amd64) = pushed(AMD64, "three:amd64", Format::Oci);
    let sandbox = offline();
    let three = format!("{}/{PUSHED}", registry.host());
    assert_eq!(
        summary(&pull(&sandbox, &registry, PUSHED)),
        format!("{three}: 3 layers, 3 downloaded")
    );
    assert_eq!(
        summary(&pull(&sandbox, &registry, PUSHED)),
        format!("{three}: 3 layers, 0 downloaded")
    );
    let pulled = pull(&sandbox, &registry, "three:amd64");
    assert_eq!(summary(&pulled), format!("{amd64}: 4 layers, 1 downloaded"));
    let mut layers = diff_ids(&sandbox, &amd64);
    assert_eq!(layers[..3], diff_ids(&sandbox, &three), "the first three are the same");
    layers.sort();
    assert_eq!(listing(&sandbox, "layers/sha256"), layers, "one directory per layer");
    let run = sandbox.run_image(&amd64, &[&format!("cat /{PLATFORM_FILE} /{REPLACED}")]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "linux/amd64\nnew\n"), "{run:?}");
}

/// `rmi` of one of two images that share layers keeps the shared ones and
/// removes the other's; `rmi` of the last leaves the store empty.
#[test]
fn rmi_keeps_what_another_image_uses_and_the_last_rmi_removes_everything() {
    if !can_run(module_path!()) {
        return;
    }
    let (registry, amd64) = pushed(AMD64, "three:amd64", Format::Oci);
    let sandbox = offline();
    let three = format!("{}/{PUSHED}", registry.host());
    pull(&sandbox, &registry, PUSHED);
    pull(&sandbox, &registry, "three:amd64");
    let shared = {
        let mut ids = diff_ids(&sandbox, &three);
        ids.sort();
        ids
    };

    // Its manifest, config and own layer go.
    let out = ok(&ch08(&sandbox, &["rmi", &amd64]));
    assert_eq!(out, format!("Untagged: {amd64}\nDeleted: 3 blobs, 1 layers\n"));
    assert_eq!(listing(&sandbox, "layers/sha256"), shared);
    assert_eq!(listing(&sandbox, "blobs/sha256").len(), 5, "manifest, config, 3 layers");
    let run = sandbox.run_image(&three, &[&format!("cat /{KEPT}")]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "kept\n"), "{run:?}");

    let out = ok(&ch08(&sandbox, &["rmi", &three]));
    assert_eq!(out, format!("Untagged: {three}\nDeleted: 5 blobs, 3 layers\n"));
    for dir in ["blobs/sha256", "layers/sha256", "tmp", "containers"] {
        assert_eq!(listing(&sandbox, dir), Vec::<String>::new(), "{dir}");
    }
    let images = ok(&ch08(&sandbox, &["images"]));
    assert_eq!(images.lines().count(), 1, "only the heading: {images}");
}

/// Two pulls of one image at once (two processes) both succeed, and leave
/// the store as one pull would: one directory per layer, every blob, nothing
/// in tmp/, the name once.
#[test]
fn two_pulls_of_one_image_at_once_leave_one_consistent_store() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = registry(Auth::None);
    let sandbox = offline();
    let name = format!("{}/{PUSHED}", registry.host());
    let start = || {
        sandbox
            .command_on_host("ch08")
            .env("DOCKER_CONFIG", sandbox.dir().join("no-docker-config"))
            .args(["pull", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ch08 pull")
    };
    let (first, second) = (start(), start());
    for pull in [first, second] {
        let out = pull.wait_with_output().unwrap();
        assert!(ok(&out).contains(&format!("{name}: 3 layers, ")), "{}", text(&out.stdout));
    }
    let mut layers = diff_ids(&sandbox, &name);
    layers.sort();
    assert_eq!(listing(&sandbox, "layers/sha256"), layers);
    assert_eq!(listing(&sandbox, "blobs/sha256").len(), 5, "manifest, config, 3 layers");
    assert_eq!(listing(&sandbox, "tmp"), Vec::<String>::new());
    let images = ok(&ch08(&sandbox, &["images"]));
    assert_eq!(images.matches(&name).count(), 1, "{images}");
    let run = sandbox.run_image(&name, &[&format!("cat /{KEPT}")]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "kept\n"), "{run:?}");
}

/// A gzip tarball of a root file system becomes an image that runs; a file
/// that is not a tarball is one clear line, and leaves nothing in the store.
#[test]
fn an_imported_tarball_runs_and_a_file_that_is_not_one_is_refused() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = offline();
    std::fs::write(sandbox.rootfs().join("etc/imported"), "imported\n").unwrap();
    let tarball = sandbox.dir().join("rootfs.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(sandbox.rootfs())
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success());
    let out = ok(&ch08(&sandbox, &["import", tarball.to_str().unwrap(), "imported:v1"]));
    assert!(out.starts_with("docker.io/library/imported:v1: sha256:"), "{out}");
    let run = sandbox.run_image("imported:v1", &["cat", "/etc/imported"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "imported\n"), "{run:?}");

    let not_a_tarball = sandbox.dir().join("notes.txt");
    std::fs::write(&not_a_tarball, "this is not a tarball\n".repeat(100)).unwrap();
    let blobs = listing(&sandbox, "blobs/sha256");
    let out = ch08(&sandbox, &["import", not_a_tarball.to_str().unwrap(), "broken:v1"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        format!("ch08: {} is not a tar archive (plain, gzip or zstd)\n", not_a_tarball.display())
    );
    assert_eq!(listing(&sandbox, "tmp"), Vec::<String>::new());
    assert_eq!(listing(&sandbox, "blobs/sha256"), blobs, "nothing kept");
    let images = ok(&ch08(&sandbox, &["images"]));
    assert!(!images.contains("broken"), "{images}");
    assert!(images.contains("docker.io/library/imported:v1"), "{images}");
}

/// Names are looked up before anything changes: `rmi` of a known and an
/// unknown image removes neither. A digest in a name is a promise: an image
/// stored under that repository's tag with another digest is not it.
#[test]
fn rmi_of_an_unknown_name_changes_nothing_and_a_pinned_digest_decides() {
    if !can_run(module_path!()) {
        return;
    }
    let (sandbox, three) = pulled_three();
    let before = (listing(&sandbox, "blobs/sha256"), listing(&sandbox, "layers/sha256"));

    let out = ch08(&sandbox, &["rmi", &three, "no-such-image"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("no image no-such-image in the store"), "{out:?}");
    assert!(ok(&ch08(&sandbox, &["images"])).contains(&three), "the known name is still there");
    assert_eq!((listing(&sandbox, "blobs/sha256"), listing(&sandbox, "layers/sha256")), before);

    let digest = inspect(&sandbox, &three)["Digest"].as_str().expect("a digest").to_owned();
    let repository = three.rsplit_once(':').expect("a tag").0;
    let pinned = format!("{repository}@{digest}");
    assert_eq!(inspect(&sandbox, &pinned)["Digest"], digest.as_str(), "found by its digest");
    let other = format!("{repository}@sha256:{}", "0".repeat(64));
    let out = ch08(&sandbox, &["inspect", &other]);
    assert_eq!(out.status.code(), Some(125), "another digest is another image: {out:?}");
}

/// Without root, what writes layers says so at once (a layer's files keep
/// their owners, which only root can give), instead of failing half-way.
#[test]
fn pull_import_and_rmi_say_they_need_root() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let store = std::env::temp_dir().join(format!("tincan-nobody-{}", std::process::id()));
    let ch08 = crate::support::chapter_bin("ch08");
    for args in [&["pull", "127.0.0.1:1/x"][..], &["import", "/dev/null", "x"], &["rmi", "x"]] {
        let out = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(&ch08)
            .arg("--root")
            .arg(&store)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run setpriv");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.starts_with("ch08: this needs root (try sudo)"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&store).expect("remove the user's store");
}
