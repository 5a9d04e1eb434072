//! `tincan`: the runtime the chapters build, with the command line of runc,
//! which container engines (podman, containerd) drive: `create`, `start`,
//! `state`, `kill`, `delete`. `tincan chapters` lists the chapters.

mod bundle;
mod commands;
mod gate;
mod lifecycle;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Parser)]
#[command(
    name = "tincan",
    version,
    about = "an OCI container runtime, built one kernel feature at a time"
)]
struct Cli {
    /// Where containers' state lives.
    #[arg(long, global = true, default_value = store::DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set a container up from its bundle, and leave it waiting for `start`.
    Create {
        /// The bundle: a directory with config.json and the root file system.
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Write the container's PID here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Create and start a container, wait for its command, delete it; exit
    /// with the command's status.
    Run {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Let a created container run its command.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's process.
    Kill {
        id: String,
        /// A name (`KILL`, `SIGKILL`) or a number; 0 only checks that the
        /// process is there.
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped container (--force: any container, killing it).
    Delete {
        #[arg(long, short)]
        force: bool,
        id: String,
    },
    /// List the chapters the runtime is built from.
    Chapters,
}

/// A command's failure: one line on stderr, as engines expect.
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = &cli.root;
    let done = match &cli.command {
        Command::Create { bundle, pid_file, id } => {
            commands::create::create(root, id, bundle, pid_file.as_deref()).map(drop)
        }
        Command::Run { bundle, pid_file, id } => {
            match commands::run::run(root, id, bundle, pid_file.as_deref()) {
                Ok(code) => return ExitCode::from(code),
                Err(e) => Err(e),
            }
        }
        Command::Start { id } => commands::start::start(root, id),
        Command::State { id } => commands::state::state(root, id),
        Command::Kill { id, signal } => commands::kill::kill(root, id, signal),
        Command::Delete { force, id } => commands::delete::delete(root, id, *force),
        Command::Chapters => {
            chapters();
            Ok(())
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("tincan: {message}");
            ExitCode::FAILURE
        }
    }
}

fn chapters() {
    println!("tincan: a container runtime, one kernel feature at a time.\n");
    for (bin, dir, about) in CHAPTERS {
        println!("  {bin}  {about}\n        {dir}/");
    }
    let (last, ..) = CHAPTERS[CHAPTERS.len() - 1];
    println!("\nRun one: sudo target/debug/{last} run ./rootfs /bin/sh");
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
