//! `tincan run --bundle B ID`: create, start, wait for the command to end,
//! delete; exit with the command's status.

use std::path::Path;

use ch00_process::DEFAULT_STOP_TIMEOUT;
use ch00_process::console::{ConsoleSocket, Relay};
use ch00_process::signals::Signals;
use ch00_process::supervise::supervise;
use ch00_process::timings;

use nix::sys::signal::Signal;
use oci_spec::runtime::ContainerState;

use crate::Failure;
use crate::commands::{create, delete};
use crate::hooks::{self, Kind};

pub fn run(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    new_keyring: bool,
) -> Result<u8, Failure> {
    run_then(root, id, bundle, pid_file, new_keyring, &|| {})
}

/// [`run`], calling `running` once the container's command runs (the
/// docker-style face tells the container's network its name then).
pub fn run_then(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    new_keyring: bool,
    running: &dyn Fn(),
) -> Result<u8, Failure> {
    // Held back from here on, and forwarded to the container once it runs
    // (chapter 0's supervision): a Ctrl-C must reach the command, not end the
    // runtime half-way.
    let mut signals = Signals::block().map_err(|e| Failure::new(format!("block signals: {e}")))?;
    // Created and started at once: no exec FIFO to wait at.
    let how = create::Setup { gate: create::Gate::None, new_keyring, relay: true };
    let create::SetUp { child, state, record, console } =
        create::set_up(root, id, bundle, pid_file, None, how)?;
    // Not locked while it runs: `state`, `kill` and `ps` may come meanwhile
    // (and from a hook).
    let dir = state.dir().to_owned();
    drop(state);
    // The command runs: the engine's `poststart` hooks.
    hooks::run_recorded(Kind::Poststart, &record, ContainerState::Running, Some(record.pid));
    running();
    // With a terminal: ours relays to the container's (chapter 0's relay).
    let relay = console.as_ref().and_then(ConsoleSocket::receive).map(Relay::start);
    let ended = match relay.transpose() {
        Ok(relay) => {
            supervise(&child, &mut signals, DEFAULT_STOP_TIMEOUT, relay).map_err(Failure::from)
        }
        Err(e) => {
            let _ = ch00_process::clone::send_signal(&child.pidfd, Signal::SIGKILL);
            let _ = ch00_process::supervise::reap(&child);
            Err(Failure::new(format!("relay the container's terminal: {e}")))
        }
    };
    // Its process is gone: what it left is taken down, unless a `delete
    // --force` did so meanwhile.
    let taken_down = timings::time(
        || "take down".into(),
        || match ch00_process::State::open(&dir) {
            Ok(state) => delete::take_down(state),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Failure::new(format!("{}: {e}", dir.display()))),
        },
    );
    let (exit, _why) = ended?;
    taken_down?;
    Ok(exit.code())
}
