//! Every way an image is stored in a registry: Docker's manifest, zstd and
//! uncompressed layers, and an index of images for several platforms.

use super::{can_run, ch08, diff_ids, inspect, listing, offline, ok, pull, pushed, summary, text};
use crate::support::DOCKER_MANIFEST;
use crate::support::images::{AMD64, ARM64, Format, KEPT, MULTI, PLATFORM_FILE, REPLACED, THREE};

/// Docker's manifest, zstd layers and uncompressed layers: each pulls, into a
/// store of its own (so that no layer is reused), as itself, and runs.
#[test]
fn docker_zstd_and_uncompressed_images_pull_and_run() {
    if !can_run(module_path!()) {
        return;
    }
    for (dest, format, manifest_type, layer_type) in [
        (
            "three:docker",
            Format::DockerV2S2,
            Some(DOCKER_MANIFEST),
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        ("three:zstd", Format::OciZstd, None, "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("three:plain", Format::OciUncompressed, None, "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let (registry, reference) = pushed(THREE, dest, format);
        let sandbox = offline();
        let pulled = pull(&sandbox, &registry, dest);
        assert_eq!(summary(&pulled), format!("{reference}: 3 layers, 3 downloaded"));
        let manifest = &inspect(&sandbox, &reference)["Manifest"];
        // umoci's OCI manifests leave out their optional mediaType.
        assert_eq!(manifest["mediaType"].as_str(), manifest_type, "{manifest:#}");
        let layers = manifest["layers"].as_array().expect("layers");
        assert!(layers.iter().all(|l| l["mediaType"] == layer_type), "{manifest:#}");
        let run = sandbox.run_image(&reference, &[&format!("cat /{REPLACED} /{KEPT}")]);
        assert_eq!((run.code, run.stdout.as_str()), (0, "new\nkept\n"), "{dest}: {run:?}");
        assert_eq!(listing(&sandbox, "tmp"), Vec::<String>::new());
    }
}

/// This machine's platform as an image index names it.
fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("the index has only amd64 and arm64 images, not {other}"),
    }
}

/// From an index, `pull` takes this machine's image, or the one `--platform`
/// names (checked in the store: its binaries are this machine's either way),
/// and names what there is when it has no image for the platform asked.
#[test]
fn a_multi_platform_image_gives_this_machines_image_or_the_one_asked_for() {
    if !can_run(module_path!()) {
        return;
    }
    let (registry, reference) = pushed(MULTI, "three:multi", Format::Oci);
    let sandbox = offline();
    let pulled = pull(&sandbox, &registry, "three:multi");
    assert_eq!(summary(&pulled), format!("{reference}: 4 layers, 4 downloaded"));
    let run = sandbox.run_image(&reference, &[&format!("cat /{PLATFORM_FILE}")]);
    assert_eq!((run.code, run.stdout.trim()), (0, host_platform()), "{run:?}");

    let other = if host_platform() == "linux/amd64" { "linux/arm64" } else { "linux/amd64" };
    let out = ok(&ch08(&sandbox, &["pull", "--platform", other, &reference]));
    assert_eq!(summary(&out), format!("{reference}: 4 layers, 1 downloaded"), "the rest is shared");
    let config = &inspect(&sandbox, &reference)["Config"];
    assert_eq!(
        format!("{}/{}", config["os"].as_str().unwrap(), config["architecture"].as_str().unwrap()),
        other
    );
    let top = diff_ids(&sandbox, &reference).pop().expect("layers");
    let marker = sandbox.store_dir().join("layers/sha256").join(top).join(PLATFORM_FILE);
    assert_eq!(std::fs::read_to_string(marker).unwrap().trim(), other);

    let out = ch08(&sandbox, &["pull", "--platform", "linux/s390x", &reference]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        format!(
            "ch08: {reference} has no image for linux/s390x; it has: linux/amd64, linux/arm64 (choose one with --platform)\n"
        )
    );
    assert_eq!(listing(&sandbox, "tmp"), Vec::<String>::new());
}

/// An image of one platform says in its config what it is for: pulled for
/// another, it is refused with the `--platform` that would take it.
#[test]
fn an_image_for_another_platform_is_refused_unless_asked_for() {
    if !can_run(module_path!()) {
        return;
    }
    let (tag, other) = if host_platform() == "linux/amd64" {
        (ARM64, "linux/arm64")
    } else {
        (AMD64, "linux/amd64")
    };
    let dest = format!("three:{tag}");
    let (registry, reference) = pushed(tag, &dest, Format::Oci);
    let sandbox = offline();
    let out = ch08(&sandbox, &["pull", &reference]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        format!(
            "ch08: {reference} is an image for {other}, not {} (choose it with --platform {other})\n",
            host_platform()
        )
    );
    assert_eq!(listing(&sandbox, "layers/sha256"), Vec::<String>::new(), "nothing unpacked");
    let pulled = ok(&ch08(&sandbox, &["pull", "--platform", other, &reference]));
    assert_eq!(summary(&pulled), format!("{reference}: 4 layers, 4 downloaded"));
    drop(registry);
}
