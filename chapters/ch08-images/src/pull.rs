//! `ch08 pull REF`: reference → token → manifest (or index) → config → layers.
//!
//! Each step trusts only what the step before proved: the reference's digest (or
//! the registry's word, for a tag) names the manifest; the manifest names the
//! config and the layers by digest; the config names each layer's uncompressed
//! content by its diff id. Every blob is checked as it streams, and a name is
//! written into the store's index last, once everything it names is there.

use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::index::Index;
use crate::layer::{self, LayerError, Source};
use crate::platform::{self, Platform};
use crate::reference::Reference;
use crate::registry::credentials::{self, AuthError};
use crate::registry::{Client, Fetched, RegistryError, Transport};
use crate::store::{Store, StoreError};
use crate::unpack::Limits;
use crate::{Digest, DigestError};

/// How large an image config may be. Real ones are a few KiB (a long history
/// makes tens of KiB); this bound only keeps a hostile one from filling memory.
pub const MAX_CONFIG: u64 = 8 << 20;

/// The media types of an image's config: OCI's, and Docker's.
const CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// What `ch08 pull` may choose.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to take from a multi-platform image.
    pub platform: Platform,
    /// Plain HTTP to a registry that is not on this machine.
    pub insecure: bool,
    /// Print every HTTP exchange.
    pub verbose: bool,
    /// Bounds on what one layer may unpack to.
    pub limits: Limits,
    /// How many layers to download at once.
    pub jobs: usize,
}

/// What a pull did.
#[derive(Debug)]
pub struct Pulled {
    /// The name the image is now known by in the store.
    pub name: String,
    pub manifest: Digest,
    pub layers: usize,
    pub downloaded: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Credentials(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("{reference}: the registry sent a config whose digest is {got}, not {expected}")]
    ConfigDigest { reference: String, expected: Digest, got: Digest },
    #[error(
        "{reference} is an image for {made_for}, not {wanted} (choose it with --platform {made_for})"
    )]
    OtherPlatform { reference: String, made_for: String, wanted: String },
    #[error("{reference}: the registry sent a manifest whose digest is {got}, not {expected}")]
    ManifestDigest { reference: String, expected: String, got: Digest },
    #[error("{reference}: {what} is not valid JSON of its kind: {error}")]
    Malformed { reference: String, what: &'static str, error: String },
    #[error("{reference}: media type {media_type} is not an image tincan can run{hint}")]
    Unsupported { reference: String, media_type: String, hint: &'static str },
    #[error(
        "{reference} has no image for {wanted}; it has: {available} (choose one with --platform)"
    )]
    NoPlatform { reference: String, wanted: String, available: String },
    #[error(
        "{reference}: the manifest lists {layers} layers but the config knows {diff_ids}: the image is inconsistent"
    )]
    LayerCount { reference: String, layers: usize, diff_ids: usize },
}

/// Pull `reference` into `store`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Pulled, PullError> {
    let transport = Transport::choose(reference, options.insecure);
    let credentials = credentials::credentials_for(reference.registry())?;
    let client = Client::new(reference, transport, credentials, options.verbose);
    let _shared = store.lock_shared()?;

    let (manifest, manifest_digest, manifest_bytes) =
        resolve(&client, reference, &options.platform)?;
    let config_descriptor = manifest.config();
    // An artifact (a Helm chart, a signature) is stored like an image, with a
    // config of its own kind: not something to run.
    let config_type = config_descriptor.media_type().to_string();
    if !CONFIG_TYPES.contains(&config_type.as_str()) {
        let hint = " (an artifact, not a container image)";
        return Err(PullError::Unsupported {
            reference: reference.to_string(),
            media_type: config_type,
            hint,
        });
    }
    let config_digest = Digest::try_from(config_descriptor.digest())?;
    let config_bytes = client.small_blob(&config_digest, MAX_CONFIG, "the image config")?;
    let got = Digest::of(&config_bytes);
    if got != config_digest {
        return Err(PullError::ConfigDigest {
            reference: reference.to_string(),
            expected: config_digest,
            got,
        });
    }
    let config: ImageConfiguration = parse(&config_bytes, reference, "the image config")?;
    // A single-platform image says in its config what it is for.
    let made_for = Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    };
    if made_for.os != options.platform.os || made_for.architecture != options.platform.architecture
    {
        return Err(PullError::OtherPlatform {
            reference: reference.to_string(),
            made_for: made_for.to_string(),
            wanted: options.platform.to_string(),
        });
    }
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        let (layers, diff_ids) = (manifest.layers().len(), diff_ids.len());
        return Err(PullError::LayerCount { reference: reference.to_string(), layers, diff_ids });
    }
    for descriptor in manifest.layers() {
        let media_type = descriptor.media_type().to_string();
        if crate::compression::Compression::from_media_type(&media_type).is_none() {
            let hint = if media_type.contains("foreign") { " (a Windows layer)" } else { "" };
            return Err(PullError::Unsupported {
                reference: reference.to_string(),
                media_type,
                hint,
            });
        }
    }

    let diff_ids: Vec<Digest> = diff_ids.iter().map(|d| d.parse()).collect::<Result<_, _>>()?;
    let downloaded = download(store, &client, &manifest, &diff_ids, options)?;

    store.put_blob(&config_digest, &config_bytes)?;
    store.put_blob(&manifest_digest, &manifest_bytes)?;
    let name = match (reference.tag(), reference.digest()) {
        (Some(_), _) | (None, None) => reference.without_digest().to_string(),
        (None, Some(_)) => reference.to_string(),
    };
    Index::update(store, |index| index.images.insert(name.clone(), manifest_digest.to_string()))?;
    Ok(Pulled { name, manifest: manifest_digest, layers: diff_ids.len(), downloaded })
}

