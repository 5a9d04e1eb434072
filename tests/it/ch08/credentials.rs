//! Registries that want credentials: HTTP Basic, and bearer tokens from a
//! token service; what an anonymous user is told; the `-v` walk-through.

use std::path::Path;
use std::process::Output;

use regex::Regex;

use super::{
    Auth, PUSHED, USER, can_run, ch08_with, listing, logged_in, offline, registry, summary, text,
};
use crate::support::images::{self, THREE, THREE_LAYERS_GREETING};
use crate::support::{Registry, Sandbox};

/// A pull with `-v` as a transcript for the book: the command line, what it
/// printed, its exit status if not 0.
fn transcript(
    sandbox: &Sandbox,
    docker_config: Option<&Path>,
    reference: &str,
) -> (Output, String) {
    let (config, shown_env) = match docker_config {
        Some(dir) => (dir.to_owned(), "DOCKER_CONFIG=./docker "),
        None => (sandbox.dir().join("no-docker-config"), ""),
    };
    let out = ch08_with(sandbox, &config, &["pull", "-v", reference]);
    let mut shown = format!("$ sudo {shown_env}target/debug/ch08 pull -v {reference}\n");
    shown.push_str(&text(&out.stderr));
    shown.push_str(&text(&out.stdout));
    if !out.status.success() {
        shown.push_str(&format!("$ echo $?\n{}\n", out.status.code().unwrap_or(-1)));
    }
    (out, shown)
}

/// What differs between runs in a transcript, made placeholders: the
/// registry's port, the token service's, and digests, named after what they
/// are (the layers are fetched in parallel: their lines are sorted).
fn placeholders(transcript: &str, registry: &Registry, digests: &[(String, String)]) -> String {
    let mut text = transcript.replace(&registry.host(), "127.0.0.1:[PORT]");
    let port = Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    text = port.replace_all(&text, "127.0.0.1:[TOKEN PORT]").into_owned();
    for (digest, name) in digests {
        text = text.replace(digest, &format!("sha256:[{name}]"));
    }
    let mut out: Vec<&str> = Vec::new();
    let mut layers: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.starts_with("GET ") && line.contains("[LAYER ") {
            layers.push(line);
            continue;
        }
        layers.sort();
        out.append(&mut layers);
        out.push(line);
    }
    layers.sort();
    out.append(&mut layers);
    out.join("\n") + "\n"
}

/// The three-layer image's digests, with the names the book gives them:
/// MANIFEST, CONFIG, LAYER 1…3 (bottom first).
fn named_digests() -> Vec<(String, String)> {
    let layout = images::shared_layout();
    let manifest = layout.manifest(THREE);
    let digest = |value: &serde_json::Value| value.as_str().expect("a digest").to_owned();
    let mut names = vec![
        (digest(&layout.resolve(THREE).expect("tagged")["digest"]), "MANIFEST".to_owned()),
        (digest(&manifest["config"]["digest"]), "CONFIG".to_owned()),
    ];
    let layers = manifest["layers"].as_array().expect("layers");
    names.extend(
        layers.iter().enumerate().map(|(n, l)| (digest(&l["digest"]), format!("LAYER {}", n + 1))),
    );
    names
}

/// The exchange of one pull, as `-v` prints it, for checking its order:
/// the lines with their variable parts gone.
fn exchange(stderr: &str) -> Vec<String> {
    let digest = Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let port = Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    stderr
        .lines()
        .filter(|l| l.starts_with("GET "))
        .map(|l| port.replace_all(&digest.replace_all(l, "D"), "HOST").into_owned())
        .collect()
}

/// The registries ask in their two ways (HTTP Basic; a token from a token
/// service), and `ch08 pull` answers each with the credentials `docker login`
/// wrote, after telling an anonymous user how to log in. The `-v` exchanges
/// are the book's walk-through (the snapshot `ch08_pull_exchanges`).
#[test]
fn pulls_answer_basic_and_token_challenges_and_anonymous_users_are_told_to_log_in() {
    if !can_run(module_path!()) {
        return;
    }
    let mut book = String::new();
    let digests = named_digests();
    for auth in [Auth::Htpasswd, Auth::Token] {
        let registry = registry(auth);
        let sandbox = offline();
        let reference = format!("{}/{PUSHED}", registry.host());
        let before = registry.token_requests().len();

        let (refused, shown) = transcript(&sandbox, None, &reference);
        book.push_str(&placeholders(&shown, &registry, &digests));
        assert_eq!(refused.status.code(), Some(125), "{shown}");
        let error = text(&refused.stderr);
        let error = error.lines().last().unwrap_or_default();
        assert_eq!(
            error,
            format!(
                "ch08: {host} asks for credentials ({scheme}) and there are none: log in with `docker login {host}` or add an `auths` entry to ~/.docker/config.json",
                host = registry.host(),
                scheme = if matches!(auth, Auth::Token) { "Bearer" } else { "Basic" },
            ),
            "{shown}"
        );
        assert_eq!(listing(&sandbox, "tmp"), Vec::<String>::new());
        assert_eq!(listing(&sandbox, "blobs/sha256"), Vec::<String>::new());

        let config = logged_in(&sandbox, &registry);
        let (pulled, shown) = transcript(&sandbox, Some(&config), &reference);
        book.push_str(&placeholders(&shown, &registry, &digests));
        assert!(pulled.status.success(), "{shown}");
        assert_eq!(summary(&text(&pulled.stdout)), format!("{reference}: 3 layers, 3 downloaded"));

        // Challenge, credentials (a token first, for token auth), retry; then
        // every request carries them: the config and the three layers.
        let (scheme, token) = match auth {
            Auth::Token => ("Bearer", vec!["GET http://HOST/token → 200 OK".to_owned()]),
            _ => ("Basic", vec![]),
        };
        let mut expected = vec!["GET /v2/three/manifests/v1 (anonymous) → 401 Unauthorized".into()];
        expected.extend(token);
        expected.push(format!("GET /v2/three/manifests/v1 ({scheme}) → 200 OK"));
        expected.extend((0..4).map(|_| format!("GET /v2/three/blobs/D ({scheme}) → 200 OK")));
        assert_eq!(exchange(&text(&pulled.stderr)), expected, "{shown}");

        let seen = registry.token_requests()[before..].to_vec();
        if let Auth::Token = auth {
            // Once anonymously (refused), once as alice, for pull only.
            let path = "/token?service=tincan-test-registry&scope=repository%3Athree%3Apull";
            let asked: Vec<_> = seen
                .iter()
                .map(|r| (r.path_and_query.as_str(), r.basic_user.as_deref(), r.status))
                .collect();
            assert_eq!(asked, [(path, None, 401), (path, Some(USER), 200)], "{seen:#?}");
        } else {
            assert_eq!(seen, [], "htpasswd needs no token service");
        }
        let run = sandbox.run_image(&reference, &[]);
        assert_eq!((run.code, run.stdout.trim()), (0, THREE_LAYERS_GREETING), "{run:?}");
    }
    // With the other snapshots, under the name the book includes.
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("ch08_pull_exchanges", book);
    });
}
