//! `cargo xtask book`: build the book with mdBook (as a library: nothing to
//! install) into `target/book`, after checking what mdBook only warns about.
//!
//! mdBook logs a broken `{{#include}}` and carries on, and does not check links
//! at all. So before building we check every page of `book/src`:
//!
//! - each relative link points to a file that exists;
//! - each `{{#include path:anchor}}` names a file that exists and an anchor in it
//!   (`ANCHOR: name`), so the book never shows an empty listing;
//! - each included `.snap` file starts after insta's header, so the book shows the
//!   snapshot, not its metadata.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use regex::Regex;

use crate::{files_ending_in, workspace_root};

pub fn build() -> Result<PathBuf> {
    let book = workspace_root().join("book");
    let problems = check(&book.join("src"))?;
    if !problems.is_empty() {
        bail!("the book has {} problems:\n  {}", problems.len(), problems.join("\n  "));
    }
    let md = mdbook_driver::MDBook::load(&book)?;
    md.build()?;
    let out = md.build_dir_for("html").canonicalize()?;
    eprintln!("book: built into {} (open index.html)", out.display());
    Ok(out)
}

/// Every problem found in the Markdown under `src`, as "file: what".
fn check(src: &Path) -> Result<Vec<String>> {
    let link = Regex::new(r"\]\(([^)\s]+)\)")?;
    let include = Regex::new(r"\{\{#(?:include|rustdoc_include) ([^}\s]+)\s*\}\}")?;
    let mut problems = Vec::new();
    for page in files_ending_in(src, "md")? {
        let text = fs::read_to_string(&page)?;
        let dir = page.parent().expect("a page is in a directory");
        let name = page.strip_prefix(src).unwrap_or(&page).display().to_string();
        for target in link.captures_iter(&text).map(|c| c[1].to_owned()) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            if !dir.join(file).exists() {
                problems.push(format!("{name}: broken link {target}"));
            }
        }
        for spec in include.captures_iter(&text).map(|c| c[1].to_owned()) {
            if let Err(e) = check_include(dir, &spec) {
                problems.push(format!("{name}: {{{{#include {spec}}}}}: {e}"));
            }
        }
    }
    Ok(problems)
}

fn check_include(dir: &Path, spec: &str) -> Result<()> {
    let mut parts = spec.splitn(2, ':');
    let path = dir.join(parts.next().unwrap_or_default());
    let selector = parts.next();
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    match selector {
        None => {
            if path.extension().is_some_and(|e| e == "snap") {
                bail!("a .snap file must be included from the line after its header");
            }
        }
        Some(range) if range.starts_with(|c: char| c.is_ascii_digit()) => {
            if path.extension().is_some_and(|e| e == "snap") {
                let first: usize = range.split(':').next().unwrap_or_default().parse()?;
                let body = snapshot_body_line(&text).context("no insta header (---) found")?;
                if first != body {
                    bail!("the snapshot's content starts at line {body}, not {first}");
                }
            }
        }
        Some(anchor) => {
            if !text.contains(&format!("ANCHOR: {anchor}"))
                || !text.contains(&format!("ANCHOR_END: {anchor}"))
            {
                bail!("no ANCHOR: {anchor} / ANCHOR_END: {anchor} in {}", path.display());
            }
        }
    }
    Ok(())
}

/// The 1-based line where an insta snapshot's content starts: after the second `---`.
fn snapshot_body_line(text: &str) -> Option<usize> {
    let mut dashes = text.lines().enumerate().filter(|(_, l)| *l == "---");
    dashes.next()?;
    dashes.next().map(|(i, _)| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_broken_links_missing_anchors_and_snapshot_headers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        fs::write(dir.join("code.rs"), "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n")
            .unwrap();
        fs::write(dir.join("a.snap"), "---\nsource: x\n---\nbody\n").unwrap();
        fs::write(
            dir.join("page.md"),
            "[ok](code.rs) [bad](nope.md) [web](https://x.org)\n\
             {{#include code.rs:here}} {{#include code.rs:gone}}\n\
             {{#include a.snap:4:}} {{#include a.snap:2:}} {{#include a.snap}}\n",
        )
        .unwrap();
        let problems = check(&dir).unwrap();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("broken link nope.md"));
        assert!(problems[1].contains("no ANCHOR: gone"));
        assert!(problems[2].contains("starts at line 4, not 2"));
        assert!(problems[3].contains("from the line after its header"));
    }
}
