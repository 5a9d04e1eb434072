//! `cargo xtask`: the project's tasks, in Rust so that they run wherever cargo does.
//!
//! Run `cargo xtask --help` for the list. The two a newcomer needs:
//! `cargo xtask quickstart` (from clone to a shell in a container) and
//! `cargo xtask test` (everything CI runs).

mod book;
mod check;
mod probe;
mod quickstart;
mod rootfs;
mod suite;
mod workshop;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tincan's tasks: set-up, tests, book, workshop")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// From a fresh clone to a shell in your first container: installs what is
    /// missing (busybox-static), builds, makes ./rootfs and runs `ch03 run ./rootfs`.
    Quickstart,
    /// Build a busybox root filesystem at DIR, offline, from the host's busybox-static.
    Rootfs {
        /// Where to create it (for example ./rootfs).
        dir: PathBuf,
        /// Replace DIR if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Everything CI runs: fmt, clippy, unit and integration tests (as root), the
    /// book with its link check, and the workshop's both-sides check.
    Test,
    /// Run one chapter's checks and say, test by test, what works.
    Check {
        /// The chapter: ch00, ch01, ... (the directories under chapters/).
        chapter: String,
    },
    /// Build the book into target/book and check its links and includes.
    Book,
    /// Write a learner workspace to DIR where the exercises are `todo!()`.
    Workshop {
        /// Where to write it (must not exist).
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Quickstart => quickstart::run(),
        Task::Rootfs { dir, force } => rootfs::build(&dir, force),
        Task::Test => suite::run(),
        Task::Check { chapter } => check::run(&chapter),
        Task::Book => book::build().map(|_| ()),
        Task::Workshop { dir } => workshop::generate(&workspace_root(), &dir).map(|exercises| {
            let n = exercises.len();
            eprintln!("wrote {} with {n} exercises (see its EXERCISES.md)", dir.display());
        }),
    }
}

/// The workspace's top directory (xtask lives one below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the workspace").to_path_buf()
}

/// The files below `dir` whose names end in `.ext`, sorted.
pub fn files_ending_in(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_ending_in(&path, ext)?);
        } else if path.extension().is_some_and(|e| e == ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Are we root? Namespaces, mounts and cgroups need it.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
