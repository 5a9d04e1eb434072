//! Images made by the real tools, for chapter 8 to pull and unpack: `umoci` builds
//! them (its layers and whiteouts are what a real image has), `skopeo` pushes them
//! to a [`Registry`], and `umoci unpack` gives the reference root filesystem that
//! chapter 8's unpacking must match.
//!
//! The three-layer image (tag [`THREE`]) exercises every rule of layer unpacking
//! (`image-spec/layer.md`): layer 1 is the busybox test rootfs with marker files;
//! layer 2 deletes a file and a whole directory (whiteouts `.wh.NAME`, written by
//! `umoci repack`) and replaces a file; layer 3 makes a directory opaque
//! (`.wh..wh..opq`: everything the lower layers had in it is gone). umoci 0.4.7's
//! repack never writes an opaque marker (it whites out each old entry instead),
//! and its `insert --opaque` writes a truncated tar, so layer 3 is a tar made here
//! and added with `umoci raw add-layer`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::oci_layout::{Compression, Layer, OciLayout};
use super::registry::Registry;

pub use super::image_config::{ImageConfig, THREE_LAYERS_GREETING};

/// The tag of the three-layer image; [`AMD64`] and [`ARM64`] add a fourth layer
/// with [`PLATFORM_FILE`]; [`MULTI`] is an image index over those two.
pub const THREE: &str = "three";
pub const AMD64: &str = "amd64";
pub const ARM64: &str = "arm64";
pub const MULTI: &str = "multi";
/// `linux/amd64` or `linux/arm64` (and a newline): which image of [`MULTI`] it is.
pub const PLATFORM_FILE: &str = "etc/tincan-platform";

/// What the three layers leave, relative to the root: the test checks these.
pub const KEPT: &str = "srv/kept"; // layer 1, "kept\n", untouched since
pub const SYMLINK: &str = "srv/link"; // layer 1, a symlink to "kept"
pub const HARDLINK: &str = "srv/hardlink"; // layer 1, a hard link to srv/kept
pub const OWNED: &str = "srv/owned"; // layer 1, uid 1000 gid 1000 mode 0640
pub const DELETED_FILE: &str = "srv/delete-me"; // layer 1, whited out by layer 2
pub const DELETED_DIR: &str = "srv/gone"; // layer 1 with files below; whited out by layer 2
pub const REPLACED: &str = "srv/replace-me"; // "old\n" in layer 1, "new\n" in layer 2
pub const OPAQUE_DIR: &str = "srv/opaque"; // old-a and old-sub/old-b in layer 1; only new-c after layer 3

/// One layout with the three-layer, per-platform and index images, built once per
/// test process (about a second) and shared: pushing only reads it. Its
/// directory is removed when the process exits.
pub fn shared_layout() -> &'static OciLayout {
    static LAYOUT: std::sync::OnceLock<OciLayout> = std::sync::OnceLock::new();
    LAYOUT.get_or_init(|| {
        let layout = three_layers(&super::template_rootfs());
        remove_at_exit(layout.path().parent().expect("the layout's temp dir"));
        layout
    })
}

