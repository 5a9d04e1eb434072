//! Chapter 8's test harness checked on its own: the real registry in each of its
//! auth modes, the images umoci builds and skopeo pushes, the token service, the
//! fake registry and the bomb. If one of these fails, chapter 8's tests say
//! nothing about chapter 8.

use crate::support::images::{self, Format, ImageConfig, THREE_LAYERS_GREETING};
use crate::support::{
    Compression, DOCKER_LIST, DOCKER_MANIFEST, FakeRegistry, Layer, Misbehaviour, OCI_CONFIG,
    OCI_INDEX, OCI_MANIFEST, OciLayout, REGISTRY_TOOLS, Registry, RegistryAuth, Side, gzip_bomb,
    http_get, root_or_skip, sha256, tools_or_skip,
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret:with colon";

/// Root (umoci unpacks and chowns) and the registry tools.
fn can_run(test: &str) -> bool {
    root_or_skip(test) && tools_or_skip(test, &REGISTRY_TOOLS)
}

/// Push the three-layer image to `registry`, read it back as `USER`, and check
/// that a stranger is refused. The test of each auth mode.
fn push_and_read_back(registry: &Registry) {
    images::push(images::shared_layout(), images::THREE, registry, "three:v1", Format::Oci);
    let creds = registry.credentials();
    let creds = creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let image = images::inspect(registry, "three:v1", creds, false).expect("inspect");
    assert_eq!(image["Layers"].as_array().map(Vec::len), Some(3), "{image:#}");
    assert!(image["Env"].to_string().contains("GREETING=hello"), "{image:#}");
    // umoci 0.4.7 leaves out the manifest's optional `mediaType`: the config's says OCI.
    let manifest = images::inspect(registry, "three:v1", creds, true).expect("inspect --raw");
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    if creds.is_some() {
        let wrong = images::inspect(registry, "three:v1", Some((USER, "wrong")), false);
        assert!(wrong.is_err(), "a wrong password was accepted");
    }
}

#[test]
fn a_registry_without_auth_takes_and_serves_the_three_layer_image() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = Registry::start(RegistryAuth::None);
    push_and_read_back(&registry);
    assert!(
        registry.log().contains("\"PUT /v2/three/manifests/v1 HTTP/1.1\" 201"),
        "{}",
        registry.log()
    );
}

#[test]
fn a_registry_with_htpasswd_wants_the_right_password() {
    if !can_run(module_path!()) {
        return;
    }
    let registry =
        Registry::start(RegistryAuth::Htpasswd { user: USER.into(), password: PASSWORD.into() });
    push_and_read_back(&registry);
    assert!(images::inspect(&registry, "three:v1", None, false).is_err(), "anonymous was let in");
}

/// skopeo asks the realm for a token as alice for `pull,push`, and the registry
/// accepts the token: claims, signature and certificate chain are right.
#[test]
fn a_registry_with_token_auth_accepts_the_token_services_tokens() {
    if !can_run(module_path!()) {
        return;
    }
    let registry =
        Registry::start(RegistryAuth::Token { user: USER.into(), password: PASSWORD.into() });
    push_and_read_back(&registry);
    let seen = registry.token_requests();
    let granted = |scope: &str| {
        seen.iter().any(|r| {
            r.status == 200
                && r.basic_user.as_deref() == Some(USER)
                && r.path_and_query.contains(scope)
        })
    };
    assert!(granted("scope=repository%3Athree%3Apull%2Cpush"), "{seen:#?}");
    assert!(
        seen.iter().any(|r| r.status == 401 && r.basic_user.as_deref() == Some(USER)),
        "{seen:#?}"
    );
    assert!(images::inspect(&registry, "three:v1", None, false).is_err(), "anonymous was let in");
}

