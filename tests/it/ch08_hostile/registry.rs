//! Part B: registries that lie. The fake registry serves a small image and
//! misbehaves on one of its blobs or manifests; the observer is the store (what
//! was kept), the fake's log of requests (who got which header), and a proxy
//! that counts what the pull read.

use super::craft::Tar;
use super::proxy::Proxy;
use super::table::check;
use super::{Ch08, Outcome, StoreView, Via, ch08, layer_dir, pull, refused};
use crate::support::images::ImageConfig;
use crate::support::{
    Compression, FakeRegistry, Layer, Misbehaviour, OciLayout, Sandbox, Side, root_or_skip, sha256,
};

/// An image of one uncompressed layer: a file `greeting` of 64 KiB of `text`
/// repeated, so that a byte of it can change and the tar stay valid.
struct Small {
    layout: OciLayout,
    content: String,
    /// The digests of the layer's blob, of its tar (the diff id), of the config.
    layer: String,
    diff_id: String,
    config: String,
}

impl Small {
    fn new(text: &str) -> Small {
        let content = text.repeat((64 << 10) / text.len());
        let layer =
            Layer::new(&Tar::default().file("greeting", &content).finish(), Compression::None);
        let layout = OciLayout::new();
        layout.add_image("crafted", std::slice::from_ref(&layer), &ImageConfig::default());
        let manifest = layout.manifest("crafted");
        let digest = |d: &serde_json::Value| d["digest"].as_str().expect("a digest").to_owned();
        Small {
            content,
            layer: digest(&manifest["layers"][0]),
            diff_id: layer.diff_id,
            config: digest(&manifest["config"]),
            layout,
        }
    }

    /// Served by `fake` as `app:TAG`; the manifest's digest.
    fn serve(&self, fake: &FakeRegistry, tag: &str) -> String {
        fake.add_from_layout("app", tag, &self.layout, "crafted")
    }
}

/// Serve a small image as `app:v1`, misbehaving as `how` says (given the
/// image), and pull it into a new sandbox, through a proxy; what the proxy
/// passed on.
fn misbehaving_pull(how: impl FnOnce(&FakeRegistry, &Small)) -> (Sandbox, Ch08, Small, u64) {
    let fake = FakeRegistry::start();
    let image = Small::new("hello\n");
    image.serve(&fake, "v1");
    how(&fake, &image);
    let proxy = Proxy::start(&fake.host(), false);
    let sandbox = Sandbox::new();
    let pull = pull(&sandbox, &format!("{}/app:v1", proxy.host()), &[]);
    let answered = proxy.answered();
    (sandbox, pull, image, answered)
}

/// The verdict on a pull of a misbehaving blob: the error names the layer's
/// digest and `why`.
fn blob_refused(how: impl FnOnce(&FakeRegistry, &Small), why: &str) -> Outcome {
    let (sandbox, pull, image, _) = misbehaving_pull(how);
    refused(&sandbox, &pull, &[&image.layer, why])
}

pub fn other_bytes(_: Via) -> Outcome {
    // The same length, and still a valid tar: one byte of the file changed.
    let swap = |fake: &FakeRegistry, image: &Small| {
        let mut other = image.layout.blob(&image.layer);
        other[512 + 7] ^= 0x20;
        fake.misbehave(&image.layer, Misbehaviour::OtherBytes(other));
    };
    blob_refused(swap, "hash to")
}

pub fn truncated(_: Via) -> Outcome {
    let cut = |fake: &FakeRegistry, image: &Small| {
        let half = image.layout.blob(&image.layer).len() / 2;
        fake.misbehave(&image.layer, Misbehaviour::Truncated(half));
    };
    blob_refused(cut, "ended after")
}

pub fn extended(_: Via) -> Outcome {
    let more = |fake: &FakeRegistry, image: &Small| {
        fake.misbehave(&image.layer, Misbehaviour::Extended(b"more".to_vec()));
    };
    blob_refused(more, "longer than")
}

/// Far more than the 4 MiB a registry must accept for a manifest, or the
/// 8 MiB tincan takes for a config.
const HUGE: u64 = 256 << 20;

