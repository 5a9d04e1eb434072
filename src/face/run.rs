//! `tincan run [-d] [--rm] [--name N] [-e K=V] [-v SRC:DST] ... IMAGE [COMMAND...]`: a
//! container of an image, under a supervisor, started; in the foreground
//! its output is followed until it ends, and its status is `run`'s.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ch08_images::image::Image;
use ch08_images::store::{Store, default_root};

use super::store::{Containers, Record};
use crate::Failure;

/// What `run` was asked.
pub struct Run<'a> {
    pub image: &'a str,
    pub command: &'a [String],
    pub detach: bool,
    pub remove: bool,
    pub name: Option<&'a str>,
    /// `--user`: over the image's.
    pub user: Option<&'a str>,
    /// `-v SRC:DST[:ro]`, as given.
    pub volumes: &'a [String],
    /// `--network`: a network's name, `bridge` (default), `host` or `none`.
    pub network: &'a str,
    /// `-i` or `-t` without `-d`: attached to us, with no supervisor (see
    /// `attach`).
    pub attach: bool,
    /// `-i`: its stdin kept open (detached, by the supervisor).
    pub interactive: bool,
    /// The rest goes into the config as it is.
    pub config: super::bundle::Asked<'a>,
}

pub fn run(root: &Path, asked: &Run) -> Result<u8, Failure> {
    let store = Store::open(default_root())?;
    let image = Image::find(&store, asked.image)?;
    let (container, prepared) =
        ch08_images::run::prepare(&store, asked.image, asked.command, asked.user, true)?;
    let id = container.id.clone();
    let containers = Containers::new(store.root());
    // Until it has started, `system prune` leaves it alone, and `volume rm`
    // and `network rm` wait: what it uses is not taken from under it.
    let making = containers.making(false)?;
    let volumes = super::volume::Volumes::new(store.root());
    let mounts: Vec<_> = asked
        .volumes
        .iter()
        .map(|v| super::volume::parse(v, &volumes))
        .collect::<Result<_, _>>()?;
    let networks = super::network::Networks::new(store.root());
    let network = match asked.network {
        super::network::NONE | super::network::HOST => None,
        name => Some(networks.find(name)?),
    };
    if network.is_none() && !asked.config.publish.is_empty() {
        return Err(Failure::new(format!(
            "-p publishes a port of a container on a bridge: --network {} has none (use bridge, or a network of yours)",
            asked.network
        )));
    }
    let name = asked.name.map_or_else(|| container.short_id().to_owned(), str::to_owned);
    let dir = containers.make_dir(&id)?;
    // From here on, a failure takes back what was made.
    let undo = |e: Failure| {
        let _ = crate::commands::delete::delete(root, &id, true);
        containers.release(&name, &id);
        let _ = containers.discard(&id);
        e
    };
    containers.claim(&name, &id).map_err(undo)?;
    let config = super::bundle::Asked {
        mounts: &mounts,
        network: network.as_ref(),
        host_network: asked.network == super::network::HOST,
        ..asked.config
    };
    let image_id = image.config_digest.to_string();
    super::bundle::write(&dir, &container, &prepared, &image_id, &config).map_err(undo)?;
    // The store's lock goes: `create` takes it again to find the layers.
    drop(prepared);
    let record = Record {
        id: id.clone(),
        name: name.clone(),
        image: asked.image.to_owned(),
        image_id,
        command: container.argv.clone(),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        remove: asked.remove,
        oci_root: root.to_owned(),
        mounts,
        network: network.as_ref().map(|n| n.name.clone()),
    };
    containers.write(&record).map_err(undo)?;
    if asked.attach {
        let attached = containers.attached(&id, true).map_err(undo)?;
        drop(making);
        let ran = super::attach::run(root, &containers, &record, asked.remove);
        drop(attached);
        return ran;
    }
    // When it ends, nobody may be there: the supervisor has the core delete
    // it, or, detached with --rm, the face remove it. In the foreground,
    // `run` removes it once it has read how it ended (the exit command
    // would take the record away before it can).
    let remove_on_exit = asked.remove && asked.detach;
    // In the foreground, a signal sent from now on is the container's: it
    // waits (blocked) until the loop that follows the output passes it on.
    // (The supervisor starts with none blocked: `Command` clears the mask.)
    let proxy = match asked.detach {
        true => None,
        false => Some(super::proxy::Proxy::new(root, &id).map_err(undo)?),
    };
    // With a terminal, stdin is the terminal: no pipe for it.
    let stdio = SupervisedStdio {
        terminal: asked.config.tty,
        stdin: asked.interactive && !asked.config.tty,
    };
    let mut supervisor = supervise(root, &dir, &id, remove_on_exit, stdio).map_err(undo)?;
    // Created, with its address: the others on its network learn its name,
    // and it theirs, before its command starts.
    let named = super::network::tell(&containers, &record);
    if let Err(e) = named.and_then(|()| crate::commands::start::start(root, &id)) {
        // Killed, it ends as any container does: the supervisor records it
        // and runs its exit command. Only then is the rest ours to take.
        let _ = crate::commands::kill::kill(root, &id, "KILL", true);
        let _ = supervisor.wait();
        return Err(undo(e));
    }
    if asked.detach {
        drop(making);
        println!("{id}");
        return Ok(0);
    }
    // Followed: `system prune` leaves it to us until we have read its end.
    let attached = containers.attached(&id, true)?;
    drop(making);
    let exit = super::logs::follow(&dir, proxy.as_ref())?;
    if asked.remove {
        super::rm::rm_if_there(&containers, &id)?;
    }
    drop(attached);
    Ok(u8::try_from(exit.status).unwrap_or(u8::MAX))
}

