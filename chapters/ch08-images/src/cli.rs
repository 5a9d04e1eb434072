//! The `ch08` command line — `pull`, `import`, `images`, `inspect`, `rmi`, `run`,
//! `cleanup` — written once, for chapter 8 and for every chapter built on it.
//!
//! A later chapter adds its own `run` options (a [`clap::Args`] struct) and its
//! own plan, through [`Chapter`]; the image commands stay the same.

use std::path::PathBuf;
use std::process::ExitCode;

use ch00_process::cli::{StopTimeout, parse, report, report_cleanup, warn_left};
use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use clap::{Args, Parser, Subcommand};

use crate::image::{self, Image};
use crate::import;
use crate::platform::Platform;
use crate::pull::{PullOptions, pull};
use crate::reference::Reference;
use crate::run::{Prepared, is_rootfs, prepare, prepare_rootfs};
use crate::store::{self, Store};
use crate::unpack::Limits;

/// What a chapter built on chapter 8 changes in its command line.
pub trait Chapter {
    /// The chapter's own `run` options, beside chapter 7's and 8's.
    type RunArgs: Args;
    /// The binary's name, which starts every error line: `ch08`.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;

    /// The plan for `run`, from the chapter's options and what chapter 8
    /// worked out from the image. An error is one line for the user.
    fn plan(
        options: &CgroupOptions,
        args: &Self::RunArgs,
        container: &mut Container,
        prepared: Prepared,
    ) -> Result<Plan, String>;

    /// A plan with every step this chapter has, for taking down what dead
    /// runtimes left (`cleanup`, and before each `run`).
    fn sweep_plan() -> Plan;

    /// Whether the caller may write layers (`pull`, `import`, `rmi`) in
    /// `store`: `Ok(None)` to go on here; `Ok(Some(code))` when the chapter ran
    /// the command itself some other way (chapter 9, as root of a user
    /// namespace) and it ended with `code`; an error says why not and what to do.
    fn may_write_layers(_store: &Store) -> Result<Option<ExitCode>, String> {
        if nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        // A layer holds files of many owners, devices, and overlayfs's own
        // attributes: only root can make (and remove) them as they are.
        Err("this needs root (try sudo): a layer's files keep their owners, which only root can give; chapter 9 brings rootless images".to_owned())
    }
}

#[derive(Parser)]
struct Cli<R: Args> {
    /// Where images are kept [default: /var/lib/tincan for root,
    /// $XDG_DATA_HOME/tincan for a user]
    #[arg(long, global = true, value_name = "DIR", env = "TINCAN_ROOT")]
    root: Option<PathBuf>,

    #[command(subcommand)]
    command: Command<R>,
}

#[derive(Subcommand)]
enum Command<R: Args> {
    #[command(flatten)]
    Image(ImageCommand),
    /// Run CMD (default: the image's) in a container of IMAGE, or of the
    /// directory ROOTFS (a path: starting with / or .).
    Run(RunArgs<R>),
    /// Take down what containers whose runtime died left on the host.
    Cleanup,
}

/// The commands on the image store, the same in every chapter from this one
/// on, and in `tincan`.
#[derive(Subcommand, Clone)]
pub enum ImageCommand {
    /// Fetch an image from a registry: alpine, library/alpine:3.20,
    /// host:5000/name:tag, name@sha256:...
    Pull {
        image: String,
        /// The platform to take from a multi-platform image [default: this machine's]
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<Platform>,
        /// Use plain HTTP for a registry that is not on this machine.
        #[arg(long)]
        insecure: bool,
        /// Print each HTTP request and its answer.
        #[arg(long, short)]
        verbose: bool,
        /// How many layers to download at once.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=16))]
        jobs: u8,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Make an image of one layer from a root file system in a tarball
    /// (`docker export` output, Alpine's minirootfs).
    Import {
        tarball: PathBuf,
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List the images in the store.
    Images,
    /// Print an image's manifest and config as JSON.
    Inspect { image: String },
    /// Remove images, and the layers no other image uses.
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
    },
}

impl ImageCommand {
    /// Does it write layers (which needs root, or chapter 9's user namespace)?
    pub fn writes_layers(&self) -> bool {
        matches!(
            self,
            ImageCommand::Pull { .. } | ImageCommand::Import { .. } | ImageCommand::Rmi { .. }
        )
    }
}

/// Bounds on what a layer may unpack to.
#[derive(Args, Clone)]
pub struct LimitArgs {
    /// The most one layer may unpack to: 512m, 20g. A bound against
    /// decompression bombs.
    #[arg(long, value_name = "SIZE", value_parser = ch07_cgroups::parse_size)]
    max_layer_size: Option<u64>,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let default = Limits::default();
        Limits { max_bytes: self.max_layer_size.unwrap_or(default.max_bytes), ..default }
    }
}

