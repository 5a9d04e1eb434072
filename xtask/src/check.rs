//! `cargo xtask check chNN`: a chapter's checks, explained test by test.
//!
//! A chapter's checks are its crate's unit tests plus every workspace test whose
//! name holds the chapter (`ch02::...`, `escape_lab::ch02::...`, `snapshot::ch02`).
//! We run them with cargo and turn libtest's output into a checklist. A test
//! that could not run here (no root, no qemu) says so on stderr
//! (`tests/it/support/skip.rs`), and shows as skipped, never as passed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::report::{self, Outcome, Verdict};
use crate::{exercise, is_root, rootfs, workspace_root};

pub fn run(chapter: &str) -> Result<()> {
    let root = workspace_root();
    rootfs::prepare_tests()?;
    eprintln!("check: building, then running {chapter}'s checks");
    let mut by_chapter = run_checks(&root, &[chapter.to_owned()], &[], None)?;
    let mut outcomes = by_chapter.remove(chapter).unwrap_or_default();
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    let count = |f: fn(&Verdict) -> bool| outcomes.iter().filter(|o| f(&o.verdict)).count();
    let failed = count(|v| matches!(v, Verdict::Failed));
    let skipped = count(|v| matches!(v, Verdict::Skipped(_)));
    let passed = outcomes.len() - failed - skipped;
    println!("\n{chapter}: what works");
    let mut first_failure = true;
    for o in &outcomes {
        match &o.verdict {
            Verdict::Passed => println!("  ✓ {}", o.name),
            Verdict::Skipped(why) => println!("  - {} (skipped: {why})", o.name),
            Verdict::Failed => {
                println!("  ✗ {}", o.name);
                // The first failure in full; for the others, the line that says what failed.
                let lines =
                    o.details.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("note: "));
                let shown: Vec<&str> = if first_failure {
                    lines.take(20).collect()
                } else {
                    lines.skip(1).take(1).collect()
                };
                for line in shown {
                    println!("        {line}");
                }
                first_failure = false;
            }
        }
    }
    let skipped_note = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
    println!("\n{passed} of {} checks pass{skipped_note}.", outcomes.len());
    if failed > 0 {
        print_exercises(&root, chapter)?;
        bail!("{failed} {chapter} checks fail: read the first one above, fix it, run again");
    }
    if skipped > 0 {
        println!("The skipped checks did not run here: each says what it needs.");
    } else {
        println!("{chapter} is done. Read the next chapter of the book!");
    }
    Ok(())
}

/// What the learner writes in `chapter`: each exercise's task, place and hint;
/// and the exercises of earlier chapters that are still `todo!()`, since this
/// one builds on them.
fn print_exercises(root: &Path, chapter: &str) -> Result<()> {
    let exercises = exercise::in_workspace(root)?;
    let mine: Vec<_> = exercises.iter().filter(|e| e.chapter() == chapter).collect();
    if !mine.is_empty() {
        println!("\nThe exercises of {chapter} (the book's chapter explains them):");
    }
    for e in mine {
        println!("  {}: {}\n    {}:{}", e.id, e.task, e.file.display(), e.line);
        for line in &e.hint {
            println!("    {line}");
        }
    }
    let earlier: Vec<_> = exercises.iter().filter(|e| e.todo && e.chapter() < chapter).collect();
    if !earlier.is_empty() {
        println!();
    }
    for e in earlier {
        println!(
            "{chapter} builds on {}, whose exercise {} ({}:{}) is still todo!(): \
             `cargo xtask check {}` first",
            e.chapter(),
            e.id,
            e.file.display(),
            e.line,
            e.chapter()
        );
    }
    Ok(())
}

/// Run the checks of `chapters` in the workspace at `root`, each test once, and
/// sort the outcomes by chapter. Cargo's own output is shown only if it fails
/// before the tests report (the workspace does not build). Workspace tests whose
/// names contain one of `skip` are left out. `target_dir` lets the workshop
/// verification build the learner's workspace apart from ours.
pub fn run_checks(
    root: &Path,
    chapters: &[String],
    skip: &[&str],
    target_dir: Option<&Path>,
) -> Result<BTreeMap<String, Vec<Outcome>>> {
    if chapters.is_empty() {
        return Ok(BTreeMap::new()); // (no --package would test them all)
    }
    let crates = chapter_crates_of(root, chapters)?;
    build(root, chapters, target_dir)?;
    // Two runs: a filter would also apply to the unit tests, whose names do not
    // carry their chapter. `--no-fail-fast`: a failing binary must not hide the
    // outcomes of the next.
    let mut units = cargo_test_command(root, target_dir);
    units.arg("--no-fail-fast");
    for (_, krate) in &crates {
        units.args(["--package", krate]);
    }
    units.args(["--lib", "--", "--color", "never"]);
    let mut workspace = cargo_test_command(root, target_dir);
    workspace.args(["--no-fail-fast", "--package", "tincan", "--test", "it"]);
    workspace.args(["--", "--color", "never"]).args(chapters);
    for name in skip {
        workspace.args(["--skip", name]);
    }

    let mut by_chapter: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for binary in report::run(units)?.into_iter().chain(report::run(workspace)?) {
        for (chapter, krate) in &crates {
            let checks = by_chapter.entry(chapter.clone()).or_default();
            if binary.name == krate.replace('-', "_") {
                checks.extend(binary.outcomes.iter().cloned());
            } else if binary.name == "it" {
                let named = binary.outcomes.iter().filter(|o| o.name.contains(chapter.as_str()));
                checks.extend(named.cloned());
            }
        }
    }
    for (chapter, checks) in &by_chapter {
        if checks.is_empty() {
            bail!("no checks found for {chapter}");
        }
    }
    Ok(by_chapter)
}

/// Build what the checks of `chapters` run: the chapter binaries (the workspace
/// tests run them), then every test binary in one cargo run, so that cargo
/// compiles them side by side. A no-op when all is fresh.
pub fn build(root: &Path, chapters: &[String], target_dir: Option<&Path>) -> Result<()> {
    let mut bins = Command::new(env!("CARGO"));
    bins.current_dir(root).args(["build", "--quiet"]);
    if let Some(dir) = target_dir {
        bins.env("CARGO_TARGET_DIR", dir);
    }
    let mut tests = cargo_test_command(root, target_dir);
    tests.args(["--no-run", "--quiet"]);
    for (_, krate) in chapter_crates_of(root, chapters)? {
        tests.args(["--package", &krate]);
    }
    tests.args(["--lib", "--package", "tincan", "--test", "it"]);
    for mut cargo in [bins, tests] {
        let output = cargo.output().with_context(|| format!("running {cargo:?}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("the workspace does not build ({cargo:?}):\n{stderr}");
        }
    }
    Ok(())
}

/// `(chapter, its crate)` for each of `chapters`: `("ch02", "ch02-pid")`.
fn chapter_crates_of(root: &Path, chapters: &[String]) -> Result<Vec<(String, String)>> {
    chapters.iter().map(|chapter| Ok((chapter.clone(), chapter_crate(root, chapter)?))).collect()
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
    // One copy of the VM's kernel (and qemu), also for a workshop's workspace.
    cmd.env("TINCAN_VM_CACHE", crate::vm::cache_dir());
    cmd
}
