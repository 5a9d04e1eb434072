//! `cargo xtask check chNN`: a chapter's checks, explained test by test.
//!
//! A chapter's checks are its crate's unit tests plus every workspace test whose
//! name holds the chapter (`ch02::...`, `escape_lab::ch02::...`, `snapshot::ch02`).
//! We run them with cargo and turn libtest's output into a checklist.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{is_root, rootfs, workspace_root};

/// The outcome of one test.
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    /// What the test printed when it failed (its panic message).
    pub details: String,
}

pub fn run(chapter: &str) -> Result<()> {
    rootfs::prepare_tests()?;
    let mut outcomes = run_checks(&workspace_root(), chapter, None)?;
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!("\n{chapter}: what works");
    let mut first_failure = true;
    for o in &outcomes {
        println!("  {} {}", if o.passed { "✓" } else { "✗" }, o.name);
        if o.passed {
            continue;
        }
        // The first failure in full; for the others, the line that says what failed.
        let lines = o.details.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("note: "));
        let shown: Vec<&str> =
            if first_failure { lines.take(20).collect() } else { lines.skip(1).take(1).collect() };
        for line in shown {
            println!("        {line}");
        }
        first_failure = false;
    }
    println!("\n{} of {} checks pass.", outcomes.len() - failed, outcomes.len());
    if failed > 0 {
        bail!("{failed} {chapter} checks fail: read the first one above, fix it, run again");
    }
    println!("{chapter} is done. Read the next chapter of the book!");
    Ok(())
}

/// Run `chapter`'s checks in the workspace at `root`. `target_dir` lets the
/// workshop verification build the learner's workspace apart from ours.
pub fn run_checks(root: &Path, chapter: &str, target_dir: Option<&Path>) -> Result<Vec<Outcome>> {
    let krate = chapter_crate(root, chapter)?;
    // The workspace tests run the chapter binaries: build them all first.
    let mut build = Command::new(env!("CARGO"));
    build.current_dir(root).arg("build");
    if let Some(dir) = target_dir {
        build.env("CARGO_TARGET_DIR", dir);
    }
    if !build.status().context("running cargo build")?.success() {
        bail!("the workspace does not build (see above)");
    }
    let mut outcomes = cargo_test(root, &["--package", &krate, "--lib"], None, target_dir)?;
    outcomes.extend(cargo_test(
        root,
        &["--package", "tincan", "--test", "it"],
        Some(chapter),
        target_dir,
    )?);
    if outcomes.is_empty() {
        bail!("no checks found for {chapter}");
    }
    Ok(outcomes)
}

/// The chapter crates' directory names, in order: `ch00-process`, `ch01-chroot`, ...
fn chapter_crates(root: &Path) -> Result<Vec<String>> {
    let dirs = std::fs::read_dir(root.join("chapters")).context("reading chapters/")?;
    let mut names: Vec<String> =
        dirs.filter_map(|d| Some(d.ok()?.file_name().to_str()?.to_owned())).collect();
    names.sort();
    Ok(names)
}

/// The chapters, in order: `ch00`, `ch01`, ...
pub fn chapters(root: &Path) -> Result<Vec<String>> {
    Ok(chapter_crates(root)?.iter().filter_map(|n| Some(n.split('-').next()?.to_owned())).collect())
}

/// `ch02` → `ch02-pid`.
fn chapter_crate(root: &Path, chapter: &str) -> Result<String> {
    let names = chapter_crates(root)?;
    match names.iter().find(|n| n.split('-').next() == Some(chapter)) {
        Some(name) => Ok(name.clone()),
        None => bail!("no chapter {chapter:?}; there are: {}", names.join(", ")),
    }
}

/// `cargo test` for the workspace at `root`, set up to run the tests as root:
/// through `sudo -E` when we are not root ourselves (the build stays yours), with
/// the test rootfs that `cargo xtask rootfs` made and the VM's cached kernel.
pub fn cargo_test_command(root: &Path, target_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root).arg("test");
    if !is_root() {
        cmd.args(["--config", "target.'cfg(target_os = \"linux\")'.runner = ['sudo', '-E']"]);
    }
    if let Some(dir) = target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    cmd.env("TINCAN_TEST_ROOTFS", rootfs::test_rootfs());
    // One copy of the VM's kernel, also for a workshop's workspace.
    cmd.env("TINCAN_VM_CACHE", crate::vm::cache_dir());
    cmd
}

/// Run `cargo test ARGS [-- FILTER]` and parse libtest's report.
fn cargo_test(
    root: &Path,
    args: &[&str],
    filter: Option<&str>,
    target_dir: Option<&Path>,
) -> Result<Vec<Outcome>> {
    let mut cmd = cargo_test_command(root, target_dir);
    cmd.args(args).args(["--", "--color", "never"]).args(filter);
    // Compiler errors go straight to the terminal; the test report is parsed.
    let output = cmd.stderr(Stdio::inherit()).output().context("running cargo test")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcomes = parse(&stdout);
    if !output.status.success() && outcomes.iter().all(|o| o.passed) {
        bail!("cargo test {} failed before running the checks (see above)", args.join(" "));
    }
    Ok(outcomes)
}

/// Parse libtest's human output: `test NAME ... ok|FAILED` lines, then the
/// `---- NAME stdout ----` blocks of the failures.
fn parse(stdout: &str) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.rsplit_once(" ... ")?;
            let passed = match result {
                "ok" => true,
                "FAILED" => false,
                _ => return None, // ignored, or a line that only looks like ours
            };
            Some(Outcome { name: name.to_owned(), passed, details: String::new() })
        })
        .collect();
    let mut current: Option<usize> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----"))
        {
            current = outcomes.iter().position(|o| o.name == name);
        } else if line == "failures:" || line.starts_with("test result:") {
            current = None;
        } else if let Some(i) = current {
            outcomes[i].details.push_str(line);
            outcomes[i].details.push('\n');
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passes_failures_and_their_messages() {
        let out = "running 3 tests\ntest a::ch01 ... ok\ntest b::ch01 ... FAILED\ntest c ... ignored\n\n\
                   failures:\n\n---- b::ch01 stdout ----\nthread panicked at x.rs:1:\nboom\n\n\
                   failures:\n    b::ch01\n\ntest result: FAILED. 1 passed; 1 failed\n";
        let outcomes = parse(out);
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes[0].passed);
        assert!(!outcomes[1].passed);
        assert!(outcomes[1].details.contains("boom"));
    }
}
