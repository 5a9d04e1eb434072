//! `cargo xtask workshop DIR`: a learner workspace cut from the real solution.
//!
//! Chapter sources mark the code a learner writes (see [`crate::exercise`]).
//! The generated copy keeps the comments and replaces the solution with
//! `todo!("...")`. A region is always the tail of a block (a function's body, a
//! loop's), where `todo!()` type-checks, so the workspace compiles; the
//! chapter's checks then fail until
//! the learner writes the code. There is no second copy of the exercises to keep
//! in sync: they are cut from the code the tests prove.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use crate::exercise::{self, END, Exercise};
use crate::report::{Outcome, Verdict};
use crate::{check, files_ending_in, seed, workspace_root};

/// Top-level entries of the workspace the learner gets. (Not `target`, `.git`,
/// or a rootfs: they rebuild those.)
const COPY: [&str; 12] = [
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
    "src",
    "chapters",
    "probe",
    "supervisor",
    "vm",
    "tests",
    "xtask",
    "book",
    "README.md",
];

/// Write the learner workspace; returns its exercises.
pub fn generate(src: &Path, out: &Path) -> Result<Vec<Exercise>> {
    ensure!(!out.exists(), "{} already exists; choose a new directory", out.display());
    fs::create_dir_all(out)?;
    for entry in COPY {
        copy_tree(&src.join(entry), &out.join(entry))?;
    }
    let mut exercises = Vec::new();
    for file in files_ending_in(&out.join("chapters"), "rs")? {
        let text = fs::read_to_string(&file)?;
        let rel = file.strip_prefix(out)?;
        let (cut, found) =
            cut_exercises(&text, rel).with_context(|| format!("in {}", file.display()))?;
        if !found.is_empty() {
            fs::write(&file, cut)?;
        }
        exercises.extend(found);
    }
    fs::write(out.join("EXERCISES.md"), exercise_list(&exercises))?;
    Ok(exercises)
}

/// Replace each marked region's code in `text` (the content of `file`) with
/// `todo!()`, keeping the marker and the hint. Returns the new text and the
/// exercises.
pub fn cut_exercises(text: &str, file: &Path) -> Result<(String, Vec<Exercise>)> {
    let found = exercise::scan(text, file)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut copy = |lines: &[&str]| lines.iter().for_each(|l| out.extend([*l, "\n"]));
    let mut next = 0; // the first line (from 0) not yet copied or dropped
    for e in &found {
        let Some(end) = e.end else { bail!("line {}: exercise {} has no `{END}`", e.line, e.id) };
        ensure!(e.line > next, "line {}: exercise {} starts inside the one before", e.line, e.id);
        let marker = lines[e.line - 1];
        copy(&lines[next..e.line + e.hint.len()]);
        let indent = &marker[..marker.len() - marker.trim_start().len()];
        let todo = format!("{indent}todo!({:?})", format!("exercise {}: {}", e.id, e.task));
        copy(&[&todo]);
        next = end; // past the END line
    }
    copy(&lines[next..]);
    Ok((out, found))
}

