//! `cargo xtask workshop DIR`: a learner workspace cut from the real solution.
//!
//! Chapter sources mark the code a learner writes:
//!
//! ```text
//! // EXERCISE(ch01-chroot): make ROOTFS the root directory, then stand in it.
//! // hint: nix::unistd::chroot, then chdir("/") ...
//! <the solution>
//! // END EXERCISE
//! ```
//!
//! The generated copy keeps the comments and replaces the solution with
//! `todo!("...")`. A region is always the tail of a function body, so `todo!()`
//! type-checks and the workspace compiles; the chapter's checks then fail until
//! the learner writes the code. There is no second copy of the exercises to keep
//! in sync: they are cut from the code the tests prove.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

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

const BEGIN: &str = "// EXERCISE(";
const END: &str = "// END EXERCISE";

/// One exercise found in the sources.
#[derive(Debug)]
pub struct Exercise {
    pub id: String,
    pub task: String,
    pub file: PathBuf,
    pub line: usize,
}

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

impl Exercise {
    /// `ch01-chroot` → `ch01`.
    pub fn chapter(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }
}

/// Replace each marked region's code in `text` (the content of `file`) with
/// `todo!()`. Returns the new text and the exercises.
pub fn cut_exercises(text: &str, file: &Path) -> Result<(String, Vec<Exercise>)> {
    let mut out = String::new();
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let Some(rest) = line.trim_start().strip_prefix(BEGIN) else {
            continue;
        };
        let Some((id, task)) = rest.split_once("):") else {
            bail!("line {}: expected `// EXERCISE(id): task`", n + 1)
        };
        let indent = &line[..line.len() - line.trim_start().len()];
        // Keep the comment lines that follow (the hint); drop the code up to END.
        let mut closed = false;
        let mut in_hint = true;
        for (_, body) in lines.by_ref() {
            if body.trim_start() == END {
                closed = true;
                break;
            }
            in_hint &= body.trim_start().starts_with("//");
            if in_hint {
                out.push_str(body);
                out.push('\n');
            }
        }
        ensure!(closed, "line {}: exercise {id} has no `{END}`", n + 1);
        let task = task.trim().to_owned();
        out.push_str(&format!("{indent}todo!({:?})\n", format!("exercise {id}: {task}")));
        found.push(Exercise { id: id.to_owned(), task, file: file.to_path_buf(), line: n + 1 });
    }
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
