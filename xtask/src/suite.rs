//! `cargo xtask test`: everything CI runs, in the order that fails fastest.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{book, check, prerequisites, rootfs, workshop, workspace_root};

pub fn run() -> Result<()> {
    prerequisites::check()?;
    cargo("formatting", &["fmt", "--all", "--", "--check"])?;
    cargo("lints", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    // The chapters' module docs are part of what a learner reads (`cargo doc --open`).
    let mut docs = Command::new(env!("CARGO"));
    docs.current_dir(workspace_root())
        .args(["doc", "--no-deps", "--workspace"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step("docs", docs)?;
    cargo("build", &["build", "--workspace"])?;
    rootfs::prepare_tests()?;
    let mut tests = check::cargo_test_command(&workspace_root(), None);
    tests.args(["--workspace"]);
    step("tests", tests)?;
    // The book's measured tables (VM vs container, start-up against runc and crun)
    // are measured on a dev machine and committed; here the measurements
    // themselves are exercised, into target/: timings are never a test's verdict.
    // Their containers need root.
    if crate::is_root() {
        crate::measure::run(1, &workspace_root().join("target/vm-vs-container.md"))?;
        crate::bench::run(3, &workspace_root().join("target/startup.md"))?;
        crate::bench_idle::run(20, &workspace_root().join("target/idle.md"))?;
        crate::bench_face::run(3, 20, &workspace_root().join("target/face.md"))?;
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!("the measurements need root; CI=true, so this is a failure, not a skip");
    } else {
        eprintln!(
            "SKIPPED vm-vs-container, bench, bench-idle and bench-face: need root (run them with sudo)"
        );
    }
    book::build()?;
    workshop::verify()?;
    eprintln!("\ncargo xtask test: everything passed");
    Ok(())
}

fn cargo(what: &str, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace_root()).args(args);
    step(what, cmd)
}

fn step(what: &str, mut cmd: Command) -> Result<()> {
    eprintln!("\n== {what}: {cmd:?}");
    if !cmd.status()?.success() {
        bail!("{what} failed (see above)");
    }
    Ok(())
}