#[test]
fn a_registry_with_public_pull_serves_anonymous_clients() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = Registry::start(RegistryAuth::TokenPublicPull {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    images::push(images::shared_layout(), images::THREE, &registry, "three:v1", Format::Oci);
    let image = images::inspect(&registry, "three:v1", None, false).expect("anonymous inspect");
    assert_eq!(image["Layers"].as_array().map(Vec::len), Some(3));
    assert!(registry.token_requests().iter().any(|r| r.status == 200 && r.basic_user.is_none()));
}

/// Each push format arrives as itself: Docker's manifest, zstd and plain tar
/// layers, and an index with both platforms.
#[test]
fn each_push_format_reaches_the_registry_as_asked() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = Registry::start(RegistryAuth::None);
    let layout = images::shared_layout();
    let raw =
        |reference: &str| images::inspect(&registry, reference, None, true).expect("inspect --raw");
    let layer_types = |manifest: &serde_json::Value| -> Vec<String> {
        let layers = manifest["layers"].as_array().expect("layers");
        layers.iter().map(|l| l["mediaType"].as_str().unwrap_or_default().to_owned()).collect()
    };
    images::push(layout, images::THREE, &registry, "three:docker", Format::DockerV2S2);
    assert_eq!(raw("three:docker")["mediaType"], DOCKER_MANIFEST);
    images::push(layout, images::MULTI, &registry, "three:docker-multi", Format::DockerV2S2);
    assert_eq!(raw("three:docker-multi")["mediaType"], DOCKER_LIST);
    images::push(layout, images::THREE, &registry, "three:zstd", Format::OciZstd);
    assert!(layer_types(&raw("three:zstd")).iter().all(|t| t.ends_with("tar+zstd")));
    images::push(layout, images::THREE, &registry, "three:plain", Format::OciUncompressed);
    assert!(layer_types(&raw("three:plain")).iter().all(|t| t.ends_with(".tar")));
    images::push(layout, images::MULTI, &registry, "three:multi", Format::Oci);
    let index = raw("three:multi");
    assert_eq!(index["mediaType"], OCI_INDEX);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
}

/// The reference unpacking shows what the module doc of `images` promises.
#[test]
fn umoci_unpacks_the_three_layers_with_their_whiteouts() {
    if !can_run(module_path!()) {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let unpacked = images::umoci_unpack(images::shared_layout(), images::AMD64);
    let root = unpacked.rootfs();
    assert!(root.join(crate::support::PROBE).exists());
    assert!(!root.join(images::DELETED_FILE).exists());
    assert!(!root.join(images::DELETED_DIR).exists());
    assert_eq!(std::fs::read_to_string(root.join(images::REPLACED)).unwrap(), "new\n");
    let opaque: Vec<_> = std::fs::read_dir(root.join(images::OPAQUE_DIR))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(opaque, ["new-c"]);
    let owned = std::fs::metadata(root.join(images::OWNED)).unwrap();
    assert_eq!((owned.uid(), owned.gid(), owned.mode() & 0o7777), (1000, 1000, 0o640));
    assert_eq!(
        std::fs::read_link(root.join(images::SYMLINK)).unwrap(),
        std::path::Path::new("kept")
    );
    let kept = std::fs::metadata(root.join(images::KEPT)).unwrap();
    assert_eq!(kept.ino(), std::fs::metadata(root.join(images::HARDLINK)).unwrap().ino());
    assert_eq!(std::fs::read_to_string(root.join(images::PLATFORM_FILE)).unwrap(), "linux/amd64\n");

    // The config's command, run by hand as the config says, prints the greeting.
    let config = ImageConfig::three_layers();
    let out = std::process::Command::new("chroot")
        .arg(format!("--userspec={}", config.user.as_deref().unwrap()))
        .arg(&root)
        .args(&config.entrypoint)
        .arg(format!("cd {} && {}", config.working_dir.as_deref().unwrap(), config.cmd[0]))
        .env_clear()
        .envs(config.env.iter().filter_map(|e| e.split_once('=')))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), THREE_LAYERS_GREETING, "{out:?}");
}

/// Crafted layers are pushed byte for byte, and the config as given.
#[test]
fn crafted_layers_are_pushed_as_given() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = Registry::start(RegistryAuth::None);
    let layer = images::tar_of(&[("evil/", None), ("evil/file", Some("x"))]);
    let config = ImageConfig { cmd: vec!["/bin/true".into()], ..ImageConfig::default() };
    let layout = images::push_layers(
        &registry,
        "crafted:v1",
        std::slice::from_ref(&layer),
        &config,
        Format::OciUncompressed,
    );
    let manifest = images::inspect(&registry, "crafted:v1", None, true).expect("inspect --raw");
    let digest = manifest["layers"][0]["digest"].as_str().expect("a layer");
    assert_eq!(layout.blob(digest), layer);
    let image = images::inspect(&registry, "crafted:v1", None, false).expect("inspect");
    assert_eq!(image["Architecture"], "amd64");
}