/// A new layout with the images described in the module doc, on top of `rootfs`.
pub fn three_layers(rootfs: &Path) -> OciLayout {
    let layout = OciLayout::new();
    let work = tempfile::Builder::new().prefix("tincan-umoci-").tempdir().expect("temp dir");
    let image = |tag: &str| format!("{}:{tag}", layout.path().display());
    let bundle = work.path().join("bundle");
    umoci(&["new", "--image", &image(THREE)]);
    umoci(&["unpack", "--image", &image(THREE), &path_str(&bundle)]);
    let root = bundle.join("rootfs");
    run(Command::new("cp").arg("-a").arg(rootfs.join(".")).arg(&root));
    for (path, text) in [
        (KEPT, "kept\n"),
        (DELETED_FILE, "delete me\n"),
        ("srv/gone/file", "gone\n"),
        ("srv/gone/sub/file", "gone too\n"),
        (REPLACED, "old\n"),
        ("srv/opaque/old-a", "old a\n"),
        ("srv/opaque/old-sub/old-b", "old b\n"),
        (OWNED, "owned\n"),
    ] {
        std::fs::create_dir_all(root.join(path).parent().expect("parent")).expect("mkdir");
        std::fs::write(root.join(path), text).expect("write a marker");
    }
    std::os::unix::fs::symlink("kept", root.join(SYMLINK)).expect("symlink");
    std::fs::hard_link(root.join(KEPT), root.join(HARDLINK)).expect("hard link");
    std::os::unix::fs::chown(root.join(OWNED), Some(1000), Some(1000)).expect("chown");
    std::fs::set_permissions(root.join(OWNED), std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");
    umoci(&["repack", "--refresh-bundle", "--image", &image(THREE), &path_str(&bundle)]);

    std::fs::remove_file(root.join(DELETED_FILE)).expect("rm");
    std::fs::remove_dir_all(root.join(DELETED_DIR)).expect("rm -r");
    std::fs::write(root.join(REPLACED), "new\n").expect("replace");
    umoci(&["repack", "--image", &image(THREE), &path_str(&bundle)]);

    let opaque = tar_of(&[
        (&format!("{OPAQUE_DIR}/"), None),
        (&format!("{OPAQUE_DIR}/.wh..wh..opq"), Some("")),
        (&format!("{OPAQUE_DIR}/new-c"), Some("new c\n")),
    ]);
    add_layer(&layout, THREE, THREE, &opaque, work.path());
    let mut config = vec!["config".to_owned(), "--image".to_owned(), image(THREE)];
    config.extend(ImageConfig::three_layers().umoci_args());
    umoci(&config.iter().map(String::as_str).collect::<Vec<_>>());

    for arch in [AMD64, ARM64] {
        let marker = tar_of(&[(PLATFORM_FILE, Some(&format!("linux/{arch}\n")))]);
        add_layer(&layout, THREE, arch, &marker, work.path());
        umoci(&["config", "--image", &image(arch), "--architecture", arch, "--os", "linux"]);
    }
    layout.add_index(MULTI, &[AMD64, ARM64]);
    layout
}

/// How to push: the manifest format and how the layers are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An OCI manifest with gzip layers, as umoci made them.
    Oci,
    /// A Docker schema 2 manifest (skopeo converts; a Docker manifest list for an index).
    DockerV2S2,
    /// An OCI manifest with zstd layers.
    OciZstd,
    /// An OCI manifest with uncompressed tar layers.
    OciUncompressed,
}

/// Push the image (or, with every image it lists, the index) tagged `tag` to
/// `registry` as `dest` (`NAME:TAG`), with its credentials if it has auth.
pub fn push(layout: &OciLayout, tag: &str, registry: &Registry, dest: &str, format: Format) {
    let (source, mut args) = match format {
        Format::Oci => (tag.to_owned(), vec!["--format", "oci"]),
        Format::DockerV2S2 => (tag.to_owned(), vec!["--format", "v2s2"]),
        // skopeo would re-gzip these blobs; --preserve-digests keeps them as they are.
        Format::OciZstd => {
            (layout.recompressed(tag, Compression::Zstd), vec!["--preserve-digests"])
        }
        Format::OciUncompressed => {
            (layout.recompressed(tag, Compression::None), vec!["--preserve-digests"])
        }
    };
    let is_index =
        layout.resolve(&source).is_some_and(|d| d["mediaType"] == super::oci_layout::OCI_INDEX);
    if is_index {
        args.push("--all");
    }
    let creds = registry.credentials().map(|(user, password)| format!("{user}:{password}"));
    match &creds {
        Some(creds) => args.extend(["--dest-creds", creds]),
        None => args.push("--dest-no-creds"),
    }
    let src = format!("oci:{}:{source}", layout.path().display());
    let dst = format!("docker://{}/{dest}", registry.host());
    let mut all = vec!["copy", "--quiet", "--dest-tls-verify=false"];
    all.extend(args);
    all.extend([src.as_str(), dst.as_str()]);
    let out = skopeo(&all);
    assert!(
        out.status.success(),
        "skopeo copy {src} {dst} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new layout with the image from crafted `layers` (uncompressed tars, taken
/// as they are: see [`OciLayout::add_image`]), pushed
/// to `registry` as `dest` (`NAME:TAG`) in `format`. The layout, for comparing.
pub fn push_layers(
    registry: &Registry,
    dest: &str,
    layers: &[Vec<u8>],
    config: &ImageConfig,
    format: Format,
) -> OciLayout {
    let layout = OciLayout::new();
    let layers: Vec<Layer> = layers.iter().map(|tar| Layer::new(tar, Compression::Gzip)).collect();
    layout.add_image("crafted", &layers, config);
    push(&layout, "crafted", registry, dest, format);
    layout
}

/// `skopeo inspect` of `reference` (`NAME:TAG`) on `registry`, as `creds`
/// (none: anonymously); `--raw` for the manifest itself. The JSON, or skopeo's
/// error message.
pub fn inspect(
    registry: &Registry,
    reference: &str,
    creds: Option<(&str, &str)>,
    raw: bool,
) -> Result<Value, String> {
    let creds = creds.map(|(user, password)| format!("{user}:{password}"));
    let mut args = vec!["inspect", "--tls-verify=false", "--no-tags"];
    match &creds {
        Some(creds) => args.extend(["--creds", creds]),
        None => args.push("--no-creds"),
    }
    if raw {
        args.push("--raw");
    }
    let image = format!("docker://{}/{reference}", registry.host());
    args.push(&image);
    let out = skopeo(&args);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("skopeo's output is not JSON: {e}"))
}

/// A rootfs unpacked by `umoci unpack` (the reference), removed when dropped.
pub struct Unpacked {
    dir: tempfile::TempDir,
}

impl Unpacked {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("bundle/rootfs")
    }
}

