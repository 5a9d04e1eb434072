//! The exercises marked in the chapters' sources.
//!
//! ```text
//! // EXERCISE(ch01-chroot): make ROOTFS the root directory, then stand in it.
//! // hint: nix::unistd::chroot, then chdir("/") ...
//! <the solution>
//! // END EXERCISE
//! ```
//!
//! The comment lines right after the marker are the hint. `cargo xtask workshop`
//! cuts the solution (up to `END EXERCISE`) into a `todo!()`; `cargo xtask check`
//! shows a failing chapter's exercises with their hints. Both read the markers
//! here, in the solution and in a learner's workspace alike (where the markers
//! and hints remain and `END EXERCISE` is gone).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::files_ending_in;

const BEGIN: &str = "// EXERCISE(";
pub const END: &str = "// END EXERCISE";

/// One exercise found in the sources.
#[derive(Debug)]
pub struct Exercise {
    /// `ch01-chroot`.
    pub id: String,
    pub task: String,
    pub file: PathBuf,
    /// The marker's line, from 1.
    pub line: usize,
    /// The hint's lines, without their `//`.
    pub hint: Vec<String>,
    /// The `END EXERCISE` line (from 1), where the solution is still there.
    pub end: Option<usize>,
    /// In a learner's workspace: the exercise is still the `todo!()` it was cut to.
    pub todo: bool,
}

impl Exercise {
    /// `ch01-chroot` → `ch01`.
    pub fn chapter(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }
}

/// The exercises in `text`, the content of `file`.
pub fn scan(text: &str, file: &Path) -> Result<Vec<Exercise>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix(BEGIN) else {
            continue;
        };
        let Some((id, task)) = rest.split_once("):") else {
            bail!("{}:{}: expected `// EXERCISE(id): task`", file.display(), n + 1)
        };
        let after = &lines[n + 1..];
        let hint: Vec<String> = after
            .iter()
            .map_while(|l| l.trim_start().strip_prefix("//"))
            .take_while(|l| l.trim() != END.trim_start_matches("//").trim())
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned())
            .collect();
        let end = after.iter().position(|l| l.trim_start() == END).map(|i| n + 2 + i);
        let todo = after.get(hint.len()).is_some_and(|l| l.trim_start().starts_with("todo!("));
        found.push(Exercise {
            id: id.to_owned(),
            task: task.trim().to_owned(),
            file: file.to_path_buf(),
            line: n + 1,
            hint,
            end,
            todo,
        });
    }
    Ok(found)
}

/// Every exercise under `root/chapters`, with paths relative to `root`.
pub fn in_workspace(root: &Path) -> Result<Vec<Exercise>> {
    let mut all = Vec::new();
    for file in files_ending_in(&root.join("chapters"), "rs")? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        all.extend(scan(&text, file.strip_prefix(root)?)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOLUTION: &str = "fn f() -> u8 {\n    // EXERCISE(ch09-x): add one.\n    // hint: use +,\n    //   the plus sign.\n    let a = 1;\n    // not a hint\n    a + 1\n    // END EXERCISE\n}\n";

    #[test]
    fn a_marker_gives_task_place_and_hint() {
        let found = scan(SOLUTION, Path::new("src/f.rs")).unwrap();
        let [e] = found.as_slice() else { panic!("{found:?}") };
        assert_eq!((e.id.as_str(), e.task.as_str(), e.chapter()), ("ch09-x", "add one.", "ch09"));
        assert_eq!((e.file.to_str(), e.line, e.end), (Some("src/f.rs"), 2, Some(8)));
        assert_eq!(e.hint, ["hint: use +,", "  the plus sign."]);
        assert!(!e.todo, "the solution is there");
    }

    #[test]
    fn in_a_learner_workspace_the_hint_ends_at_the_todo() {
        let learner = "fn f() -> u8 {\n    // EXERCISE(ch09-x): add one.\n    // hint: use +\n    todo!(\"exercise ch09-x: add one.\")\n}\n";
        let found = scan(learner, Path::new("f.rs")).unwrap();
        assert_eq!(found[0].hint, ["hint: use +"]);
        assert_eq!(found[0].end, None);
        assert!(found[0].todo);
        let solved = learner.replace("todo!(\"exercise ch09-x: add one.\")", "1 + 1");
        assert!(!scan(&solved, Path::new("f.rs")).unwrap()[0].todo);
    }

    #[test]
    fn an_exercise_without_a_hint_has_none() {
        let found = scan("// EXERCISE(ch01-a): b\n// END EXERCISE\n", Path::new("f.rs")).unwrap();
        assert!(found[0].hint.is_empty(), "{found:?}");
        assert_eq!(found[0].end, Some(2));
    }

    #[test]
    fn a_malformed_marker_is_an_error_with_its_place() {
        let err = scan("\n// EXERCISE(ch01-a) no colon\n", Path::new("f.rs")).unwrap_err();
        assert_eq!(err.to_string(), "f.rs:2: expected `// EXERCISE(id): task`");
    }
}
