//! `cargo xtask workshop DIR`: a learner workspace cut from the real solution.
//!
//! Chapter sources mark the code a learner writes (see [`crate::exercise`]).
//! The generated copy keeps the comments and replaces the solution with
//! `todo!("...")`. A region is always the tail of a function body, so `todo!()`
//! type-checks and the workspace compiles; the chapter's checks then fail until
//! the learner writes the code. There is no second copy of the exercises to keep
//! in sync: they are cut from the code the tests prove.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use crate::exercise::{self, END, Exercise};
use crate::report::Verdict;
use crate::{check, files_ending_in, workspace_root};

/// Top-level entries of the workspace the learner gets. (Not `target`, `.git`,
/// or a rootfs: they rebuild those.)
const COPY: [&str; 11] = [
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
    "src",
    "chapters",
    "probe",
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

/// CI's both-sides check: the learner workspace compiles, and for every chapter
/// the checks fail exactly where an exercise is missing. (That the solution passes
/// is the normal test run.)
pub fn verify() -> Result<()> {
    let root = workspace_root();
    let out = root.join("target/workshop/workspace");
    let _ = fs::remove_dir_all(&out);
    let exercises = generate(&root, &out)?;
    ensure!(!exercises.is_empty(), "no exercises are marked in chapters/");
    let target_dir = root.join("target/workshop/target");
    for chapter in check::chapters(&root)? {
        // A chapter builds on the ones before it, so its checks must fail if it or
        // any earlier chapter has a missing exercise, and pass otherwise.
        let incomplete = exercises.iter().any(|e| e.chapter() <= chapter.as_str());
        let mut by_chapter =
            check::run_checks(&out, std::slice::from_ref(&chapter), &[], Some(&target_dir))?;
        let outcomes = by_chapter.remove(&chapter).unwrap_or_default();
        let failed = outcomes.iter().filter(|o| o.verdict == Verdict::Failed).count();
        eprintln!("workshop: {chapter}: {failed} of {} checks fail", outcomes.len());
        if incomplete {
            ensure!(failed > 0, "workshop {chapter}: every check passes although code is missing");
        } else {
            ensure!(failed == 0, "workshop {chapter}: checks fail although nothing is missing");
        }
    }
    eprintln!(
        "workshop: {} exercises; the workspace compiles and its checks fail where code is missing",
        exercises.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_unclosed_region_is_an_error() {
        let err = cut_exercises("// EXERCISE(a): b\ncode\n", Path::new("f.rs")).unwrap_err();
        assert!(err.to_string().contains("has no `// END EXERCISE`"), "{err}");
    }
}