/// The fake serves a manifest with its digest, only to clients that accept its
/// type, lies when told to, and redirects blobs to a CDN that never sees the
/// registry's credentials.
#[test]
fn the_fake_registry_serves_misbehaves_and_redirects() {
    let fake = FakeRegistry::with_basic_auth(USER, "pw");
    let auth = ("Authorization", "Basic YWxpY2U6cHc="); // alice:pw
    let blob = fake.add_blob(b"layer bytes".to_vec());
    let manifest = format!(r#"{{"schemaVersion":2,"layers":[{{"digest":"{blob}","size":11}}]}}"#);
    let digest = fake.add_manifest("app", "v1", OCI_MANIFEST, manifest.clone().into_bytes());

    let (status, headers, body) =
        http_get(&fake.host(), "/v2/app/manifests/v1", &[auth, ("Accept", OCI_MANIFEST)]).unwrap();
    assert_eq!((status, body), (200, manifest.into_bytes()));
    assert!(headers.contains(&format!("docker-content-digest: {digest}\n")), "{headers}");
    assert!(headers.contains(&format!("content-type: {OCI_MANIFEST}\n")), "{headers}");
    let (status, _, _) = http_get(&fake.host(), "/v2/app/manifests/v1", &[auth]).unwrap();
    assert_eq!(status, 404, "served an OCI manifest to a client that did not accept it");
    let (status, _, _) =
        http_get(&fake.host(), "/v2/app/manifests/v1", &[("Accept", OCI_MANIFEST)]).unwrap();
    assert_eq!(status, 401, "served without credentials");

    fake.misbehave(&blob, Misbehaviour::OtherBytes(b"other bytes".to_vec()));
    let (_, _, body) = http_get(&fake.host(), &format!("/v2/app/blobs/{blob}"), &[auth]).unwrap();
    assert_eq!(body, b"other bytes");

    fake.misbehave(&blob, Misbehaviour::RedirectToCdn);
    let (status, headers, _) =
        http_get(&fake.host(), &format!("/v2/app/blobs/{blob}"), &[auth]).unwrap();
    assert_eq!(status, 307);
    let location =
        headers.lines().find_map(|l| l.strip_prefix("location: http://")).expect("a Location");
    let (cdn_host, cdn_path) = location.split_at(location.find('/').expect("a path"));
    let (status, _, body) = http_get(cdn_host, cdn_path, &[]).unwrap();
    assert_eq!((status, body.as_slice()), (200, b"layer bytes".as_slice()));
    http_get(cdn_host, cdn_path, &[auth]).unwrap();
    let seen = fake.requests();
    let cdn: Vec<_> =
        seen.iter().filter(|r| r.side == Side::Cdn).map(|r| r.authorization.as_deref()).collect();
    assert_eq!(cdn, [None, Some(auth.1)], "{seen:#?}");
}

/// An image crafted in a layout, served by the fake: it can cut a blob short,
/// add bytes, pad a manifest to any size, or fail.
#[test]
fn the_fake_registry_serves_a_crafted_image_and_misbehaves_on_it() {
    let layout = OciLayout::new();
    let tar = images::tar_of(&[("file", Some("content"))]);
    let config = ImageConfig::default();
    layout.add_image("crafted", &[Layer::new(&tar, Compression::Zstd)], &config);
    let fake = FakeRegistry::start();
    let digest = fake.add_from_layout("app", "v1", &layout, "crafted");
    let get = |path: &str| http_get(&fake.host(), path, &[("Accept", OCI_MANIFEST)]).unwrap();
    let (status, _, manifest) = get(&format!("/v2/app/manifests/{digest}"));
    assert_eq!(status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = format!("/v2/app/blobs/{layer}");
    assert_eq!(get(&blob).2, layout.blob(layer));

    fake.misbehave(layer, Misbehaviour::Truncated(5));
    assert_eq!(get(&blob).2, layout.blob(layer)[..5]);
    fake.misbehave(layer, Misbehaviour::Extended(b"more".to_vec()));
    assert_eq!(get(&blob).2, [layout.blob(layer), b"more".to_vec()].concat());
    fake.misbehave("v1", Misbehaviour::Huge { len: 1 << 20, chunked: true });
    let (status, headers, body) = get("/v2/app/manifests/v1");
    assert_eq!((status, body.len()), (200, 1 << 20));
    assert!(headers.contains(&format!("docker-content-digest: {digest}\n")), "{headers}");
    fake.misbehave(layer, Misbehaviour::Status(500));
    assert_eq!(get(&blob).0, 500);
    assert!(fake.requests().iter().all(|r| r.method == "GET" && r.side == Side::Registry));
}

/// The bomb is a valid gzip of a valid tar, of the size asked, with the right
/// diff_id; checked at 16 MiB to stay quick.
#[test]
fn the_gzip_bomb_inflates_to_a_valid_tar_of_the_size_asked() {
    if !tools_or_skip(module_path!(), &[("openssl", "openssl")]) {
        return;
    }
    use std::io::Read;
    let bomb = gzip_bomb(16);
    assert!(bomb.blob.len() < 64 * 1024, "the bomb is {} bytes", bomb.blob.len());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bomb.blob.as_slice()).read_to_end(&mut tar).expect("a valid gzip");
    assert_eq!(tar.len(), 512 + 16 * 1024 * 1024 + 1024);
    assert_eq!(sha256(&tar), bomb.diff_id);
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(String, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.path().unwrap().display().to_string(), e.size()))
        .collect();
    assert_eq!(entries, [("zeros".to_owned(), 16 * 1024 * 1024)]);
}