/// A huge answer must be refused once it passes the limit, not read whole:
/// the proxy passed on the limit and what the sockets' buffers took (a few
/// MiB), far from all of it.
fn refused_early(how: impl FnOnce(&FakeRegistry, &Small), limit: &str) -> Outcome {
    let (sandbox, pull, _, answered) = misbehaving_pull(how);
    assert!(answered < HUGE / 8, "the pull read {answered} bytes: {pull:?}");
    refused(&sandbox, &pull, &[limit])
}

pub fn huge_manifest(_: Via) -> Outcome {
    let huge = |fake: &FakeRegistry, _: &Small| {
        fake.misbehave("v1", Misbehaviour::Huge { len: HUGE, chunked: false });
    };
    refused_early(huge, &(4 << 20).to_string())
}

pub fn huge_chunked_manifest(_: Via) -> Outcome {
    let huge = |fake: &FakeRegistry, _: &Small| {
        fake.misbehave("v1", Misbehaviour::Huge { len: HUGE, chunked: true });
    };
    refused_early(huge, &(4 << 20).to_string())
}

pub fn huge_config(_: Via) -> Outcome {
    let huge = |fake: &FakeRegistry, image: &Small| {
        fake.misbehave(&image.config, Misbehaviour::Huge { len: HUGE, chunked: false });
    };
    refused_early(huge, &(8 << 20).to_string())
}

