//! `tincan`: the full runtime grows here, built from the chapters' pieces.
//! For now it tells you where the chapters are.

use std::process::ExitCode;

/// (binary, crate directory, what it adds). A test below checks that this
/// names every crate under `chapters/`, so that a new chapter is not forgotten.
const CHAPTERS: [(&str, &str, &str); 11] = [
    ("ch00", "chapters/ch00-process", ch00_process::ABOUT),
    ("ch01", "chapters/ch01-chroot", ch01_chroot::ABOUT),
    ("ch02", "chapters/ch02-pid", ch02_pid::ABOUT),
    ("ch03", "chapters/ch03-mount", ch03_mount::ABOUT),
    ("ch04", "chapters/ch04-uts", ch04_uts::ABOUT),
    ("ch05", "chapters/ch05-ipc", ch05_ipc::ABOUT),
    ("ch06", "chapters/ch06-net", ch06_net::ABOUT),
    ("ch07", "chapters/ch07-cgroups", ch07_cgroups::ABOUT),
    ("ch08", "chapters/ch08-images", ch08_images::ABOUT),
    ("ch09", "chapters/ch09-user", ch09_user::ABOUT),
    ("ch10", "chapters/ch10-harden", ch10_harden::ABOUT),
];

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("chapters") => {
            println!("tincan: a container runtime, one kernel feature at a time.\n");
            for (bin, dir, about) in CHAPTERS {
                println!("  {bin}  {about}\n        {dir}/");
            }
            let (last, ..) = CHAPTERS[CHAPTERS.len() - 1];
            println!("\nRun one: sudo target/debug/{last} run ./rootfs /bin/sh");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("tincan: unknown command {other:?}; try `tincan chapters`");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chapter_crate_is_listed_in_order() {
        let chapters = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chapters");
        let mut crates: Vec<String> = std::fs::read_dir(chapters)
            .expect("chapters/")
            .map(|entry| format!("chapters/{}", entry.unwrap().file_name().to_string_lossy()))
            .collect();
        crates.sort();
        let listed: Vec<&str> = CHAPTERS.iter().map(|(_, dir, _)| *dir).collect();
        assert_eq!(listed, crates, "CHAPTERS in src/main.rs must name every crate in chapters/");
        for (bin, dir, _) in CHAPTERS {
            assert!(dir.starts_with(&format!("chapters/{bin}-")), "{bin} is not built from {dir}");
        }
    }
}
