//! OCI image layouts on disk, read and written by hand where the real tools cannot
//! go.
//!
//! An image layout (`image-spec/image-layout.md`) is a directory: `oci-layout`
//! (a version stamp), `blobs/sha256/<hex>` (every manifest, config and layer, named
//! by the SHA-256 of its bytes) and `index.json`, whose descriptors carry the tag
//! in the annotation `org.opencontainers.image.ref.name`. `umoci` builds layouts
//! and `skopeo` pushes them (`images.rs`); this module adds what they do not do:
//! layers recompressed as zstd or left uncompressed (skopeo 1.9 re-gzips on push
//! and ignores `--dest-compress-format zstd` for a registry), an image index for
//! two platforms, and images from layers a test crafted byte by byte.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::image_config::ImageConfig;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// How a layer's tar is stored in its blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }

    /// `tar` stored this way.
    pub fn compress(self, tar: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match self {
            Compression::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(tar).expect("gzip in memory");
                gz.finish().expect("gzip in memory")
            }
            Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd in memory"),
            Compression::None => tar.to_vec(),
        }
    }

    fn decompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut tar = Vec::new();
        if media_type.ends_with("gzip") {
            flate2::read::GzDecoder::new(blob).read_to_end(&mut tar).expect("gunzip a layer");
        } else if media_type.ends_with("zstd") {
            tar = zstd::decode_all(blob).expect("unzstd a layer");
        } else {
            tar = blob.to_vec();
        }
        tar
    }

    fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "uncompressed",
        }
    }
}

/// A layer as a registry stores it: the blob, how it is compressed, and the
/// digest of the tar inside (the config's `diff_id`).
#[derive(Clone, Debug)]
pub struct Layer {
    pub media_type: String,
    pub blob: Vec<u8>,
    pub diff_id: String,
}

impl Layer {
    /// `tar` (taken as it is, even hostile) stored as `compression`.
    pub fn new(tar: &[u8], compression: Compression) -> Layer {
        let blob = compression.compress(tar);
        Layer { media_type: compression.media_type().to_owned(), blob, diff_id: sha256(tar) }
    }
}

/// An OCI image layout in a temporary directory, removed when dropped.
pub struct OciLayout {
    dir: tempfile::TempDir,
    /// Tests share one layout and add variants to it: one `index.json` writer at
    /// a time.
    index: Mutex<()>,
}

impl OciLayout {
    /// An empty layout, as `umoci init` makes it.
    pub fn new() -> OciLayout {
        let dir = tempfile::Builder::new().prefix("tincan-oci-").tempdir().expect("temp dir");
        let layout = OciLayout { dir, index: Mutex::new(()) };
        std::fs::create_dir_all(layout.path().join("blobs/sha256")).expect("blobs/sha256");
        write(&layout.path().join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
        write(&layout.path().join("index.json"), br#"{"schemaVersion":2,"manifests":[]}"#);
        layout
    }

    /// The layout's directory, for `umoci --image PATH:TAG` and `oci:PATH:TAG`.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    /// Store `bytes` as a blob; its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            // Write beside, then rename: a reader never sees half a blob.
            let partial = path.with_extension(format!("partial-{:?}", std::thread::current().id()));
            write(&partial, bytes);
            std::fs::rename(&partial, &path).expect("rename a blob into place");
        }
        digest
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let path = self.blob_path(digest);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read blob {}: {e}", path.display()))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.path().join("blobs/sha256").join(hex)
    }

    /// The descriptor `index.json` has for `tag`.
    pub fn resolve(&self, tag: &str) -> Option<Value> {
        let index = self.index_json();
        let manifests = index["manifests"].as_array()?;
        manifests.iter().find(|d| d["annotations"][REF_NAME] == tag).cloned()
    }

    /// The manifest (or image index) tagged `tag`, parsed.
    pub fn manifest(&self, tag: &str) -> Value {
        let descriptor = self.resolve(tag).unwrap_or_else(|| panic!("no tag {tag} in the layout"));
        json_of(&self.blob(descriptor["digest"].as_str().expect("digest")))
    }

    /// Store a manifest or index and point `tag` at it (replacing the tag's old
    /// target); the manifest's digest.
    pub fn tag(&self, tag: &str, media_type: &str, manifest: &[u8]) -> String {
        let digest = self.put_blob(manifest);
        let _one_writer = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.index_json();
        let manifests = index["manifests"].as_array_mut().expect("index.json lists manifests");
        manifests.retain(|d| d["annotations"][REF_NAME] != tag);
        manifests.push(json!({
            "mediaType": media_type, "digest": digest, "size": manifest.len(),
            "annotations": { REF_NAME: tag },
        }));
        // Replaced in one step: other tests read it meanwhile.
        let partial = self.path().join("index.json.partial");
        write(&partial, index.to_string().as_bytes());
        std::fs::rename(&partial, self.path().join("index.json"))
            .expect("rename index.json into place");
        digest
    }

    fn index_json(&self) -> Value {
        json_of(&std::fs::read(self.path().join("index.json")).expect("read index.json"))
    }

    /// An image of `layers` run as `config` says, tagged `tag`; the manifest's
    /// digest. Unlike umoci, this stores whatever the test gives.
    pub fn add_image(&self, tag: &str, layers: &[Layer], config: &ImageConfig) -> String {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let config = config.to_json(&diff_ids).to_string();
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| json!({ "mediaType": l.media_type, "digest": self.put_blob(&l.blob), "size": l.blob.len() }))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": self.put_blob(config.as_bytes()), "size": config.len() },
            "layers": layers,
        });
        self.tag(tag, OCI_MANIFEST, manifest.to_string().as_bytes())
    }

    /// The image `tag` with every layer stored as `compression`, tagged
    /// `TAG-gzip`, `TAG-zstd` or `TAG-uncompressed` (made once); that tag. The
    /// config, and so the diff_ids, stay the same: only the blobs change.
    pub fn recompressed(&self, tag: &str, compression: Compression) -> String {
        let variant = format!("{tag}-{}", compression.suffix());
        if self.resolve(&variant).is_some() {
            return variant;
        }
        let mut manifest = self.manifest(tag);
        let layers = manifest["layers"].as_array_mut().expect("an image manifest, not an index");
        for layer in layers {
            let media_type = layer["mediaType"].as_str().expect("mediaType");
            let tar = Compression::decompress(
                media_type,
                &self.blob(layer["digest"].as_str().expect("digest")),
            );
            let blob = compression.compress(&tar);
            *layer = json!({
                "mediaType": compression.media_type(), "digest": self.put_blob(&blob), "size": blob.len(),
            });
        }
        self.tag(&variant, OCI_MANIFEST, manifest.to_string().as_bytes());
        variant
    }

    /// An image index tagged `tag` over the images tagged `images`, each with the
    /// platform (os, architecture) its config names; the index's digest.
    pub fn add_index(&self, tag: &str, images: &[&str]) -> String {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let descriptor = self.resolve(image).unwrap_or_else(|| panic!("no tag {image}"));
                let config_digest = self.manifest(image)["config"]["digest"].clone();
                let config = json_of(&self.blob(config_digest.as_str().expect("config digest")));
                json!({
                    "mediaType": descriptor["mediaType"], "digest": descriptor["digest"],
                    "size": descriptor["size"],
                    "platform": { "os": config["os"], "architecture": config["architecture"] },
                })
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        self.tag(tag, OCI_INDEX, index.to_string().as_bytes())
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the layout's JSON parses")
}