fn exercise_list(exercises: &[Exercise]) -> String {
    let mut md = String::from(
        "# Exercises\n\nEach exercise is a `todo!()` in a chapter's source. Write the code, then run\n\
         `cargo xtask check chNN` to see what works. The book explains each chapter.\n\n",
    );
    for e in exercises {
        let chapter = e.chapter();
        md.push_str(&format!(
            "- **{}** ({}:{}): {}  \n  check: `cargo xtask check {chapter}`\n",
            e.id,
            e.file.display(),
            e.line,
            e.task
        ));
    }
    md
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.is_dir() {
        if from.file_name().is_some_and(|n| n == "build" || n == "target") {
            return Ok(()); // build output (book/build), never sources
        }
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if !from.extension().is_some_and(|e| e == "new" || e == "pending-snap") {
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

/// Checks left out where an exercise is missing, because they take long there:
/// the VM checks boot a VM each (one waits 15 s for its timeout by design), and
/// the rootless checks make a user each and wait for their clients. Such
/// a chapter's checks need only to fail, which its other checks show at once;
/// where nothing is missing, every check runs, so both sides stay proven.
const SLOW_WHERE_CODE_IS_MISSING: [&str; 5] =
    ["ch07_v2::", "ch10_v2::", "escape_vm::", "on_the_vm_s_tmpfs", "ch09_rootless::"];

/// CI's both-sides check: the learner workspace compiles, and for every chapter
/// the checks fail exactly where an exercise is missing. (That the solution passes
/// is the normal test run.) Quiet: one line per chapter, and cargo's output only
/// when something is not as expected.
pub fn verify() -> Result<()> {
    let started = std::time::Instant::now();
    let root = workspace_root();
    let out = root.join("target/workshop/workspace");
    let _ = fs::remove_dir_all(&out);
    let exercises = generate(&root, &out)?;
    ensure!(!exercises.is_empty(), "no exercises are marked in chapters/");
    let target_dir = root.join("target/workshop/target");
    seed::seed(&root, &root.join("target"), &target_dir)?;
    // A chapter builds on the ones before it, so its checks must fail if it or
    // any earlier chapter has a missing exercise, and pass otherwise.
    let missing = |chapter: &str| -> Vec<&str> {
        let before = exercises.iter().filter(|e| e.chapter() <= chapter);
        before.map(|e| e.id.as_str()).collect()
    };
    let chapters = check::chapters(&root)?;
    let (complete, incomplete): (Vec<String>, Vec<String>) =
        chapters.iter().cloned().partition(|c| missing(c).is_empty());
    eprintln!(
        "workshop: a learner workspace with {} exercises cut out ({}): building it and running \
         each chapter's checks (where code is missing, without the slow ones: {})",
        exercises.len(),
        out.display(),
        SLOW_WHERE_CODE_IS_MISSING.join(", ")
    );
    check::build(&out, &chapters, Some(&target_dir))?;
    // The VM lab's stages lean on later chapters (its arp-spoof victim sits on
    // chapter 6's bridge), so they are the main run's, never a complete
    // chapter's own checks in a workspace where later chapters are missing.
    let mut by_chapter = check::run_checks(&out, &complete, &["escape_vm::"], Some(&target_dir))?;
    let slow = &SLOW_WHERE_CODE_IS_MISSING;
    by_chapter.extend(check::run_checks(&out, &incomplete, slow, Some(&target_dir))?);
    let mut wrong = 0;
    for chapter in &chapters {
        let outcomes = by_chapter.remove(chapter).unwrap_or_default();
        match judge(chapter, &outcomes, &missing(chapter)) {
            Ok(line) => eprintln!("workshop: {line}"),
            Err(problem) => {
                eprintln!("workshop: {problem}");
                wrong += 1;
            }
        }
    }
    ensure!(wrong == 0, "workshop: {wrong} chapters' checks do not match their exercises (above)");
    eprintln!(
        "workshop: the workspace compiles and its checks fail exactly where code is missing \
         ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One line on a chapter's checks, given the exercises `missing` in it and the
/// chapters before it: `Ok` if they fail exactly when some are missing, `Err`
/// (with what went wrong) otherwise.
fn judge(chapter: &str, outcomes: &[Outcome], missing: &[&str]) -> Result<String, String> {
    let failures: Vec<&Outcome> =
        outcomes.iter().filter(|o| o.verdict == Verdict::Failed).collect();
    let skipped = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Skipped(_))).count();
    let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
    let total = outcomes.len();
    match (failures.is_empty(), missing.is_empty()) {
        (true, true) => Ok(format!("{chapter}: all {total} checks pass{skipped}, as expected")),
        (false, false) => Ok(format!(
            "{chapter}: {} of {total} checks fail{skipped}, as expected: {}",
            failures.len(),
            are_missing(missing)
        )),
        (true, false) => Err(format!(
            "{chapter}: all {total} checks pass{skipped}, although {}: its checks do not test \
             that code",
            are_missing(missing)
        )),
        (false, true) => {
            let mut text = format!(
                "{chapter}: {} of {total} checks fail, although no exercise is missing:",
                failures.len()
            );
            for failure in failures {
                text.push_str(&format!("\n  ✗ {}\n{}", failure.name, failure.details));
            }
            Err(text)
        }
    }
}

/// "exercise ch01-chroot is missing", "exercises ch01-chroot, ch02-pid are missing".
fn are_missing(exercises: &[&str]) -> String {
    match exercises {
        [one] => format!("exercise {one} is missing"),
        more => format!("exercises {} are missing", more.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new crate in the workspace must reach the learner too, or their
    /// workspace does not build.
    #[test]
    fn every_workspace_member_is_copied() {
        let manifest = fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        let members = manifest.lines().find_map(|l| l.strip_prefix("members = ")).unwrap();
        for member in members.trim_matches(['[', ']']).split(',') {
            let member = member.trim().trim_matches('"');
            let top = member.split('/').next().unwrap();
            assert!(COPY.contains(&top), "{member} is a workspace member; COPY lacks {top}");
        }
    }

    #[test]
    fn a_region_becomes_its_hint_and_todo() {
        let src = "fn f() -> u8 {\n    // EXERCISE(ch09-x): add one.\n    // hint: use +\n    let a = 1;\n    a + 1\n    // END EXERCISE\n}\n";
        let (cut, found) = cut_exercises(src, Path::new("f.rs")).unwrap();
        assert_eq!(
            cut,
            "fn f() -> u8 {\n    // EXERCISE(ch09-x): add one.\n    // hint: use +\n    todo!(\"exercise ch09-x: add one.\")\n}\n"
        );
        let e = &found[0];
        assert_eq!(
            (e.id.as_str(), e.task.as_str(), e.line, e.chapter()),
            ("ch09-x", "add one.", 2, "ch09")
        );
    }

    fn outcome(name: &str, verdict: Verdict) -> Outcome {
        Outcome { name: name.to_owned(), verdict, details: "boom\n".to_owned() }
    }

    #[test]
    fn a_chapter_s_checks_must_fail_exactly_when_code_is_missing() {
        let all_pass = [outcome("ch00::a", Verdict::Passed), outcome("ch00::b", Verdict::Passed)];
        let one_fails = [outcome("ch03::a", Verdict::Failed), outcome("ch03::b", Verdict::Passed)];
        let missing = ["ch01-chroot", "ch03-mount"];
        assert_eq!(judge("ch00", &all_pass, &[]).unwrap(), "ch00: all 2 checks pass, as expected");
        assert_eq!(
            judge("ch03", &one_fails, &missing).unwrap(),
            "ch03: 1 of 2 checks fail, as expected: exercises ch01-chroot, ch03-mount are missing"
        );
        let untested = judge("ch03", &all_pass, &missing).unwrap_err();
        assert!(untested.contains("although exercises ch01-chroot, ch03-mount are missing"));
        let one = judge("ch01", &one_fails, &["ch01-chroot"]).unwrap();
        assert!(one.ends_with("as expected: exercise ch01-chroot is missing"), "{one}");
        let broken = judge("ch00", &one_fails, &[]).unwrap_err();
        assert_eq!(
            broken,
            "ch00: 1 of 2 checks fail, although no exercise is missing:\n  ✗ ch03::a\nboom\n"
        );
    }

    #[test]
    fn a_skipped_check_is_counted_apart() {
        let skipped = [outcome("ch07::a", Verdict::Skipped("needs root".to_owned()))];
        assert_eq!(
            judge("ch00", &skipped, &[]).unwrap(),
            "ch00: all 1 checks pass (1 skipped), as expected"
        );
    }

    #[test]
    fn an_unclosed_region_is_an_error() {
        let err = cut_exercises("// EXERCISE(a): b\ncode\n", Path::new("f.rs")).unwrap_err();
        assert!(err.to_string().contains("has no `// END EXERCISE`"), "{err}");
    }
}
