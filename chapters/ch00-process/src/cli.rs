//! The command line every chapter shares:
//! `chNN run [OPTIONS] ROOTFS [CMD [ARGS...]]` and `chNN cleanup`.
//!
//! A chapter that adds a flag (chapter 4's `--hostname`) defines a `clap::Args`
//! struct that flattens the previous chapter's options and adds its own; the
//! chapter's `plan` takes those options.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{Container, DEFAULT_STOP_TIMEOUT, Plan, run, sweep};

#[derive(Parser)]
struct Cli<O: Args> {
    #[command(subcommand)]
    command: Command<O>,
}

#[derive(Subcommand)]
enum Command<O: Args> {
    /// Run CMD (default: /bin/sh) in a container whose root filesystem is ROOTFS.
    Run(RunArgs<O>),
    /// Take down what containers whose runtime died (`kill -9`, a crash) left on
    /// the host: mounts, addresses, network interfaces, firewall rules, cgroups.
    /// Every run does this first, too.
    Cleanup,
}

/// The arguments of `chNN run`.
#[derive(Args)]
struct RunArgs<O: Args> {
    #[command(flatten)]
    options: O,

    #[command(flatten)]
    stop: StopTimeout,

    /// The directory that becomes the container's root filesystem
    /// (build one with `cargo xtask rootfs ./rootfs`).
    rootfs: PathBuf,

    /// The command to run inside, and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, default_value = "/bin/sh")]
    command: Vec<String>,
}

/// `--stop-timeout`, which every chapter's `run` has.
#[derive(Args, Debug, Clone, Copy)]
pub struct StopTimeout {
    /// After forwarding SIGTERM or SIGINT to the container, how many seconds to
    /// wait for it to end before killing it (as `docker stop --time`).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_STOP_TIMEOUT.as_secs_f64(), value_parser = parse_seconds)]
    stop_timeout: f64,
}

impl StopTimeout {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.stop_timeout)
    }
}

/// The options of chapters that add none.
#[derive(Args, Debug, Default)]
pub struct NoOptions {}

/// The `main` of a chapter binary: parse the command line, run the container with
/// the chapter's plan, and exit with the container's status (or docker's codes 125,
/// 126, 127 when it could not run, after one line saying why).
pub fn main<O: Args + Default>(
    name: &'static str,
    about: &'static str,
    plan: fn(&O) -> Plan,
) -> ExitCode {
    crate::quiet_panics_in_steps();
    // How long each part of each step takes, on stderr (what `tincan
    // --debug-timings` prints): profile before you guess.
    if std::env::var_os("TINCAN_DEBUG_TIMINGS").is_some() {
        crate::timings::enable();
    }
    let cli = match parse::<Cli<O>>(name, about) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // Dead runtimes' leftovers go first, with every step this chapter has: they
    // may hold an address or a port this container is about to take.
    let swept = sweep(&plan(&O::default()));
    let args = match cli.command {
        Command::Cleanup => return report_cleanup(name, swept),
        Command::Run(args) => args,
    };
    warn_left(name, &swept);
    let mut container = Container::new(args.rootfs, args.command);
    container.stop_timeout = args.stop.duration();
    report(name, run(&container, &plan(&args.options)))
}

/// Parse the command line of the chapter binary `name`; on `--help` or an
/// error, what to exit with once clap has printed it.
pub fn parse<C: CommandFactory + FromArgMatches>(
    name: &'static str,
    about: &'static str,
) -> Result<C, ExitCode> {
    let matches = C::command().name(name).about(about).try_get_matches();
    matches.and_then(|m| C::from_arg_matches(&m)).map_err(|e| {
        let _ = e.print();
        // `--help` is not an error; a bad command line is the runtime's error (125).
        if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS }
    })
}

/// Warn about dead runtimes' leftovers a sweep could not take down.
pub fn warn_left(name: &str, swept: &crate::Swept) {
    for (id, e) in &swept.failed {
        eprintln!("{name}: warning: could not clean up after container {id}: {e}");
    }
}

/// Say how a container ended, and exit as it did (or with docker's codes 125,
/// 126, 127 when it could not run, after one line saying why).
pub fn report(name: &str, result: Result<crate::Ended, crate::Error>) -> ExitCode {
    match result {
        Ok(ended) => {
            if let Some(reason) = ended.reason {
                eprintln!("{name}: {reason}");
            }
            if let Some(failure) = ended.cleanup_failed {
                eprintln!("{name}: warning: cleaning up after the container: {failure}");
            }
            ExitCode::from(ended.exit.code())
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `chNN cleanup`: say what was taken down, and what could not be.
pub fn report_cleanup(name: &str, swept: crate::Swept) -> ExitCode {
    match swept.cleaned.len() {
        0 if swept.failed.is_empty() => eprintln!("{name}: nothing to clean up"),
        0 => {}
        1 => eprintln!("{name}: cleaned up after 1 container whose runtime had died"),
        n => eprintln!("{name}: cleaned up after {n} containers whose runtime had died"),
    }
    for (id, e) in &swept.failed {
        eprintln!("{name}: could not clean up after container {id}: {e}");
    }
    if swept.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(125) }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err("give a number of seconds, such as 10 or 0.5".to_owned()),
    }
}