#[derive(Args)]
struct RunArgs<R: Args> {
    #[command(flatten)]
    options: CgroupOptions,
    #[command(flatten)]
    stop: StopTimeout,
    /// Keep the container's own directory (its changes, in upper/) after it ends.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    chapter: R,
    #[arg(value_name = "IMAGE|ROOTFS")]
    image: String,
    /// The command to run inside, and its arguments [default: the image's]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// The whole binary of chapter `C`: parse, run, exit.
pub fn main<C: Chapter>() -> ExitCode {
    ch00_process::quiet_panics_in_steps();
    let cli = match parse::<Cli<C::RunArgs>>(C::NAME, C::ABOUT) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = Store::open(cli.root.clone().unwrap_or_else(store::default_root))
        .map_err(|e| e.to_string())
        .and_then(|store| command::<C>(&store, cli.command));
    match result {
        Ok(code) => code,
        Err(message) => {
            // One line, whatever a hostile archive or registry put in it.
            let line: String =
                message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            eprintln!("{}: {line}", C::NAME);
            ExitCode::from(125)
        }
    }
}

fn command<C: Chapter>(store: &Store, command: Command<C::RunArgs>) -> Result<ExitCode, String> {
    match command {
        Command::Image(command) => {
            if command.writes_layers()
                && let Some(code) = C::may_write_layers(store)?
            {
                return Ok(code);
            }
            image_command(store, command)?;
        }
        Command::Run(args) => return Ok(run::<C>(store, args)),
        Command::Cleanup => {
            // Half-written blobs and layers of pulls that died, when no pull
            // is under way (else the next cleanup or `rmi` takes them).
            if let Some(exclusive) = store.try_lock_exclusive().map_err(|e| e.to_string())? {
                store.clear_tmp(&exclusive).map_err(|e| e.to_string())?;
            }
            return Ok(report_cleanup(C::NAME, ch00_process::sweep(&C::sweep_plan())));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run an image command on `store` (the caller has checked that it may
/// write layers, if the command does); an error is one line for the user.
pub fn image_command(store: &Store, command: ImageCommand) -> Result<(), String> {
    match command {
        ImageCommand::Pull { image, platform, insecure, verbose, jobs, limits } => {
            let reference: Reference = image.parse().map_err(|e| format!("{image}: {e}"))?;
            let platform = platform.unwrap_or_else(Platform::host);
            let options = PullOptions {
                platform,
                insecure,
                verbose,
                limits: limits.limits(),
                jobs: jobs.into(),
            };
            let pulled = pull(store, &reference, &options).map_err(|e| e.to_string())?;
            println!("Digest: {}", pulled.manifest);
            println!("{}: {} layers, {} downloaded", pulled.name, pulled.layers, pulled.downloaded);
        }
        ImageCommand::Import { tarball, name, limits } => {
            let reference: Reference = name.parse().map_err(|e| format!("{name}: {e}"))?;
            let digest = import::import(store, &tarball, &reference, &limits.limits())
                .map_err(|e| e.to_string())?;
            println!("{reference}: {digest}");
        }
        ImageCommand::Images => images(store)?,
        ImageCommand::Inspect { image } => {
            let image = Image::find(store, &image).map_err(|e| e.to_string())?;
            let json = serde_json::json!({
                "Name": image.name,
                "Id": image.config_digest.to_string(),
                "Digest": image.manifest_digest.to_string(),
                "Manifest": image.manifest,
                "Config": image.config,
            });
            println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialise"));
        }
        ImageCommand::Rmi { images } => {
            let removed = image::remove(store, &images).map_err(|e| e.to_string())?;
            for name in &removed.names {
                println!("Untagged: {name}");
            }
            println!("Deleted: {} blobs, {} layers", removed.blobs, removed.layers);
        }
    }
    Ok(())
}

fn run<C: Chapter>(store: &Store, args: RunArgs<C::RunArgs>) -> ExitCode {
    warn_left(C::NAME, &ch00_process::sweep(&C::sweep_plan()));
    let ready = if is_rootfs(&args.image) {
        // The same checks, and words, as every earlier chapter's.
        let rootfs = PathBuf::from(&args.image);
        match std::fs::metadata(&rootfs) {
            Ok(m) if m.is_dir() => Ok(prepare_rootfs(store, &rootfs, &args.command, args.keep)),
            Ok(_) => return report(C::NAME, Err(ch00_process::Error::RootfsNotADirectory(rootfs))),
            Err(_) => return report(C::NAME, Err(ch00_process::Error::RootfsMissing(rootfs))),
        }
    } else {
        prepare(store, &args.image, &args.command, None, args.keep).map_err(|e| e.to_string())
    };
    let (mut container, prepared) = match ready {
        Ok(ready) => ready,
        Err(message) => {
            eprintln!("{}: {message}", C::NAME);
            return ExitCode::from(125);
        }
    };
    container.stop_timeout = args.stop.duration();
    let plan = match C::plan(&args.options, &args.chapter, &mut container, prepared) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("{}: {message}", C::NAME);
            return ExitCode::from(125);
        }
    };
    let code = report(C::NAME, ch00_process::run(&container, &plan));
    if args.keep {
        eprintln!("{}: kept {}", C::NAME, store.container_dir(&container.id).display());
    }
    code
}

/// `ch08 images`: one line per name, as `docker images` prints them.
fn images(store: &Store) -> Result<(), String> {
    let index = crate::index::Index::load(store).map_err(|e| e.to_string())?;
    println!("{:<50} {:<12} {:>10}", "IMAGE", "ID", "SIZE");
    for (name, digest) in &index.images {
        let digest = digest.parse().map_err(|e: crate::DigestError| e.to_string())?;
        let image = Image::load(store, name, &digest).map_err(|e| e.to_string())?;
        let size = indicatif::HumanBytes(image.size());
        println!("{:<50} {:<12} {:>10}", name, image.config_digest.short(), size.to_string());
    }
    Ok(())
}
