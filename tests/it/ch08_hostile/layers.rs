//! Part A, what a layer may do: whiteouts, devices, a decompression bomb. Each
//! image is served (pushed to a real registry by the tests here, served by the
//! fake one for the table), pulled, and run where the verdict needs it; the
//! test looks at the store, and at what the container sees.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

use super::craft::{Tar, base_layer};
use super::table::check;
use super::{Outcome, Server, Via, in_container, layer_dir, pull, pulled, refused};
use crate::support::images::ImageConfig;
use crate::support::{FakeRegistry, Layer, OciLayout, Sandbox, gzip_bomb, sha256};

/// What `find /srv` lists (sorted) once the `upper` layer of
/// [`whiteouts`] is applied on the `lower`, by the OCI image spec (layer.md,
/// "Whiteouts"): `.wh.NAME` deletes NAME of the layers *below*; `.wh..wh..opq`
/// hides everything the layers below have in its directory; and what the
/// whiteout's own layer adds of that name stays, in either order, a directory
/// holding only its own layer's entries.
const AFTER_WHITEOUTS: [&str; 13] = [
    "/srv",
    "/srv/dir-to-file",
    "/srv/file-to-dir",
    "/srv/file-to-dir/new",
    "/srv/kept",
    "/srv/opaque",
    "/srv/opaque/new",
    "/srv/readd-dir",
    "/srv/readd-dir-after",
    "/srv/readd-dir-after/new",
    "/srv/readd-dir/new",
    "/srv/readd-file",
    "/srv/readd-file-after",
];

/// The files of [`AFTER_WHITEOUTS`] with text, in the order `cat` shows them.
const CAT: &str =
    "cat /srv/kept /srv/opaque/new /srv/readd-file /srv/readd-file-after /srv/dir-to-file";
const CAT_SHOWS: &str = "kept\nnew\nupper\nupper\nupper\n";

pub fn whiteouts(via: Via) -> Outcome {
    let lower = Tar::default()
        .dir("srv/")
        .file("srv/kept", "kept\n")
        .file("srv/file-gone", "lower\n")
        .dir("srv/dir-gone/")
        .file("srv/dir-gone/a", "lower\n")
        .dir("srv/dir-gone/sub/")
        .file("srv/dir-gone/sub/b", "lower\n")
        .dir("srv/opaque/")
        .file("srv/opaque/old", "lower\n")
        .dir("srv/opaque/old-sub/")
        .file("srv/opaque/old-sub/c", "lower\n")
        .file("srv/readd-file", "lower\n")
        .file("srv/readd-file-after", "lower\n")
        .dir("srv/readd-dir/")
        .file("srv/readd-dir/old", "lower\n")
        .dir("srv/readd-dir-after/")
        .file("srv/readd-dir-after/old", "lower\n")
        .file("srv/file-to-dir", "lower\n")
        .dir("srv/dir-to-file/")
        .file("srv/dir-to-file/old", "lower\n")
        .finish();
    let upper = Tar::default()
        .dir("srv/")
        .file("srv/.wh.file-gone", "")
        .file("srv/.wh.dir-gone", "")
        .dir("srv/opaque/")
        .file("srv/opaque/.wh..wh..opq", "")
        .file("srv/opaque/new", "new\n")
        // Whiteout first (as the spec asks tools to write them), then the new entry ...
        .file("srv/.wh.readd-file", "")
        .file("srv/readd-file", "upper\n")
        .file("srv/.wh.readd-dir", "")
        .dir("srv/readd-dir/")
        .file("srv/readd-dir/new", "upper\n")
        .file("srv/.wh.file-to-dir", "")
        .dir("srv/file-to-dir/")
        .file("srv/file-to-dir/new", "upper\n")
        // ... and the other way round.
        .file("srv/readd-file-after", "upper\n")
        .file("srv/.wh.readd-file-after", "")
        .dir("srv/readd-dir-after/")
        .file("srv/readd-dir-after/new", "upper\n")
        .file("srv/.wh.readd-dir-after", "")
        .file("srv/dir-to-file", "upper\n")
        .file("srv/.wh.dir-to-file", "")
        .finish();
    let server = Server::start(via);
    let reference = server.publish("whiteouts", &[base_layer(), lower, upper]);
    let sandbox = pulled(&reference);
    let shown = in_container(&sandbox, &reference, &format!("find /srv; echo --; {CAT}"));
    let (found, texts) = shown.split_once("--\n").expect("find's output, then cat's");
    let mut found: Vec<&str> = found.lines().collect();
    found.sort_unstable();
    let mut expected = AFTER_WHITEOUTS;
    expected.sort_unstable();
    if found == expected && texts == CAT_SHOWS {
        Outcome::AsSpecified
    } else {
        eprintln!(
            "the container sees {found:#?} and {texts:?}, not {expected:#?} and {CAT_SHOWS:?}"
        );
        Outcome::Wrong
    }
}