// ANCHOR: resolve
/// The image manifest `reference` names for this platform: through an index
/// when the registry has one, each checked against the digest that named it.
fn resolve(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
) -> Result<(ImageManifest, Digest, Vec<u8>), PullError> {
    let fetched = client.manifest(&reference.manifest_reference())?;
    let digest = check_manifest(&fetched, reference, reference.digest().map(ToString::to_string))?;
    if !is_index(&fetched) {
        return Ok((parse_manifest(&fetched, reference)?, digest, fetched.bytes));
    }
    let index: ImageIndex = parse(&fetched.bytes, reference, "the image index")?;
    let Some(chosen) = platform::select(platform, index.manifests()) else {
        let available = index
            .manifests()
            .iter()
            .filter_map(|d| d.platform().as_ref())
            .map(|p| format!("{}/{}", p.os(), p.architecture()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PullError::NoPlatform {
            reference: reference.to_string(),
            wanted: platform.to_string(),
            available,
        });
    };
    let fetched = client.manifest(chosen.digest().as_ref())?;
    let digest = check_manifest(&fetched, reference, Some(chosen.digest().to_string()))?;
    Ok((parse_manifest(&fetched, reference)?, digest, fetched.bytes))
}
// ANCHOR_END: resolve

/// The manifest's digest, which must be the one asked for (by a digest in the
/// reference or in an index) and the one the registry claims, if it claims one.
fn check_manifest(
    fetched: &Fetched,
    reference: &Reference,
    expected: Option<String>,
) -> Result<Digest, PullError> {
    let got = Digest::of(&fetched.bytes);
    for claimed in [expected, fetched.digest_header.clone()].into_iter().flatten() {
        if claimed != got.to_string() {
            return Err(PullError::ManifestDigest {
                reference: reference.to_string(),
                expected: claimed,
                got,
            });
        }
    }
    Ok(got)
}

fn media_type(fetched: &Fetched) -> String {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    // The JSON's own mediaType wins over the header (a proxy may change headers);
    // an old index without one is recognised by its list of manifests.
    match serde_json::from_slice::<Probe>(&fetched.bytes) {
        Ok(Probe { media_type: Some(t), .. }) => t,
        Ok(Probe { manifests: Some(_), .. }) => {
            "application/vnd.oci.image.index.v1+json".to_owned()
        }
        _ => fetched.media_type.clone().unwrap_or_default(),
    }
}

fn is_index(fetched: &Fetched) -> bool {
    let t = media_type(fetched);
    t.ends_with("image.index.v1+json") || t.ends_with("manifest.list.v2+json")
}

fn parse_manifest(fetched: &Fetched, reference: &Reference) -> Result<ImageManifest, PullError> {
    let t = media_type(fetched);
    if t.ends_with("image.manifest.v1+json") || t.ends_with("distribution.manifest.v2+json") {
        return parse(&fetched.bytes, reference, "the manifest");
    }
    let hint = if t.contains("distribution.manifest.v1") {
        " (Docker's old schema 1: Docker stopped pushing it in 2020 and pulling it in 2024)"
    } else {
        ""
    };
    Err(PullError::Unsupported { reference: reference.to_string(), media_type: t, hint })
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    reference: &Reference,
    what: &'static str,
) -> Result<T, PullError> {
    serde_json::from_slice(bytes).map_err(|e| PullError::Malformed {
        reference: reference.to_string(),
        what,
        error: e.to_string(),
    })
}

/// Fetch and unpack the layers, `options.jobs` at a time, each with a progress
/// bar when stderr is a terminal. Returns how many were downloaded.
fn download(
    store: &Store,
    client: &Client,
    manifest: &ImageManifest,
    diff_ids: &[Digest],
    options: &PullOptions,
) -> Result<usize, PullError> {
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{prefix} {bar:30} {bytes:>10}/{total_bytes:10} {msg}")
            .expect("a valid template");
    let work: Vec<_> = manifest.layers().iter().zip(diff_ids).collect();
    let next = Mutex::new(work.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let Some((descriptor, diff_id)) = next.lock().expect("not poisoned").next()
                    else {
                        break;
                    };
                    let bar =
                        bars.add(ProgressBar::new(descriptor.size()).with_style(style.clone()));
                    bar.set_prefix(
                        descriptor.digest().digest().chars().take(12).collect::<String>(),
                    );
                    let result = layer::fetch(
                        store,
                        Source::Registry(client),
                        descriptor,
                        diff_id,
                        &options.limits,
                        &bar,
                    );
                    let failed = result.is_err();
                    results.lock().expect("not poisoned").push(result);
                    if failed {
                        // Start no other layer: the pull has failed. (Those
                        // under way finish, and are kept for the next pull.)
                        next.lock().expect("not poisoned").by_ref().for_each(drop);
                        break;
                    }
                }
            });
        }
    });
    let mut downloaded = 0;
    for result in results.into_inner().expect("not poisoned") {
        downloaded += usize::from(result?);
    }
    Ok(downloaded)
}
