//! Hostile images and lying registries, end to end: a crafted image is served
//! by a real registry (or the fake one, for what a real registry never does),
//! `ch08 pull` fetches it and `ch08 run` runs it, and an observer outside the
//! container decides what happened — the host's files, the store's directories,
//! the fake registry's log of requests, the bytes a proxy passed on — never
//! what `ch08` says about itself.
//!
//! The unit tests of `unpack/` prove the unpacker alone; these prove the whole
//! path: registry, digest checks, limits, unpacking, overlayfs. `escapes` and
//! `layers` hold the crafted layers (part A), `registry` the lying registries
//! (part B); `table` runs every case again, cheaply (each crafted image served
//! by the fake registry), and renders the observed outcomes for the book.

mod craft;
mod escapes;
mod layers;
mod proxy;
mod registry;
mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::images::{self, Format, ImageConfig};
use crate::support::{
    Compression, FakeRegistry, Layer, OciLayout, REGISTRY_TOOLS, Registry, RegistryAuth, Sandbox,
    chapter_bin, root_or_skip, tools_or_skip,
};

/// What an observer saw a hostile input do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pull failed, and the store holds nothing of it: no name, blob or
    /// layer, nothing in `tmp/`. (Where the input aims at the host, the
    /// host is checked first: a change there is `Escaped`.)
    Refused,
    /// Pulled; what the entry wrote is inside the layer (the container sees it
    /// at the cleaned path), and nothing appeared on the host.
    KeptInside,
    /// Pulled; the container sees exactly what the OCI image spec says.
    AsSpecified,
    /// Pulled; the entries are in the layer with their type and mode.
    KeptAsIs,
    /// Pulled; every blob was checked, and the CDN got no credentials.
    Pulled,
    // What no case should show:
    /// A file appeared, or changed, on the host.
    Escaped,
    /// The pull failed but left something in the store.
    LeftBehind,
    /// The pull succeeded where it should have failed.
    Accepted,
    /// The container sees something other than the spec says.
    Wrong,
    /// The registry's credentials went to another host.
    Leaked,
}

impl Outcome {
    fn text(self) -> &'static str {
        match self {
            Outcome::Refused => "refused, nothing kept",
            Outcome::KeptInside => "kept inside the layer",
            Outcome::AsSpecified => "merged as the OCI image spec says",
            Outcome::KeptAsIs => "kept as they are",
            Outcome::Pulled => "pulled; digest checked",
            Outcome::Escaped => "ESCAPED to the host",
            Outcome::LeftBehind => "refused, but left files in the store",
            Outcome::Accepted => "ACCEPTED",
            Outcome::Wrong => "WRONG view in the container",
            Outcome::Leaked => "pulled, but the CDN got the credentials",
        }
    }
}

/// Where a crafted image is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Pushed by skopeo to a real registry (`docker-registry`).
    Registry,
    /// Served from memory by the fake registry: no skopeo, no process.
    Fake,
}

/// A server of crafted images, stopped when dropped.
pub enum Server {
    Registry(Registry),
    Fake(FakeRegistry),
}

impl Server {
    pub fn start(via: Via) -> Server {
        match via {
            Via::Registry => Server::Registry(Registry::start(RegistryAuth::None)),
            Via::Fake => Server::Fake(FakeRegistry::start()),
        }
    }

    /// Serve an image of the uncompressed `tars` (bottom first) as
    /// `NAME:v1`; the reference to pull it by.
    pub fn publish(&self, name: &str, tars: &[Vec<u8>]) -> String {
        let config = ImageConfig::default();
        match self {
            Server::Registry(registry) => {
                let dest = format!("{name}:v1");
                images::push_layers(registry, &dest, tars, &config, Format::OciUncompressed);
                format!("{}/{dest}", registry.host())
            }
            Server::Fake(fake) => {
                let layers: Vec<Layer> =
                    tars.iter().map(|tar| Layer::new(tar, Compression::Gzip)).collect();
                let layout = OciLayout::new();
                layout.add_image("crafted", &layers, &config);
                fake.add_from_layout(name, "v1", &layout, "crafted");
                format!("{}/{name}:v1", fake.host())
            }
        }
    }
}

