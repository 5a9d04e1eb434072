//! Chapter 8: images. Pulled from a real registry (Debian's `docker-registry`)
//! in each of its auth modes and formats, unpacked into the store, and run;
//! the reference for what a pulled image holds is `umoci unpack` of the same
//! image (`support/images.rs` builds it, with a layer for every whiteout rule).
//!
//! `ch08 pull`, `images`, `rmi`, `inspect` and `import` run on the host, where
//! the registries listen ([`Sandbox::ch08`]); `ch08 run` runs in the sandbox.
//! Each test has its own store; the registries, one per auth mode, are shared
//! by the tests of this process (starting one and pushing to it takes a
//! second), and stopped when it exits.
//!
//! - `run`: what a pulled image runs: umoci's files, and its config.
//! - `credentials`: HTTP Basic and token auth, and the book's `-v` walk-through.
//! - `formats`: Docker's manifest, zstd and plain layers, multi-platform indexes.
//! - `store`: layers shared and removed, concurrent pulls, `import`.
//! - `containers`: a container's own directory, kept or not, and after a crash.

crate::every_chapter_checks!("ch08");
crate::terminal_checks!("ch08", "/dev/pts/0");

mod containers;
mod credentials;
mod formats;
mod run;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::support::images::{self, Format, THREE};
use crate::support::{REGISTRY_TOOLS, Registry, RegistryAuth, tools_or_skip};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret:with colon";
/// Where every shared registry has the three-layer image (OCI, gzip layers).
const PUSHED: &str = "three:v1";

/// Root (mounts, and umoci chowns) and the registry tools.
fn can_run(test: &str) -> bool {
    root_or_skip(test) && tools_or_skip(test, &REGISTRY_TOOLS)
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Htpasswd,
    Token,
}

/// The registry of this process with `auth`, started (and given the
/// three-layer image as [`PUSHED`]) by the first test that asks.
fn registry(auth: Auth) -> Arc<Registry> {
    static SHARED: [Mutex<Option<Arc<Registry>>>; 3] =
        [Mutex::new(None), Mutex::new(None), Mutex::new(None)];
    // Statics are never dropped: stop the registries when the process exits
    // (libtest ends through `exit`, which runs `atexit` handlers), once every
    // test has dropped its handle.
    extern "C" fn stop_all() {
        for slot in &SHARED {
            drop(slot.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
    }
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain function; it only touches a static.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(stop_all);
    });
    let mut slot = SHARED[auth as usize].lock().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        let (user, password) = (USER.to_owned(), PASSWORD.to_owned());
        let registry = Registry::start(match auth {
            Auth::None => RegistryAuth::None,
            Auth::Htpasswd => RegistryAuth::Htpasswd { user, password },
            Auth::Token => RegistryAuth::Token { user, password },
        });
        images::push(images::shared_layout(), THREE, &registry, PUSHED, Format::Oci);
        Arc::new(registry)
    })
    .clone()
}

/// `ch08 ARGS...` on the host with the sandbox's store, and Docker's config
/// directory `docker_config` (so never the machine's own `~/.docker`).
fn ch08_with(sandbox: &Sandbox, docker_config: &Path, args: &[&str]) -> Output {
    sandbox
        .command_on_host("ch08")
        .env("DOCKER_CONFIG", docker_config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ch08")
}

/// `ch08 ARGS...` with no credentials anywhere.
fn ch08(sandbox: &Sandbox, args: &[&str]) -> Output {
    ch08_with(sandbox, &sandbox.dir().join("no-docker-config"), args)
}

/// A Docker config directory with `registry`'s credentials, as `docker login`
/// writes them.
fn logged_in(sandbox: &Sandbox, registry: &Registry) -> PathBuf {
    let dir = sandbox.dir().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let (user, password) = registry.credentials().expect("a registry with auth");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({ "auths": { registry.host(): { "auth": auth } } });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Assert that `out` succeeded; its stdout.
#[track_caller]
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{:?}: {}{}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Pull `reference` (`NAME:TAG` on `registry`) anonymously; stdout.
#[track_caller]
fn pull(sandbox: &Sandbox, registry: &Registry, reference: &str) -> String {
    ok(&ch08(sandbox, &["pull", &format!("{}/{reference}", registry.host())]))
}

/// The second line of a pull's stdout: `NAME: N layers, M downloaded`.
fn summary(stdout: &str) -> &str {
    stdout.lines().nth(1).unwrap_or_default()
}

/// The names in a directory of the store (`tmp`, `layers/sha256`…), sorted.
fn listing(sandbox: &Sandbox, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.store_dir().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `ch08 inspect IMAGE`, parsed.
fn inspect(sandbox: &Sandbox, image: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&ch08(sandbox, &["inspect", image]))).expect("inspect prints JSON")
}

/// The hex diff ids of an image in the store, bottom layer first.
fn diff_ids(sandbox: &Sandbox, image: &str) -> Vec<String> {
    let config = &inspect(sandbox, image)["Config"];
    let ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    ids.iter().map(|d| d.as_str().unwrap().trim_start_matches("sha256:").to_owned()).collect()
}

/// A sandbox whose store has the three-layer image, pulled from the registry
/// without auth, and the image's name.
fn pulled_three() -> (Sandbox, String) {
    let registry = registry(Auth::None);
    let sandbox = offline();
    pull(&sandbox, &registry, PUSHED);
    (sandbox, format!("{}/{PUSHED}", registry.host()))
}

/// A sandbox whose containers have no network (the registry is the host's).
fn offline() -> Sandbox {
    Sandbox::new().options(&["--net", "none"])
}

/// Push the image (or index) `tag` of the shared layout to the registry
/// without auth as `dest` (`NAME:TAG`), once per process; its reference.
fn pushed(tag: &str, dest: &str, format: Format) -> (Arc<Registry>, String) {
    static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let registry = registry(Auth::None);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !done.iter().any(|d| d == dest) {
        images::push(images::shared_layout(), tag, &registry, dest, format);
        done.push(dest.to_owned());
    }
    let reference = format!("{}/{dest}", registry.host());
    (registry, reference)
}

/// `tincan pull`, `images`, `inspect` and `rmi` are chapter 8's, on the same
/// store: each says what `ch08` says of it.
#[test]
fn tincan_has_the_image_commands_of_the_chapters() {
    if !can_run("ch08::tincan_has_the_image_commands_of_the_chapters") {
        return;
    }
    let registry = registry(Auth::None);
    let sandbox = offline();
    let tincan = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tincan"))
            .env("TINCAN_ROOT", sandbox.store_dir())
            .env("DOCKER_CONFIG", sandbox.dir().join("no-docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tincan")
    };
    let image = format!("{}/{PUSHED}", registry.host());
    let pulled = ok(&tincan(&["pull", &image]));
    assert_eq!(summary(&pulled), format!("{image}: 3 layers, 3 downloaded"), "{pulled}");
    let listed = ok(&tincan(&["images"]));
    assert!(listed.contains(&image), "{listed}");
    assert_eq!(listed, ok(&ch08(&sandbox, &["images"])));
    assert_eq!(ok(&tincan(&["inspect", &image])), ok(&ch08(&sandbox, &["inspect", &image])));
    let removed = ok(&tincan(&["rmi", &image]));
    assert!(removed.starts_with(&format!("Untagged: {image}\n")), "{removed}");
    assert_eq!(ok(&tincan(&["images"])), ok(&ch08(&sandbox, &["images"])));
    assert!(!ok(&tincan(&["images"])).contains(&image));
}
