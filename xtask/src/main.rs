//! `cargo xtask`: the project's tasks, in Rust so that they run wherever cargo does.
//!
//! Run `cargo xtask --help` for the list. The two a newcomer needs:
//! `cargo xtask quickstart` (from clone to a shell in a container) and
//! `cargo xtask test` (everything CI runs).

mod bench;
mod bench_face;
mod bench_harden;
mod bench_idle;
mod bench_pull;
mod book;
mod check;
mod exercise;
mod measure;
mod prerequisites;
mod probe;
mod quickstart;
mod report;
mod rootfs;
mod seed;
mod static_build;
mod suite;
mod sweep;
mod vm;
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
    /// Take down what an interrupted test run (Ctrl-C, a kill) left on the
    /// host: containers, cgroups, bridges, rules, mounts, its directories.
    /// `test` and `check` do this first.
    Sweep {
        /// Only what the tests' directories in DIR name (a test of the
        /// sweep itself), leaving DIR and the cgroups alone.
        #[arg(long, hide = true)]
        work: Option<PathBuf>,
    },
    /// Run one chapter's checks and say, test by test, what works.
    Check {
        /// The chapter: ch00, ch01, ... (the directories under chapters/).
        chapter: String,
    },
    /// Build the book into target/book and check its links and includes.
    Book,
    /// Boot a small VM (qemu, Debian's kernel, busybox) with the chapter binaries,
    /// the probe and a rootfs at /rootfs, and run SCRIPT in it with sh.
    Vm {
        /// kvm, tcg (software emulation), or auto: KVM if it works, else TCG.
        #[arg(long, default_value = "auto", value_parser = parse_accel)]
        accel: tincan_vm::AccelChoice,
        /// Give up after this many seconds, boot included.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// The script, for example: ch07 run --net none /rootfs tincan-probe cgroup
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        script: Vec<String>,
    },
    /// Measure a small VM against a chapter 7 container on this machine (time to
    /// first output and to exit, host memory, kernel) and write the book's table.
    VmVsContainer {
        /// Runs of each (the table shows medians).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/vm-vs-container.md")]
        out: PathBuf,
    },
    /// Measure how long a container takes to start and end, against runc and crun
    /// on the same bundle (needs hyperfine, runc, crun), and write the book's table.
    Bench {
        /// Runs of each (the table shows medians).
        #[arg(long, default_value_t = 30)]
        runs: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/startup.md")]
        out: PathBuf,
    },
    /// Measure `ch08 pull` of a three-layer image from a local registry, against
    /// `skopeo copy` + `umoci unpack` (needs hyperfine, docker-registry, skopeo,
    /// umoci), and write the book's table.
    BenchPull {
        /// Runs of each (the table shows medians).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/pull.md")]
        out: PathBuf,
    },
    /// Measure what each layer of defence (chapters 7 to 10) adds to start-up,
    /// in one hyperfine run, and write the book's table.
    BenchHarden {
        /// Runs of each (the table shows medians).
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/harden.md")]
        out: PathBuf,
    },
    /// Measure the docker-style face: a run/stop/rm cycle beside podman's,
    /// the supervisor's memory beside conmon's, many idle containers, and
    /// `logs -f`; write the book's table.
    BenchFace {
        /// Runs of each cycle.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// How many idle containers.
        #[arg(long, default_value_t = 200)]
        idle: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/face.md")]
        out: PathBuf,
    },
    /// Create and start many idle containers with tincan (the release build)
    /// and measure what they cost: time, memory, `list`; write the book's table.
    BenchIdle {
        /// How many containers.
        #[arg(long, default_value_t = 200)]
        containers: usize,
        /// Where to write the table.
        #[arg(long, default_value = "book/src/measured/idle.md")]
        out: PathBuf,
    },
    /// Write a learner workspace to DIR where the exercises are `todo!()`.
    Workshop {
        /// Where to write it (must not exist).
        #[arg(required_unless_present = "verify")]
        dir: Option<PathBuf>,
        /// Instead, check both sides as CI does (part of `cargo xtask test`): a
        /// generated workspace compiles, and each chapter's checks fail exactly
        /// where an exercise is missing.
        #[arg(long, conflicts_with = "dir")]
        verify: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Quickstart => quickstart::run(),
        Task::Rootfs { dir, force } => rootfs::build(&dir, force),
        Task::Test => suite::run(),
        Task::Sweep { work: None } => rootfs::sweep_tests(),
        Task::Sweep { work: Some(dir) } => match sweep::interrupted_run(&dir).as_slice() {
            [] => Ok(()),
            failed => anyhow::bail!("could not take down all that {failed:?} hold"),
        },
        Task::Check { chapter } => check::run(&chapter),
        Task::Book => book::build().map(|_| ()),
        Task::Vm { accel, timeout, script } => {
            let code = vm::run(&script, accel, std::time::Duration::from_secs(timeout))?;
            std::process::exit(code);
        }
        Task::VmVsContainer { runs, out } => measure::run(runs, &workspace_root().join(out)),
        Task::Bench { runs, out } => bench::run(runs, &workspace_root().join(out)),
        Task::BenchPull { runs, out } => bench_pull::run(runs, &workspace_root().join(out)),
        Task::BenchHarden { runs, out } => bench_harden::run(runs, &workspace_root().join(out)),
        Task::BenchFace { runs, idle, out } => {
            bench_face::run(runs, idle, &workspace_root().join(out))
        }
        Task::BenchIdle { containers, out } => {
            bench_idle::run(containers, &workspace_root().join(out))
        }
        Task::Workshop { verify: true, .. } => {
            rootfs::prepare_tests()?;
            workshop::verify()
        }
        Task::Workshop { dir: Some(dir), .. } => {
            let n = workshop::generate(&workspace_root(), &dir)?.len();
            eprintln!("wrote {} with {n} exercises (see its EXERCISES.md)", dir.display());
            Ok(())
        }
        Task::Workshop { dir: None, .. } => unreachable!("clap requires DIR unless --verify"),
    }
}

fn parse_accel(text: &str) -> Result<tincan_vm::AccelChoice, String> {
    match text {
        "auto" => Ok(tincan_vm::AccelChoice::Auto),
        "kvm" => Ok(tincan_vm::AccelChoice::Kvm),
        "tcg" => Ok(tincan_vm::AccelChoice::Tcg),
        _ => Err("auto, kvm or tcg".to_owned()),
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
