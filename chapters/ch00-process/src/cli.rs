//! The command line every chapter shares: `chNN run [OPTIONS] ROOTFS [CMD [ARGS...]]`.
//!
//! A chapter that adds a flag (chapter 4's `--hostname`) defines a `clap::Args`
//! struct that flattens the previous chapter's options and adds its own; the
//! chapter's `plan` takes those options.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{Container, Plan, run};

#[derive(Parser)]
struct Cli<O: Args> {
    #[command(subcommand)]
    command: Command<O>,
}

#[derive(Subcommand)]
enum Command<O: Args> {
    /// Run CMD (default: /bin/sh) in a container whose root filesystem is ROOTFS.
    Run(RunArgs<O>),
}

/// The arguments of `chNN run`.
#[derive(Args)]
struct RunArgs<O: Args> {
    #[command(flatten)]
    options: O,

    /// The directory that becomes the container's root filesystem
    /// (build one with `cargo xtask rootfs ./rootfs`).
    rootfs: PathBuf,

    /// The command to run inside, and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, default_value = "/bin/sh")]
    command: Vec<String>,
}

/// The options of chapters that add none.
#[derive(Args, Debug, Default)]
pub struct NoOptions {}

/// The `main` of a chapter binary: parse the command line, run the container with
/// the chapter's plan, and exit with the container's status (or docker's codes 125,
/// 126, 127 when it could not run, after one line saying why).
pub fn main<O: Args>(name: &'static str, about: &'static str, plan: fn(&O) -> Plan) -> ExitCode {
    let matches = Cli::<O>::command().name(name).about(about).try_get_matches();
    let cli = match matches.and_then(|m| Cli::<O>::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` is not an error; a bad command line is the runtime's error (125).
            return if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS };
        }
    };
    let Command::Run(args) = cli.command;
    let container = Container::new(args.rootfs, args.command);
    match run(&container, &plan(&args.options)) {
        Ok(ended) => {
            if let Some(reason) = ended.reason {
                eprintln!("{name}: {reason}");
            }
            ExitCode::from(ended.exit.code())
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
