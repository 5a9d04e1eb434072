//! Promises about the workspace itself, which need no root: the README keeps up
//! with the chapters that exist. (`tincan chapters` is checked by its own unit
//! test, in `src/main.rs`.)

use std::path::Path;

/// The chapters, from the crates under `chapters/`: `ch00`, `ch01`, ...
fn chapters() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("chapters");
    let mut chapters: Vec<String> = std::fs::read_dir(dir)
        .expect("chapters/")
        .map(|e| e.unwrap().file_name().to_string_lossy().get(..4).unwrap().to_owned())
        .collect();
    chapters.sort();
    chapters
}

#[test]
fn the_readme_names_every_chapter_and_its_scope_reaches_the_last() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let chapters = chapters();
    for chapter in &chapters {
        let named = regex::Regex::new(&format!(r"\b{chapter}\b")).unwrap();
        assert!(named.is_match(&readme), "README.md never names {chapter}, which exists");
    }
    // "Chapters 0–7 are here": wherever the README says how far the lab goes.
    let last: u32 = chapters.last().expect("a chapter")[2..].parse().expect("chNN");
    let ranges: Vec<u32> = regex::Regex::new(r"[Cc]hapters 0–(\d+)")
        .unwrap()
        .captures_iter(&readme)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(!ranges.is_empty(), "README.md no longer says which chapters exist (`chapters 0–N`)");
    if let Some(wrong) = ranges.iter().find(|n| **n != last) {
        panic!("README.md says \"chapters 0–{wrong}\", but chapters/ goes up to ch{last:02}");
    }
}
