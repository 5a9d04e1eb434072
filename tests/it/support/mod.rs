//! What every test needs: root, a root filesystem of its own, the chapter
//! binaries, and an outer sandbox to run attacks in.

mod checks;
mod filters;
mod sandbox;

pub use filters::{HostView, normalise};
pub use sandbox::{Run, Sandbox, Sleeper};

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Tests that run a chapter directly on the host (not in a sandbox) and compare
/// the host's state before and after take this lock, so that they do not see
/// each other's containers.
pub static HOST: Mutex<()> = Mutex::new(());

/// The chapters, in order.
pub const CHAPTERS: [&str; 4] = ["ch00", "ch01", "ch02", "ch03"];

/// The probe inside every test rootfs. The path is relative on purpose: chapter 0
/// starts in ROOTFS without changing the root, later chapters start in `/`, and
/// this path names the probe in both.
pub const PROBE: &str = "usr/local/bin/tincan-probe";

/// True if the test can run. A test that needs root says so when it cannot run:
/// it skips with a message, or, under `CI=true`, fails, so that a green CI always
/// means the test ran.
#[must_use]
pub fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let why = format!("{test}: needs root (run `cargo xtask test`, which uses sudo)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}; CI=true, so this is a failure, not a skip");
    }
    // Written to the real stderr, past libtest's output capture, so it is seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {why}");
    false
}

/// The chapter binary `chNN`, built next to this test binary by `cargo build`.
pub fn chapter_bin(chapter: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    // target/debug/deps/it-HASH -> target/debug/chNN
    let bin = exe.parent().and_then(|d| d.parent()).expect("target dir").join(chapter);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// The template rootfs that `cargo xtask test` builds: busybox and the probe.
pub fn template_rootfs() -> PathBuf {
    let path = std::env::var_os("TINCAN_TEST_ROOTFS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tincan-test/rootfs")
    });
    assert!(
        path.join(PROBE).exists(),
        "no test rootfs at {}: run `cargo xtask rootfs --force {}` (cargo xtask test does)",
        path.display(),
        path.display()
    );
    path
}

/// The host's mount table, as `/proc/self/mountinfo` lists it.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo")
}

/// A name no one else uses, to recognise what a test made.
pub fn marker(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tincan-{what}-{}-{n}", std::process::id())
}