/// What a supervised container's stdio are besides its output: `-t` and `-i`
/// with `-d`. The supervisor holds them, as conmon does: a shell there waits
/// for input that never comes, and runs on for `exec` to join.
#[derive(Clone, Copy)]
struct SupervisedStdio {
    terminal: bool,
    stdin: bool,
}

/// Start `tincan-supervisor` on the container's directory, in a session of
/// its own, and wait for it to say the container is created.
fn supervise(
    root: &Path,
    dir: &Path,
    id: &str,
    remove: bool,
    stdio: SupervisedStdio,
) -> Result<Child, Failure> {
    let tincan = std::env::current_exe().map_err(|e| Failure::new(format!("find tincan: {e}")))?;
    let supervisor = supervisor_beside(&tincan)?;
    let oci = |args: &[&str]| -> Vec<OsString> {
        let mut all = vec![tincan.clone().into_os_string(), "--root".into(), root.into()];
        all.extend(args.iter().map(OsString::from));
        all
    };
    // When the container ends by itself, nobody may be there to delete it:
    // the supervisor has `cleanup` do it (see `cleanup.rs`).
    let on_exit = if remove { oci(&["cleanup", "--rm", id]) } else { oci(&["cleanup", id]) };
    let mut command = Command::new(&supervisor);
    command.arg(dir);
    for arg in on_exit {
        command.arg("--on-exit").arg(arg);
    }
    // The terminal's socket, in a private directory of its own beside the
    // container's (`.console-XXXXXX`, mode 0700), gone once the supervisor
    // has the terminal or has failed (or, if we are killed first, at `system
    // prune`). Short, though a longer path would do: the supervisor and the
    // runtime reach one through a descriptor of its directory.
    let beside = dir.parent().expect("a container's directory is in containers/");
    let console = stdio.terminal.then(|| ConsoleDir::new(beside)).transpose()?;
    if let Some(console) = &console {
        command.arg("--terminal").arg(console.socket());
    }
    if stdio.stdin {
        command.arg("--stdin");
    }
    let pid_file = dir.join(tincan_supervisor::PID_FILE);
    command.arg("--").args(oci(&["create", "--bundle"])).arg(dir).arg("--pid-file").arg(&pid_file);
    if let Some(console) = &console {
        // The runtime sends the terminal's master where the supervisor listens.
        command.arg("--console-socket").arg(console.socket());
    }
    command.arg(id).stdin(Stdio::null()).stdout(Stdio::piped());
    // SAFETY: setsid(2) is async-signal-safe, the only kind of call allowed
    // between fork and exec.
    unsafe {
        command.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::new(format!("start {}: {e}", supervisor.display())))?;
    let mut said = String::new();
    let read = child.stdout.take().expect("piped").read_to_string(&mut said);
    read.map_err(|e| Failure::new(format!("read what the supervisor says: {e}")))?;
    let created = said.strip_prefix("created ").and_then(|pid| pid.strip_suffix('\n'));
    if created.is_some_and(|pid| pid.parse::<u32>().is_ok()) {
        // It runs on, its own; once we exit, its parent will not be us.
        return Ok(child);
    }
    let _ = child.wait();
    let said = said.trim();
    Err(Failure::new(said.strip_prefix("error: ").unwrap_or(said).to_owned()))
}

/// A directory only its owner may enter, for the socket a terminal's master
/// goes through; removed with what is in it when dropped.
struct ConsoleDir(PathBuf);

impl ConsoleDir {
    fn new(parent: &Path) -> Result<ConsoleDir, Failure> {
        let template = parent.join(format!("{}XXXXXX", super::store::CONSOLE_PREFIX));
        let made = nix::unistd::mkdtemp(&template);
        made.map(ConsoleDir).map_err(|e| Failure::new(format!("{}: {e}", template.display())))
    }

    fn socket(&self) -> PathBuf {
        self.0.join("sock")
    }
}

impl Drop for ConsoleDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tincan-supervisor`, installed beside `tincan` (cargo builds both into
/// `target/debug/`).
fn supervisor_beside(tincan: &Path) -> Result<PathBuf, Failure> {
    let supervisor = tincan.with_file_name("tincan-supervisor");
    if supervisor.is_file() {
        Ok(supervisor)
    } else {
        Err(Failure::new(format!(
            "{} is missing: it is built with tincan (cargo build), and installed beside it",
            supervisor.display()
        )))
    }
}
