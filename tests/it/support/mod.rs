//! What every test needs: root, a root filesystem of its own, the chapter
//! binaries, and an outer sandbox to run attacks in.

mod bomb;
mod checks;
pub mod containerd;
pub mod face;
mod fake_registry;
mod filters;
mod host;
mod image_config;
pub mod images;
pub mod oci;
mod oci_layout;
pub mod podman;
mod registry;
mod sandbox;
mod services;
mod skip;
mod terminal;
mod test_image;
mod token;
pub mod unprivileged;
mod vm;

pub use bomb::gzip_bomb;
pub use fake_registry::{FakeRegistry, Misbehaviour, Side};
pub use filters::{HostView, normalise};
pub use oci_layout::{
    Compression, DOCKER_LIST, DOCKER_MANIFEST, Layer, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
    OciLayout, sha256,
};
pub use registry::{REGISTRY_TOOLS, Registry, RegistryAuth, http_get};
pub use sandbox::{Run, SANDBOX_HOSTNAME, Sandbox};
pub use services::{LoopbackService, Sleeper};
pub use skip::{qemu_or_skip, root_or_skip, skip, tools_or_skip, which};
pub use terminal::Terminal;
pub use vm::{run_in_vm, try_in_vm, try_in_vm_with};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Tests that run a chapter directly on the host (not in a sandbox) and compare
/// the host's state before and after take this lock, so that they do not see
/// each other's containers.
pub static HOST: Mutex<()> = Mutex::new(());

/// The chapters, in order.
pub const CHAPTERS: [&str; 11] =
    ["ch00", "ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09", "ch10"];

/// The probe inside every test rootfs. The path is relative on purpose: chapter 0
/// starts in ROOTFS without changing the root, later chapters start in `/`, and
/// this path names the probe in both.
pub const PROBE: &str = "usr/local/bin/tincan-probe";

