//! `tincan`: the runtime the chapters build, with two faces on one core.
//! The command line of runc, which container engines (podman, containerd)
//! drive: `create`, `start`, `state`, `kill`, `delete`. And Docker's, which
//! people type: `run IMAGE`, `ps`, `logs`, `stop`, `rm` (`face`). They are
//! told apart by their arguments: the OCI `run` names a `--bundle`, the OCI
//! `ps` a container. `tincan chapters` lists the chapters.

mod bridge_network;
mod bundle;
mod commands;
mod face;
mod freezer;
mod gate;
mod hook_steps;
mod hooks;
mod image_root;
mod join;
mod lifecycle;
mod log;
mod mounts;
mod namespaces;
mod process;
mod process_steps;
mod resources;
mod seccomp;
mod store;
mod userns;

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
    /// Also write errors to this file (containerd's shim reads it).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// How errors are written to the log (and to stderr, with json and no --log).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: log::LogFormat,
    /// Manage cgroups through systemd: not supported; tincan writes cgroupfs.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Print how long each part of the start-up takes, on stderr (profile
    /// before you guess).
    #[arg(long, global = true)]
    debug_timings: bool,
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
        /// With `process.terminal`: the engine's socket, where the terminal's
        /// master is sent.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Keep the runtime's session keyring rather than give the container
        /// a new one.
        #[arg(long)]
        no_new_keyring: bool,
        id: String,
    },
    /// Run a container. With --bundle (the OCI runtime's `run`): create and
    /// start it, wait for its command, delete it, and exit with the command's
    /// status. Without (Docker's): IMAGE [COMMAND...], a container of the
    /// image under a supervisor; in the foreground, its output followed.
    Run {
        /// The bundle, a directory with config.json and the root file system.
        #[arg(long, short)]
        bundle: Option<PathBuf>,
        /// With --bundle: write the container's PID here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// With --bundle: keep the runtime's session keyring rather than give
        /// the container a new one.
        #[arg(long)]
        no_new_keyring: bool,
        /// Leave it running in the background, and print its id.
        #[arg(long, short)]
        detach: bool,
        /// Remove it once it ends.
        #[arg(long)]
        rm: bool,
        /// Its name (default: the start of its id).
        #[arg(long)]
        name: Option<String>,
        /// Set KEY=VALUE in its environment (repeatable).
        #[arg(long, short)]
        env: Vec<String>,
        /// Mount SRC (a host path, or a volume's name) at DST in it: `SRC:DST[:ro]`.
        #[arg(long, short, value_name = "SRC:DST[:ro]")]
        volume: Vec<String>,
        /// Run as `USER[:GROUP]` (names or numbers, as the image's /etc/passwd says).
        #[arg(long, short)]
        user: Option<String>,
        /// Its memory limit: bytes, or with k, m, g (512m).
        #[arg(long, short, value_name = "SIZE")]
        memory: Option<String>,
        /// How many CPUs' time it may take (1.5).
        #[arg(long)]
        cpus: Option<f64>,
        /// How many processes and threads it may have at once (0 or -1: no limit, as Docker's).
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
        pids_limit: Option<i64>,
        /// A capability to give it beyond Docker's default (NET_ADMIN, ALL).
        #[arg(long)]
        cap_add: Vec<String>,
        /// A capability of Docker's default to take away (CHOWN, ALL).
        #[arg(long)]
        cap_drop: Vec<String>,
        /// `seccomp=unconfined` (no system-call filter) or
        /// `seccomp=PROFILE.json` [default: Docker's filter].
        #[arg(long)]
        security_opt: Vec<String>,
        /// Its network: bridge (the default, as Docker's: chapter 6's bridge,
        /// with NAT out), none (only lo), host, or a network of `network
        /// create`, whose containers know each other's names.
        #[arg(long, value_name = "NETWORK")]
        network: Option<String>,
        /// Keep stdin open. Without -d, the container runs attached to this
        /// command, with no supervisor, and its output is not kept for `logs`;
        /// with -d, its supervisor holds a pipe that never ends.
        #[arg(long, short)]
        interactive: bool,
        /// A terminal of its own: relayed to yours (attached, as with -i), or
        /// with -d held by its supervisor, which logs what it prints.
        #[arg(long, short)]
        tty: bool,
        /// Publish a port on the host (on a bridge network):
        /// `[ADDRESS:]HOSTPORT:CTRPORT[/tcp|udp]`.
        #[arg(long, short = 'p')]
        publish: Vec<String>,
        /// With --bundle: the container's id. Without: the image, then the
        /// command and its arguments (default: the image's).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show what a container printed (Docker's).
    Logs {
        /// Keep following it until the container ends.
        #[arg(long, short)]
        follow: bool,
        container: String,
    },
    /// Stop containers: SIGTERM, then SIGKILL after the timeout (Docker's).
    Stop {
        /// Seconds to wait before the SIGKILL.
        #[arg(long, short, default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers that have ended (Docker's); -f: running ones too.
    Rm {
        #[arg(long, short)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Let a created container run its command.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's process: by default SIGTERM, as runc
    /// does, or SIGKILL, as Docker does, to a container of `run IMAGE`.
    Kill {
        /// Every process of the container, not only its first.
        #[arg(long, short)]
        all: bool,
        /// The signal, as Docker's `kill -s` gives it.
        #[arg(long = "signal", short = 's', value_name = "SIGNAL", conflicts_with = "signal")]
        signal_option: Option<String>,
        id: String,
        /// A name (`KILL`, `SIGKILL`) or a number; 0 only checks that the
        /// process is there.
        signal: Option<String>,
    },
    /// What a container's supervisor runs once the container has ended:
    /// delete it (with --rm, remove it), and tell its network.
    #[command(hide = true)]
    Cleanup {
        #[arg(long)]
        rm: bool,
        id: String,
    },
    /// Remove a stopped container (--force: any container, killing it).
    Delete {
        #[arg(long, short)]
        force: bool,
        id: String,
    },
    /// Start another process in a running container.
    Exec {
        /// The process, as JSON (the config's `process` object).
        #[arg(long, short)]
        process: Option<PathBuf>,
        /// Leave it running, and exit.
        #[arg(long, short)]
        detach: bool,
        /// Write its PID here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Add KEY=VALUE to its environment (repeatable).
        #[arg(long, short)]
        env: Vec<String>,
        /// Its working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// A terminal of its own: its master is sent to --console-socket,
        /// or, without one, relayed to yours.
        #[arg(long, short)]
        tty: bool,
        /// Docker's `-i`: accepted, as stdin is always the process's own
        /// (the runtime hands it the stdin it was given, as runc does).
        #[arg(long, short)]
        interactive: bool,
        /// The engine's socket, where the terminal's master is sent.
        #[arg(long)]
        console_socket: Option<PathBuf>,
        id: String,
        /// The command and its arguments (without --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container (Docker's `unpause`).
    #[command(alias = "unpause")]
    Resume { id: String },
    /// List the containers.
    List {
        #[arg(long, short, value_enum, default_value = "table")]
        format: commands::list::Format,
        /// Only their ids.
        #[arg(long, short)]
        quiet: bool,
    },
    /// With a container: its processes (PIDs as the host numbers them; the
    /// OCI runtime's). Without: the containers of `run IMAGE` (Docker's).
    Ps {
        #[arg(long, short, value_enum, default_value = "table")]
        format: commands::list::Format,
        /// Docker's: all containers, not only running ones.
        #[arg(long, short)]
        all: bool,
        /// Docker's: only their ids.
        #[arg(long, short)]
        quiet: bool,
        id: Option<String>,
    },
    /// Volumes: directories the image store keeps by name, for `run -v
    /// NAME:/dst` (Docker's).
    Volume {
        #[command(subcommand)]
        command: VolumeCommand,
    },
    /// Networks: bridges whose containers reach each other by name (Docker's).
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// The host as a whole (Docker's).
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// Write a config.json to start from, one that tincan runs as it is.
    Spec {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
    },
    /// What this runtime can do, as JSON (the runtime spec's features).
    Features,
    /// List the chapters the runtime is built from.
    Chapters,
    /// Check this host for what containers need, and say what to fix.
    Doctor,
    /// The image store's commands (chapter 8's), on the store of
    /// `$TINCAN_ROOT` [default: /var/lib/tincan for root, $XDG_DATA_HOME/tincan
    /// for a user]; tincan's `--root` is where containers' state lives.
    #[command(flatten)]
    Image(ch08_images::cli::ImageCommand),
}

#[derive(Subcommand)]
enum VolumeCommand {
    /// Make a volume (default name: a random id), and print its name.
    Create { name: Option<String> },
    /// List the volumes.
    Ls {
        /// Only their names.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Remove volumes and what they hold; not one a container uses.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Make a network: a bridge and a subnet of its own.
    Create {
        name: String,
        /// Its subnet [default: the first free /24 of 10.90.0.0/16].
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
    },
    /// List the networks.
    Ls {
        /// Only their ids.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Remove networks that no container is on.
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Remove every container that has ended, and whatever a killed runtime
    /// or supervisor left behind (cgroups, mounts, veths, state, names).
    Prune,
}

impl Command {
    /// Does this `run` ask for anything only an image's container has?
    fn asks_the_face(&self) -> bool {
        let Command::Run {
            detach,
            rm,
            name,
            env,
            volume,
            user,
            memory,
            cpus,
            pids_limit,
            cap_add,
            cap_drop,
            security_opt,
            network,
            publish,
            interactive,
            tty,
            ..
        } = self
        else {
            return false;
        };
        *detach
            || *rm
            || name.is_some()
            || user.is_some()
            || memory.is_some()
            || cpus.is_some()
            || pids_limit.is_some()
            || network.is_some()
            || *interactive
            || *tty
            || [env, volume, cap_add, cap_drop, publish, security_opt].iter().any(|l| !l.is_empty())
    }
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
    log::init(cli.log.clone(), cli.log_format);
    if cli.debug_timings {
        ch00_process::timings::enable();
    }
    let done = if cli.systemd_cgroup {
        Err(Failure::new(
            "--systemd-cgroup: not supported; tincan manages cgroups itself (cgroupfs)",
        ))
    } else {
        command(&cli)
    };
    match done {
        Ok(code) => code,
        Err(Failure(message)) => {
            log::error(&message);
            ExitCode::FAILURE
        }
    }
}

/// Run the command; the exit code it asks for (`run`: the container's).
fn command(cli: &Cli) -> Result<ExitCode, Failure> {
    // `inspect` of a container (Docker looks for a container first, too).
    if let Command::Image(ch08_images::cli::ImageCommand::Inspect { image }) = &cli.command {
        let containers = face::store::Containers::new(&ch08_images::store::default_root());
        if let Ok(record) = containers.find(image) {
            let json = face::inspect::inspect(&containers, &record)?;
            let text = serde_json::to_string_pretty(&[json]).expect("JSON values serialise");
            println!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    if let Command::Image(image) = &cli.command {
        return image_command(image);
    }
    oci_command(cli).map(ExitCode::from)
}

/// The image store's commands: as root, or for a user as root of a user
/// namespace of its own (chapter 9's way, which runs this command again).
fn image_command(command: &ch08_images::cli::ImageCommand) -> Result<ExitCode, Failure> {
    let store = ch08_images::store::Store::open(ch08_images::store::default_root())?;
    if command.writes_layers()
        && let Some(code) =
            ch09_user::images::write_layers_in_user_namespace(store.root()).map_err(Failure)?
    {
        return Ok(code);
    }
    ch08_images::cli::image_command(&store, command.clone()).map_err(Failure)?;
    Ok(ExitCode::SUCCESS)
}

/// The OCI runtime's commands, and the rest.
fn oci_command(cli: &Cli) -> Result<u8, Failure> {
    let root = &cli.root;
    match &cli.command {
        Command::Create { bundle, pid_file, console_socket, no_new_keyring, id } => {
            let (pid_file, console) = (pid_file.as_deref(), console_socket.as_deref());
            let keyring = !no_new_keyring;
            commands::create::create(root, id, bundle, pid_file, console, keyring).map(|_| 0)
        }
        Command::Run { bundle: Some(bundle), pid_file, no_new_keyring, args, .. } => {
            let id = match args.as_slice() {
                [id] if !cli.command.asks_the_face() => id,
                [_] => {
                    return Err(Failure::new(
                        "with --bundle (the OCI runtime's run), only --pid-file and --no-new-keyring: the other options are for images",
                    ));
                }
                _ => return Err(Failure::new("with --bundle, run takes one container id")),
            };
            commands::run::run(root, id, bundle, pid_file.as_deref(), !no_new_keyring)
        }
        Command::Run {
            bundle: None,
            pid_file,
            no_new_keyring,
            detach,
            rm,
            name,
            env,
            volume,
            user,
            memory,
            cpus,
            pids_limit,
            cap_add,
            cap_drop,
            security_opt,
            network,
            interactive,
            tty,
            publish,
            args,
        } => {
            if pid_file.is_some() || *no_new_keyring {
                return Err(Failure::new(
                    "--pid-file and --no-new-keyring are for the OCI runtime's run, with --bundle",
                ));
            }
            let (image, command) = args.split_first().expect("clap requires one");
            let memory = memory.as_deref().map(face::bundle::parse_size).transpose()?;
            if cpus.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
                return Err(Failure::new("--cpus: give a number above 0, such as 0.5 or 2"));
            }
            let config = face::bundle::Asked {
                env,
                memory,
                cpus: *cpus,
                // Docker's "no limit": no `pids` in the config, as without the option.
                pids_limit: pids_limit.and_then(|n| u64::try_from(n).ok()).filter(|&n| n > 0),
                cap_add,
                cap_drop,
                publish,
                tty: *tty,
                security_opt,
                ..face::bundle::Asked::default()
            };
            let asked = face::run::Run {
                image,
                command,
                detach: *detach,
                remove: *rm,
                name: name.as_deref(),
                user: user.as_deref(),
                volumes: volume,
                network: network.as_deref().unwrap_or(face::network::BRIDGE),
                attach: !*detach && (*interactive || *tty),
                interactive: *interactive,
                config,
            };
            face::run::run(root, &asked)
        }
        Command::Logs { follow, container } => face::logs::logs(container, *follow).map(|()| 0),
        Command::Stop { time, containers } => face::stop::stop(containers, *time).map(|()| 0),
        Command::Rm { force, containers } => face::rm::rm(containers, *force).map(|()| 0),
        Command::Start { id } => commands::start::start(root, id).map(|()| 0),
        Command::State { id } => commands::state::state(root, id).map(|()| 0),
        Command::Kill { all, signal_option, id, signal } => {
            let id = face::resolve(root, id);
            let default = if face::made_by_the_face(&id) { "KILL" } else { "TERM" };
            let signal = signal.as_deref().or(signal_option.as_deref()).unwrap_or(default);
            commands::kill::kill(root, &id, signal, *all).map(|()| 0)
        }
        Command::Delete { force, id } => commands::delete::delete(root, id, *force).map(|()| 0),
        Command::Cleanup { rm, id } => face::cleanup::cleanup(root, id, *rm).map(|()| 0),
        Command::Exec {
            process,
            detach,
            pid_file,
            env,
            cwd,
            tty,
            interactive: _,
            console_socket,
            id,
            args,
        } => {
            let asked = commands::exec::Exec {
                process: process.as_deref(),
                args,
                env,
                cwd: cwd.as_deref(),
                detach: *detach,
                pid_file: pid_file.as_deref(),
                tty: *tty,
                console_socket: console_socket.as_deref(),
            };
            let id = face::resolve(root, id);
            commands::exec::exec(root, &id, &asked)
        }
        Command::Pause { id } => {
            let id = face::resolve(root, id);
            commands::pause::pause(root, &id).map(|()| 0)
        }
        Command::Resume { id } => {
            let id = face::resolve(root, id);
            commands::pause::resume(root, &id).map(|()| 0)
        }
        Command::List { format, quiet } => commands::list::list(root, *format, *quiet).map(|()| 0),
        Command::Ps { format, all: false, quiet: false, id: Some(id) } => {
            commands::ps::ps(root, id, *format).map(|()| 0)
        }
        Command::Ps { id: Some(_), .. } => Err(Failure::new(
            "ps ID lists a container's processes: -a and -q are for ps without one",
        )),
        Command::Ps { all, quiet, id: None, .. } => face::ps::ps(*all, *quiet).map(|()| 0),
        Command::Volume { command } => volume_command(command).map(|()| 0),
        Command::Network { command } => network_command(command).map(|()| 0),
        Command::System { command: SystemCommand::Prune } => face::prune::prune(root).map(|()| 0),
        Command::Spec { bundle } => commands::spec::spec(bundle).map(|()| 0),
        Command::Features => {
            let json = serde_json::to_string_pretty(&commands::features::features());
            println!("{}", json.map_err(|e| Failure::new(e.to_string()))?);
            Ok(0)
        }
        Command::Chapters => {
            chapters();
            Ok(0)
        }
        Command::Doctor => commands::doctor::doctor(),
        Command::Image(_) => unreachable!("the image commands are run by image_command"),
    }
}

fn network_command(command: &NetworkCommand) -> Result<(), Failure> {
    let store = ch08_images::store::Store::open(ch08_images::store::default_root())?;
    let networks = face::network::Networks::new(store.root());
    match command {
        NetworkCommand::Create { name, subnet } => {
            println!("{}", networks.create(name, subnet.as_deref())?.id);
            Ok(())
        }
        NetworkCommand::Ls { quiet } => {
            face::network::list(&networks, *quiet);
            Ok(())
        }
        NetworkCommand::Rm { names } => {
            let containers = face::store::Containers::new(store.root());
            let results = names.iter().map(|name| (name, networks.remove(name, &containers)));
            face::said(results)
        }
    }
}

fn volume_command(command: &VolumeCommand) -> Result<(), Failure> {
    let store = ch08_images::store::default_root();
    let volumes = face::volume::Volumes::new(&store);
    match command {
        VolumeCommand::Create { name } => {
            let name = name.clone().unwrap_or_else(ch00_process::random_id);
            volumes.create(&name)?;
            println!("{name}");
            Ok(())
        }
        VolumeCommand::Ls { quiet } => {
            face::volume::list(&volumes, *quiet);
            Ok(())
        }
        VolumeCommand::Rm { names } => {
            let containers = face::store::Containers::new(&store);
            face::said(names.iter().map(|name| (name, volumes.remove(name, &containers))))
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