/// Devices, FIFOs and set-user-ID files are part of real images (`/dev` in
/// old ones, `su` and `passwd`): kept as they are. A device node in an image
/// names a device of the host by number, and a set-user-ID file gains root;
/// what defuses them is not the unpacking but the container's device cgroup
/// and `no_new_privs` (chapter 10).
pub fn devices_and_setuid(via: Via) -> Outcome {
    let layer = Tar::default()
        .dir("srv/")
        .char_device("srv/null", 1, 3, 0o666)
        .fifo("srv/fifo", 0o644)
        .file_mode("srv/suid", "#!/bin/sh\n", 0o4755)
        .finish();
    let diff_id = sha256(&layer);
    let server = Server::start(via);
    let reference = server.publish("devices", &[base_layer(), layer]);
    let sandbox = pulled(&reference);
    let srv = layer_dir(&sandbox, &diff_id).join("srv");
    let meta = |name: &str| fs::symlink_metadata(srv.join(name)).expect("in the layer");
    let (null, fifo, suid) = (meta("null"), meta("fifo"), meta("suid"));
    let in_layer = null.file_type().is_char_device()
        && null.rdev() == libc::makedev(1, 3)
        && null.mode() & 0o7777 == 0o666
        && fifo.file_type().is_fifo()
        && fifo.mode() & 0o7777 == 0o644
        && suid.is_file()
        && (suid.mode() & 0o7777, suid.uid()) == (0o4755, 0);
    let shown = in_container(
        &sandbox,
        &reference,
        "stat -c '%n %F %t:%T %a %u' /srv/null /srv/fifo /srv/suid",
    );
    let expected = "/srv/null character special file 1:3 666 0\n\
                    /srv/fifo fifo 0:0 644 0\n\
                    /srv/suid regular file 0:0 4755 0\n";
    if in_layer && shown == expected {
        Outcome::KeptAsIs
    } else {
        eprintln!("in the layer: {in_layer}; the container shows {shown:?}");
        Outcome::Wrong
    }
}

/// The disk space (in bytes) the files below `dir` take, as they are now.
fn disk_use(dir: &Path) -> u64 {
    let entries = fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_use(&e.path()),
            _ => e.metadata().map_or(0, |m| m.blocks() * 512),
        })
        .sum()
}

/// The bomb: 1 MiB of gzip, 1 GiB of zeros inside.
fn bomb_layer() -> Layer {
    static BOMB: std::sync::OnceLock<Layer> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| gzip_bomb(1024)).clone()
}

const LIMIT: u64 = 64 << 20;

/// The bomb is a gzip blob made by hand, not a tar for `push_layers`: served
/// by the fake registry whatever `via` says.
pub fn bomb(_: Via) -> Outcome {
    let fake = FakeRegistry::start();
    let layout = OciLayout::new();
    layout.add_image("crafted", &[bomb_layer()], &ImageConfig::default());
    fake.add_from_layout("bomb", "v1", &layout, "crafted");
    let reference = format!("{}/bomb:v1", fake.host());
    let sandbox = Sandbox::new();
    let tmp = sandbox.store_dir().join("tmp");
    // The disk the pull takes while it runs, sampled.
    let (pull, peak) = std::thread::scope(|s| {
        let pulling = s.spawn(|| pull(&sandbox, &reference, &["--max-layer-size", "64m"]));
        let mut peak = 0;
        while !pulling.is_finished() {
            peak = peak.max(disk_use(&tmp));
            std::thread::sleep(Duration::from_millis(5));
        }
        (pulling.join().expect("the pull"), peak)
    });
    // The limit, the blob (1 MiB) and a little.
    assert!(peak <= LIMIT + (4 << 20), "the pull took {peak} bytes of disk: {pull:?}");
    refused(&sandbox, &pull, &[&LIMIT.to_string(), "--max-layer-size"])
}

#[test]
fn whiteouts_opaque_directories_and_re_adds_merge_as_the_oci_spec_says() {
    check("whiteouts", Via::Registry);
}

#[test]
fn devices_fifos_and_setuid_files_are_kept_with_their_type_and_mode() {
    check("devices_and_setuid", Via::Registry);
}

#[test]
fn a_decompression_bomb_stops_at_max_layer_size_and_leaves_nothing() {
    check("bomb", Via::Fake);
}
