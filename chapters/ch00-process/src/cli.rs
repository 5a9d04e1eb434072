//! The command line every chapter shares: `chNN run ROOTFS [CMD [ARGS...]]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{Container, Error, Plan, run};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD (default: /bin/sh) in a container whose root filesystem is ROOTFS.
    Run(RunArgs),
}

/// The arguments of `chNN run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The directory that becomes the container's root filesystem
    /// (build one with `cargo xtask rootfs ./rootfs`).
    pub rootfs: PathBuf,

    /// The command to run inside, and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, default_value = "/bin/sh")]
    pub command: Vec<String>,
}

/// The `main` of a chapter binary: parse the command line, run the container with
/// the chapter's plan, and exit with the container's status (or docker's codes 125,
/// 126, 127 when it could not run, after one line saying why).
pub fn main(name: &'static str, about: &'static str, plan: fn() -> Plan) -> ExitCode {
    let matches = Cli::command().name(name).about(about).try_get_matches();
    let cli = match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` is not an error; a bad command line is the runtime's error (125).
            return if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS };
        }
    };
    let Command::Run(args) = cli.command;
    match start(args, plan()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn start(args: RunArgs, plan: Plan) -> Result<u8, Error> {
    let container = Container::new(args.rootfs, args.command);
    run(&container, &plan).map(|exit| exit.code())
}