/// The chapter binary `chNN`, next to this test binary, built from the current
/// sources.
///
/// `cargo test` builds the test binary but not the chapter binaries it runs, so
/// without care the tests would run yesterday's `ch02`. So the first call builds
/// them (a no-op when they are fresh). Not under sudo, though — `cargo xtask test`
/// runs us that way for non-root users, after building them, and a build here
/// would leave root-owned files in your target directory; there we only check that
/// no chapter source is newer than the binary.
pub fn chapter_bin(chapter: &str) -> PathBuf {
    static FRESH: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("own path");
    // target/PROFILE/deps/it-HASH -> target/PROFILE
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/PROFILE").to_path_buf();
    let under_sudo = std::env::var_os("SUDO_UID").is_some();
    FRESH.get_or_init(|| {
        if !under_sudo {
            build_chapters(&profile_dir);
        }
    });
    let bin = profile_dir.join(chapter);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` first (cargo xtask test does)",
        bin.display()
    );
    if under_sudo {
        assert_fresh(&bin, chapter);
    }
    bin
}

/// `tincan-supervisor`, built with the chapters (it is a default member of
/// the workspace, so the same `cargo build` makes it).
pub fn supervisor_bin() -> PathBuf {
    chapter_bin("tincan-supervisor")
}

fn build_chapters(profile_dir: &Path) {
    let target_dir = profile_dir.parent().expect("target dir");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--bins", "--target-dir"])
        .arg(target_dir);
    if profile_dir.ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo build");
    assert!(status.success(), "building the chapter binaries failed (see above)");
}

/// Fail, rather than test stale code, if a source of `chapter` or of a chapter it
/// builds on (ch02 is built from ch00, ch01 and ch02) is newer than `bin`.
/// Only under sudo: elsewhere `chapter_bin` has just built it.
fn assert_fresh(bin: &Path, chapter: &str) {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).expect("binary mtime");
    let chapters = Path::new(env!("CARGO_MANIFEST_DIR")).join("chapters");
    let newer = std::fs::read_dir(chapters)
        .expect("chapters/")
        .flatten()
        .filter_map(|dir| {
            let name = dir.file_name().to_string_lossy().get(..4)?.to_owned();
            // Another chapter's main.rs is its binary's, not a part of this one.
            let skip = (name != chapter).then_some("main.rs");
            (name.as_str() <= chapter).then(|| newest_source(&dir.path(), skip))?
        })
        .find(|(t, _)| *t > built);
    if let Some((_, source)) = newer {
        panic!(
            "{} is older than {}: run `cargo build` (cargo xtask test does)",
            bin.display(),
            source.display()
        );
    }
}

/// The most recently modified `.rs` or `.toml` file below `dir`, except files
/// named `skip`.
fn newest_source(dir: &Path, skip: Option<&str>) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_source(&path, skip)
        } else if skip.is_some_and(|s| entry.file_name() == s) {
            None
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            Some((entry.metadata().ok()?.modified().ok()?, path))
        } else {
            None
        };
        if let Some(c) = candidate.filter(|c| newest.as_ref().is_none_or(|n| c.0 > n.0)) {
            newest = Some(c);
        }
    }
    newest
}

/// The template rootfs: busybox and the probe. `TINCAN_TEST_ROOTFS` names one to
/// use as it is; otherwise it is `target/tincan-test/rootfs`, rebuilt here like the
/// chapter binaries when the probe's sources are newer (not under sudo: see
/// [`chapter_bin`]).
/// A directory of a test's own in `target/tincan-test/work`, named
/// `PREFIX-XXXXXX`. A test removes it when it ends; after a run that was
/// interrupted, `cargo xtask test` finds what the test left there on the
/// host by its prefix (`xtask/src/sweep.rs`), and takes it down.
pub fn work_dir(prefix: &str) -> tempfile::TempDir {
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tincan-test/work");
    std::fs::create_dir_all(&work).expect("create the work directory");
    // Held (shared) while this test binary runs: the sweep takes it
    // exclusively, and so never sweeps a run that is still going.
    static RUNNING: OnceLock<nix::fcntl::Flock<std::fs::File>> = OnceLock::new();
    RUNNING.get_or_init(|| {
        let lock = work.with_extension("lock");
        let file = std::fs::File::create(&lock).expect("the work directory's lock");
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockShared).expect("lock it")
    });
    let dir =
        tempfile::Builder::new().prefix(&format!("{prefix}-")).tempdir_in(work).expect("tempdir");
    note_binaries(dir.path());
    dir
}

/// Write into `dir` where this run's binaries are (target/PROFILE, from
/// target/PROFILE/deps/it-HASH), for the sweep to take down what a test
/// left there with the same.
pub fn note_binaries(dir: &Path) {
    let exe = std::env::current_exe().expect("own path");
    let binaries = exe.parent().and_then(|d| d.parent()).expect("target/PROFILE");
    std::fs::write(dir.join("binaries"), binaries.as_os_str().as_encoded_bytes())
        .expect("say which binaries");
}

/// A copy of the template rootfs at `dest` (which must not exist yet), its
/// owners, modes and links kept (`cp -a`).
pub fn copy_template_rootfs(dest: &Path) {
    let copied =
        Command::new("cp").arg("-a").arg(template_rootfs()).arg(dest).status().expect("run cp");
    assert!(copied.success(), "copy the template rootfs to {}", dest.display());
}

pub fn template_rootfs() -> PathBuf {
    static FRESH: OnceLock<PathBuf> = OnceLock::new();
    FRESH.get_or_init(fresh_template_rootfs).clone()
}

fn fresh_template_rootfs() -> PathBuf {
    if let Some(given) = std::env::var_os("TINCAN_TEST_ROOTFS").map(PathBuf::from) {
        assert!(
            given.join(PROBE).exists(),
            "TINCAN_TEST_ROOTFS={} has no {PROBE}",
            given.display()
        );
        return given;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = manifest.join("target/tincan-test/rootfs");
    let built = std::fs::metadata(path.join(PROBE)).and_then(|m| m.modified()).ok();
    let stale = newest_source(&manifest.join("probe"), None)
        .is_some_and(|(t, _)| built.is_none_or(|b| t > b));
    if !stale {
        return path;
    }
    let rebuild = format!("cargo xtask rootfs --force {}", path.display());
    assert!(
        std::env::var_os("SUDO_UID").is_none(),
        "the test rootfs is missing or older than probe/: run `{rebuild}`"
    );
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .args(["run", "--quiet", "--package", "xtask", "--", "rootfs", "--force"])
        .arg(&path)
        .status()
        .expect("run cargo");
    assert!(status.success(), "`{rebuild}` failed (see above)");
    path
}

/// A shell line that makes one SysV shared memory segment, semaphore set and
/// message queue (util-linux `ipcmk`): in a fresh IPC namespace, each gets id 0.
pub const MAKE_HOST_IPC: &str = "ipcmk -M 4096 -S 1 -Q > /dev/null";

/// Detach every mount below `dir`, deepest first, following no link: what
/// an engine left mounted in a test's directory.
pub fn unmount_under(dir: &Path) {
    let below = format!("{}/", dir.display());
    let mounts = host_mounts();
    let mut left: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&below))
        .collect();
    left.sort_unstable_by(|a, b| b.cmp(a));
    for mount in left {
        let flags = nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW;
        let _ = nix::mount::umount2(mount, flags);
    }
}

/// The host's mount table, as `/proc/self/mountinfo` lists it.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo")
}

/// The directories named `parent` (a path like `tincan-test/sandbox-x`) in any of
/// the host's cgroup hierarchies, found through the mount table as ch07 finds them.
pub fn cgroups_named(parent: &str) -> Vec<PathBuf> {
    host_mounts()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            matches!(fields.get(dash + 1), Some(&"cgroup" | &"cgroup2"))
                .then(|| Path::new(fields[4]).join(parent))
        })
        .filter(|path| path.exists())
        .collect()
}

/// The cgroups directly below `parent`, in any of the host's hierarchies:
/// what an engine's containers left under a test's parent.
pub fn cgroups_below(parent: &str) -> Vec<PathBuf> {
    cgroups_named(parent)
        .into_iter()
        .flat_map(|parent| std::fs::read_dir(parent).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// A name no one else uses, to recognise what a test made.
pub fn marker(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tincan-{what}-{}-{n}", std::process::id())
}