/// True if the test can run `via`: root, and the registry tools for a real one.
pub fn can_run(test: &str, via: Via) -> bool {
    root_or_skip(test) && (via == Via::Fake || tools_or_skip(test, &REGISTRY_TOOLS))
}

/// What one `ch08` command did.
pub struct Ch08 {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Ch08 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ch08 exited with {}", self.code)?;
        write!(f, "\n--- stdout:\n{}--- stderr:\n{}", self.stdout, self.stderr)
    }
}

/// `ch08 ARGS` on the host with the sandbox's store, credentials (if any) from
/// `docker_config` — never the machine's own `~/.docker`.
pub fn ch08(sandbox: &Sandbox, args: &[&str], docker_config: Option<&Path>) -> Ch08 {
    let nowhere = sandbox.dir().join("no-docker-config");
    let out = Command::new(chapter_bin("ch08"))
        .args(args)
        .envs(sandbox.env(true))
        .env("DOCKER_CONFIG", docker_config.unwrap_or(&nowhere))
        .stdin(Stdio::null())
        .output()
        .expect("run ch08");
    Ch08 {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ch08 pull [OPTIONS] REFERENCE`, anonymously.
pub fn pull(sandbox: &Sandbox, reference: &str, options: &[&str]) -> Ch08 {
    let args: Vec<&str> = ["pull"].iter().chain(options).chain([&reference]).copied().collect();
    ch08(sandbox, &args, None)
}

/// A new sandbox with `reference` pulled into its store (which must work).
pub fn pulled(reference: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let pull = pull(&sandbox, reference, &[]);
    assert_eq!(pull.code, 0, "{pull:?}");
    sandbox
}

/// What `sh -c SCRIPT` prints in a container of `reference`.
pub fn in_container(sandbox: &Sandbox, reference: &str, script: &str) -> String {
    let run = sandbox.run_image(reference, &["sh", "-c", script]);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
}

/// What the store holds, read from its directories.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StoreView {
    pub names: BTreeMap<String, String>,
    pub blobs: Vec<String>,
    pub layers: Vec<String>,
    pub tmp: Vec<String>,
}

impl StoreView {
    pub fn of(sandbox: &Sandbox) -> StoreView {
        let store = sandbox.store_dir();
        let names = std::fs::read(store.join("images.json")).ok().map(|bytes| {
            let index: serde_json::Value = serde_json::from_slice(&bytes).expect("images.json");
            serde_json::from_value(index["images"].clone()).expect("images.json maps names")
        });
        StoreView {
            names: names.unwrap_or_default(),
            blobs: names_in(&store.join("blobs/sha256")),
            layers: names_in(&store.join("layers/sha256")),
            tmp: names_in(&store.join("tmp")),
        }
    }
}

/// The names in `dir`, sorted; none if it does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut names: Vec<String> =
        entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The directory the store unpacked the layer `diff_id` (`sha256:…`) into.
pub fn layer_dir(sandbox: &Sandbox, diff_id: &str) -> PathBuf {
    let hex = diff_id.strip_prefix("sha256:").expect("a sha256 digest");
    sandbox.store_dir().join("layers/sha256").join(hex)
}

/// The verdict on a pull that should fail: `Accepted` if it did not; else
/// `Refused` if the store holds nothing at all (the images refused here are
/// the store's first). The error must be one line, naming each of `names`.
pub fn refused(sandbox: &Sandbox, pull: &Ch08, names: &[&str]) -> Outcome {
    if pull.code == 0 {
        return Outcome::Accepted;
    }
    assert_eq!(pull.code, 125, "{pull:?}");
    let lines: Vec<&str> = pull.stderr.lines().collect();
    assert!(lines.len() == 1 && lines[0].starts_with("ch08: "), "one line of error: {pull:?}");
    for name in names {
        assert!(pull.stderr.contains(name), "the error should name {name}: {pull:?}");
    }
    let store = StoreView::of(sandbox);
    if store == StoreView::default() {
        Outcome::Refused
    } else {
        eprintln!("the refused pull left {store:#?}");
        Outcome::LeftBehind
    }
}

/// The book's table of hostile inputs and what became of them (`table.rs`).
#[test]
fn hostile_layers_table() {
    if !can_run(module_path!(), Via::Fake) {
        return;
    }
    insta::assert_snapshot!("ch08_hostile_table", table::observed());
}