pub fn redirect_to_cdn(_: Via) -> Outcome {
    use base64::Engine as _;
    let (user, password) = ("alice", "s3cret");
    let fake = FakeRegistry::with_basic_auth(user, password);
    let image = Small::new("through the CDN\n");
    image.serve(&fake, "v1");
    fake.misbehave(&image.config, Misbehaviour::RedirectToCdn);
    fake.misbehave(&image.layer, Misbehaviour::RedirectToCdn);
    let sandbox = Sandbox::new();
    let docker = sandbox.dir().join("docker");
    std::fs::create_dir(&docker).expect("mkdir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({ "auths": { fake.host(): { "auth": auth } } });
    std::fs::write(docker.join("config.json"), config.to_string()).expect("config.json");
    let pull = ch08(&sandbox, &["pull", &format!("{}/app:v1", fake.host())], Some(&docker));
    assert_eq!(pull.code, 0, "{pull:?}");
    let seen = fake.requests();
    let basic = format!("Basic {auth}");
    assert!(
        seen.iter().any(|r| r.side == Side::Registry && r.authorization.as_ref() == Some(&basic)),
        "the registry wants the credentials: {seen:#?}"
    );
    let cdn: Vec<_> = seen.iter().filter(|r| r.side == Side::Cdn).collect();
    assert_eq!(cdn.len(), 2, "the config and the layer come from the CDN: {seen:#?}");
    let greeting = std::fs::read_to_string(layer_dir(&sandbox, &image.diff_id).join("greeting"));
    if cdn.iter().any(|r| r.authorization.is_some()) {
        Outcome::Leaked
    } else if greeting.is_ok_and(|g| g == image.content) {
        Outcome::Pulled
    } else {
        Outcome::Wrong
    }
}

/// Serve images `a` (as `app:v1`) and `b` (`app:v2`); let the registry answer
/// `lie_on` (a tag or `a`'s digest) with `b`'s manifest, and pull `a` by
/// `reference` (`TAG` or `@DIGEST`; `A` stands for `a`'s digest).
fn swapped(lie_on: &str, reference: &str) -> Outcome {
    let fake = FakeRegistry::start();
    let (a, b) = (Small::new("image a\n"), Small::new("image b\n"));
    let (a_digest, b_digest) = (a.serve(&fake, "v1"), b.serve(&fake, "v2"));
    let lie_on = lie_on.replace('A', &a_digest);
    fake.misbehave(&lie_on, Misbehaviour::OtherBytes(b.layout.blob(&b_digest)));
    let sandbox = Sandbox::new();
    let reference = format!("{}/app{}", fake.host(), reference.replace('A', &a_digest));
    let pull = pull(&sandbox, &reference, &[]);
    refused(&sandbox, &pull, &[&a_digest, &b_digest])
}

/// The registry serves another image's manifest under the tag, and claims the
/// tag's real digest for it (`Docker-Content-Digest`).
pub fn tag_digest_header_lies(_: Via) -> Outcome {
    swapped("v1", ":v1")
}

pub fn digest_gets_other_bytes(_: Via) -> Outcome {
    swapped("A", "@A")
}

#[test]
fn a_blob_with_other_bytes_than_its_digest_is_refused_and_nothing_kept() {
    check("other_bytes", Via::Fake);
}

#[test]
fn a_blob_shorter_than_its_descriptor_is_refused() {
    check("truncated", Via::Fake);
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused() {
    check("extended", Via::Fake);
}

#[test]
fn a_huge_manifest_is_refused_before_it_is_read_whole() {
    check("huge_manifest", Via::Fake);
}

#[test]
fn a_huge_chunked_manifest_is_refused_before_it_is_read_whole() {
    check("huge_chunked_manifest", Via::Fake);
}

#[test]
fn a_huge_config_is_refused_before_it_is_read_whole() {
    check("huge_config", Via::Fake);
}

#[test]
fn blobs_redirected_to_a_cdn_are_pulled_without_the_registrys_credentials() {
    check("redirect_to_cdn", Via::Fake);
}

#[test]
fn a_tags_manifest_that_does_not_match_its_digest_header_is_refused() {
    check("tag_digest_header_lies", Via::Fake);
}

#[test]
fn a_pull_by_digest_that_gets_another_manifest_is_refused() {
    check("digest_gets_other_bytes", Via::Fake);
}

/// Text that gzip cannot shrink much, the same every run.
fn noise(len: usize) -> String {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

/// Two pulls of one image at once, through a slow link so that both are
/// downloading the layer at the same time: both succeed, and the store holds
/// the image once, every file complete and named by its content.
#[test]
fn two_pulls_of_one_image_at_once_leave_a_consistent_store() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let content = noise(2 << 20);
    let tar = Tar::default().file("noise", &content).finish();
    let layer = Layer::new(&tar, Compression::None);
    let layout = OciLayout::new();
    let manifest =
        layout.add_image("crafted", std::slice::from_ref(&layer), &ImageConfig::default());
    let fake = FakeRegistry::start();
    fake.add_from_layout("app", "v1", &layout, "crafted");
    let slow = Proxy::start(&fake.host(), true);
    let sandbox = Sandbox::new();
    let reference = format!("{}/app:v1", slow.host());
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| pull(&sandbox, &reference, &[]));
        let second = s.spawn(|| pull(&sandbox, &reference, &[]));
        (first.join().expect("a pull"), second.join().expect("a pull"))
    });
    assert_eq!((first.code, second.code), (0, 0), "{first:?}\n{second:?}");
    let blob_digest = sha256(&layer.blob);
    let downloads = fake.requests().iter().filter(|r| r.path.ends_with(&blob_digest)).count();
    assert_eq!(downloads, 2, "both pulls should have downloaded the layer at once");

    let store = StoreView::of(&sandbox);
    assert_eq!(store.names.values().collect::<Vec<_>>(), [&manifest], "{store:#?}");
    let config = layout.manifest("crafted")["config"]["digest"].as_str().unwrap().to_owned();
    let mut blobs: Vec<String> =
        [&manifest, &config, &blob_digest].iter().map(|d| d[7..].to_owned()).collect();
    blobs.sort();
    assert_eq!(store.blobs, blobs);
    for blob in &store.blobs {
        let bytes = std::fs::read(sandbox.store_dir().join("blobs/sha256").join(blob)).unwrap();
        assert_eq!(sha256(&bytes)[7..], *blob, "a blob's name is its digest");
    }
    assert_eq!(store.layers, [layer.diff_id[7..].to_owned()]);
    let noise = std::fs::read_to_string(layer_dir(&sandbox, &layer.diff_id).join("noise"));
    assert!(noise.is_ok_and(|n| n == content), "the layer is complete");
    assert!(store.tmp.is_empty(), "{store:#?}");
    let images = ch08(&sandbox, &["images"], None);
    assert_eq!(images.code, 0, "{images:?}");
}
