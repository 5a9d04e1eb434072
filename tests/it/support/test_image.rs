//! The test rootfs as an image for engines (containerd, podman): one layer,
//! `/bin/sh` its command, made with umoci and written by skopeo as an OCI
//! archive.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tools that make it, and their packages.
pub const TOOLS: [(&str, &str); 2] = [("umoci", "umoci"), ("skopeo", "skopeo")];

/// `dir/image.tar`: the image, named `name` inside the archive.
pub fn oci_archive(dir: &Path, name: &str) -> PathBuf {
    let layout = format!("{}/layout", dir.display());
    let bundle = dir.join("unpacked");
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().expect(program);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let image = format!("{layout}:t");
    run("umoci", &["init", "--layout", &layout]);
    run("umoci", &["new", "--image", &image]);
    run("umoci", &["unpack", "--image", &image, bundle.to_str().unwrap()]);
    std::fs::remove_dir_all(bundle.join("rootfs")).expect("the empty rootfs");
    super::copy_template_rootfs(&bundle.join("rootfs"));
    run("umoci", &["repack", "--image", &image, bundle.to_str().unwrap()]);
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    run("umoci", &["config", "--image", &image, "--config.cmd", "/bin/sh", "--config.env", path]);
    let archive = dir.join("image.tar");
    let to = format!("oci-archive:{}:{name}", archive.display());
    let copied = super::images::skopeo(&["copy", &format!("oci:{image}"), &to]);
    assert!(copied.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&copied.stderr));
    std::fs::remove_dir_all(&bundle).expect("remove the unpacked image");
    std::fs::remove_dir_all(&layout).expect("remove the layout");
    archive
}
