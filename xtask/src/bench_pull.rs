//! `cargo xtask bench-pull`: how long `ch08 pull` takes to fetch and unpack an
//! image, against the tools a learner would otherwise use for the same job —
//! `skopeo copy` to an OCI layout, then `umoci unpack` — in one hyperfine run.
//!
//! The image: three layers of about 10 MB each (part random bytes, which do not
//! compress, part text, which does), made with umoci and pushed with skopeo to
//! Debian's `docker-registry` on 127.0.0.1, in a temporary directory. Every
//! measured run starts from an empty store (hyperfine's `--prepare`), so each
//! one downloads, checks and unpacks everything.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{prerequisites, rootfs, workspace_root};

pub fn run(runs: usize, out: &Path) -> Result<()> {
    for (tool, package) in [
        ("hyperfine", "hyperfine"),
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("umoci", "umoci"),
    ] {
        if !prerequisites::installed(tool) {
            bail!("the pull bench needs {tool}: sudo apt-get install {package}");
        }
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--bin", "ch08"])
        .status()?;
    if !status.success() {
        bail!("building ch08 failed");
    }
    let dir = workspace_root().join("target/bench-pull");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let registry = Registry::start(&dir)?;
    let layout = dir.join("layout");
    build_image(&dir, &layout)?;
    let image = format!("{}/bench/three-layers:1", registry.host);
    let push = format!(
        "skopeo copy --quiet --dest-tls-verify=false oci:{}:1 docker://{image}",
        layout.display()
    );
    let status = skopeo_env(Command::new("sh"), &dir).args(["-c", &push]).status()?;
    if !status.success() {
        bail!("failed: {push}");
    }

    let ch08 = workspace_root().join("target/release/ch08");
    let json = dir.join("results.json");
    let (d, ch08) = (dir.display(), ch08.display());
    let status = skopeo_env(Command::new("hyperfine"), &dir)
        .args(["--warmup", "1", "--runs", &runs.to_string(), "--export-json"])
        .arg(&json)
        .args(["--prepare", &format!("rm -rf {d}/store {d}/oci {d}/bundle")])
        .args(["-n", "ch08 pull", &format!("{ch08} --root {d}/store pull --jobs 3 {image}")])
        .args([
            "-n",
            "skopeo copy + umoci unpack",
            &format!(
                "skopeo copy --quiet --src-tls-verify=false docker://{image} oci:{d}/oci:1 && umoci unpack --image {d}/oci:1 {d}/bundle"
            ),
        ])
        .status()?;
    let _ = std::fs::remove_dir_all(dir.join("bundle"));
    if !status.success() {
        bail!("hyperfine failed (see above)");
    }
    let table = table(&std::fs::read_to_string(&json)?, runs, &image_size(&layout)?)?;
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("bench-pull: wrote {}", out.display());
    drop(registry);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Debian's registry, on a free port of 127.0.0.1, storing in `dir`.
struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    fn start(dir: &Path) -> Result<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                dir.join("registry").display()
            ),
        )?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let registry = Registry { child, host };
        let started = Instant::now();
        while std::net::TcpStream::connect(&registry.host).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("docker-registry did not start on {}", registry.host);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three layers with umoci: the busybox rootfs and ~10 MB of files in each.
fn build_image(dir: &Path, layout: &Path) -> Result<()> {
    let bundle = dir.join("bundle");
    let (l, b) = (layout.display(), bundle.display());
    sh(&format!("umoci init --layout {l} && umoci new --image {l}:1"))?;
    for layer in 1..=3 {
        sh(&format!("umoci unpack --image {l}:1 {b}"))?;
        let rootfs = bundle.join("rootfs");
        if layer == 1 {
            std::fs::remove_dir(&rootfs)?;
            rootfs::build(&rootfs, true)?;
        }
        write_files(&rootfs.join(format!("data/layer{layer}")), layer)?;
        sh(&format!("umoci repack --image {l}:1 {b} && rm -rf {b}"))?;
    }
    Ok(())
}

/// 5 MB of random bytes and 5 MB of text, in 1 MB files.
fn write_files(dir: &Path, layer: u32) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut random = std::fs::File::open("/dev/urandom")?;
    for n in 0..5 {
        let mut bytes = vec![0u8; 1 << 20];
        std::io::Read::read_exact(&mut random, &mut bytes)?;
        std::fs::write(dir.join(format!("random{n}")), bytes)?;
        let mut text = std::fs::File::create(dir.join(format!("text{n}")))?;
        for line in 0..(1 << 20) / 64 {
            writeln!(text, "layer {layer} file {n} line {line:>8}: the quick brown fox jumps")?;
        }
    }
    Ok(())
}

/// skopeo keeps a cache of what it has seen in /var/lib/containers when run as
/// root; `_CONTAINERS_ROOTLESS_UID` sends it to `XDG_DATA_HOME`, here in the
/// bench's own directory, so the bench leaves nothing on the machine.
fn skopeo_env(mut command: Command, dir: &Path) -> Command {
    command.env("_CONTAINERS_ROOTLESS_UID", "1").env("XDG_DATA_HOME", dir.join("xdg"));
    command
}

fn sh(script: &str) -> Result<()> {
    let status = Command::new("sh").args(["-c", script]).status()?;
    if !status.success() {
        bail!("failed: {script}");
    }
    Ok(())
}

/// "3 layers, 18.3 MB compressed (gzip)", from the layout's manifest (the
/// image's one tag).
fn image_size(layout: &Path) -> Result<String> {
    let read =
        |path: &Path| -> Result<Value> { Ok(serde_json::from_slice(&std::fs::read(path)?)?) };
    let blob = |digest: &Value| {
        let digest = digest.as_str().unwrap_or_default().trim_start_matches("sha256:").to_owned();
        layout.join("blobs/sha256").join(digest)
    };
    let index = read(&layout.join("index.json"))?;
    let manifest = read(&blob(&index["manifests"][0]["digest"]))?;
    let layers = manifest["layers"].as_array().context("the manifest's layers")?;
    let compressed: u64 = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    Ok(format!("{} layers, {:.1} MB compressed (gzip)", layers.len(), compressed as f64 / 1e6))
}

/// The book's table: medians, and ch08's time as a share of the peers'.
fn table(json: &str, runs: usize, image: &str) -> Result<String> {
    let peers = "skopeo copy + umoci unpack";
    let mut md = crate::bench::ratio_table(json, "pull and unpack", peers, 0)?;
    md.push_str(&format!(
        "\nMeasured by `cargo xtask bench-pull` on {}: an image of {image} — three times 5 MB of random bytes and 5 MB of text, over the busybox root file system — from Debian's docker-registry on 127.0.0.1 into an empty store, medians of {runs} runs after one warm-up run, in one hyperfine run (release build; skopeo and umoci from Debian). `ch08 pull` downloads up to 3 layers at once and unpacks each while it downloads.\n",
        crate::measure::machine_description(&crate::bench::kernel()),
    ));
    Ok(md)
}