/// `umoci unpack --image LAYOUT:TAG BUNDLE`: what the image's root filesystem is,
/// by the book.
pub fn umoci_unpack(layout: &OciLayout, tag: &str) -> Unpacked {
    let dir = tempfile::Builder::new().prefix("tincan-unpacked-").tempdir().expect("temp dir");
    let image = format!("{}:{tag}", layout.path().display());
    umoci(&["unpack", "--image", &image, &path_str(&dir.path().join("bundle"))]);
    Unpacked { dir }
}

/// Append `tar` to the image `from` as a new layer, as image `to`.
fn add_layer(layout: &OciLayout, from: &str, to: &str, tar: &[u8], work: &Path) {
    let file = work.join(format!("{to}-layer.tar"));
    std::fs::write(&file, tar).expect("write a layer tar");
    let image = format!("{}:{from}", layout.path().display());
    umoci(&["raw", "add-layer", "--image", &image, "--tag", to, &path_str(&file)]);
}

/// A tar of directories (`None`) and files (their text), owned by root.
pub fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text) in entries {
        let mut header = tar::Header::new_ustar();
        let data = text.unwrap_or("").as_bytes();
        header.set_entry_type(if text.is_some() {
            tar::EntryType::Regular
        } else {
            tar::EntryType::Directory
        });
        header.set_mode(if text.is_some() { 0o644 } else { 0o755 });
        header.set_size(data.len() as u64);
        // new_ustar leaves these all NULs, which Go's archive/tar reads as 0
        // but stricter readers (the tar crate) refuse as not a number.
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, path, data).expect("a tar entry");
    }
    tar.into_inner().expect("finish a tar")
}

fn umoci(args: &[&str]) {
    run(Command::new("umoci").args(args));
}

/// skopeo, kept away from the machine's state: no signature policy, no stored
/// credentials, and its blob-info cache (for root, in /var/lib/containers/cache)
/// in a temporary directory. c/image picks that cache's place by the effective
/// uid it reads from `_CONTAINERS_ROOTLESS_UID`, so a non-zero value there sends
/// it to `XDG_DATA_HOME`. A fresh cache per call also stops skopeo from reusing
/// blobs it remembers from an earlier push instead of the ones asked for.
pub fn skopeo(args: &[&str]) -> Output {
    let scratch = tempfile::Builder::new().prefix("tincan-skopeo-").tempdir().expect("temp dir");
    Command::new("skopeo")
        .args(["--insecure-policy", "--command-timeout", "120s", "--tmpdir"])
        .arg(scratch.path())
        .args(args)
        .env("_CONTAINERS_ROOTLESS_UID", "1")
        .env("XDG_DATA_HOME", scratch.path())
        .env("REGISTRY_AUTH_FILE", scratch.path().join("auth.json"))
        .output()
        .expect("run skopeo")
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_owned()
}

/// Remove `dir` when the test process exits: statics are never dropped, and
/// libtest ends through `exit`, which runs `atexit` handlers.
fn remove_at_exit(dir: &Path) {
    static DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    extern "C" fn remove_all() {
        for dir in DIRS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if dirs.is_empty() {
        // SAFETY: registers a plain function; it only touches a static.
        unsafe { libc::atexit(remove_all) };
    }
    dirs.push(dir.to_owned());
}
