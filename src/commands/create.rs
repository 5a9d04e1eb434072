//! `tincan create --bundle B [--pid-file F] ID`: set the container up, leave
//! its process waiting before the command, and exit.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use ch00_process::clone::Child;
use ch00_process::console::ConsoleSocket;
use ch00_process::{Context, State, launch};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::gate::WaitForStart;
use crate::process_steps::SessionKeyring;
use crate::store::{self, Record};
use crate::{Failure, bundle};

/// Create the container; return its first process (a child of ours; `create`
/// just exits, and the engine becomes its parent), waiting for `start`.
pub fn create(
    root: &Path,
    id: &str,
    bundle_dir: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    new_keyring: bool,
) -> Result<Child, Failure> {
    let how = Setup { gate: Gate::UntilStart, new_keyring };
    set_up(root, id, bundle_dir, pid_file, console_socket, how).map(|(child, _)| child)
}

/// How a container is set up, besides its bundle.
#[derive(Clone, Copy)]
pub struct Setup {
    pub gate: Gate,
    /// A session keyring of its own (runc's default; `--no-new-keyring`: not).
    pub new_keyring: bool,
}

/// Where the container's process waits once it is set up.
#[derive(Clone, Copy, PartialEq)]
pub enum Gate {
    /// At the exec FIFO, until `start` ([`WaitForStart`]): `create`.
    UntilStart,
    /// Nowhere: it runs its command at once. `run`, which starts what it
    /// creates, spares the FIFO and a second command's work.
    None,
}

/// Set the container up; its first process and its state.
pub fn set_up(
    root: &Path,
    id: &str,
    bundle_dir: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    how: Setup,
) -> Result<(Child, State), Failure> {
    let bundle_dir = clean(bundle_dir)?;
    let dir = store::dir(root, id)?;
    let read = || bundle::read(&bundle_dir, id);
    let bundle = ch00_process::timings::time(|| "read config.json".into(), read)?;
    // The terminal's master goes to the engine, from the container.
    let console = crate::process::console(&bundle.process, console_socket).map_err(Failure::new)?;
    if dir.exists() {
        return Err(Failure::new(format!("container {id} already exists")));
    }
    let state = State::create_in(root, &bundle.container).map_err(|e| {
        Failure::new(format!("create the state of {id} in {}: {e}", root.display()))
    })?;
    match launch_and_record(&state, bundle, &bundle_dir, pid_file, console.as_ref(), how) {
        Ok(child) => Ok((child, state)),
        Err(e) => {
            // Nothing of a half-made container stays: its records say what to take down.
            let _ = crate::commands::delete::take_down(state);
            Err(e)
        }
    }
}

fn launch_and_record(
    state: &State,
    bundle: bundle::Bundle,
    bundle_dir: &Path,
    pid_file: Option<&Path>,
    console: Option<&ConsoleSocket>,
    how: Setup,
) -> Result<Child, Failure> {
    let gate = how.gate;
    let (ready_read, ready_write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Failure::new(format!("pipe2: {e}")))?;
    let mut plan = bundle.plan;
    if how.new_keyring {
        let keyring = SessionKeyring(format!("_ses.{}", bundle.container.id));
        plan = plan.insert_before("working directory", keyring);
    }
    let plan = match gate {
        Gate::UntilStart => plan.then(WaitForStart::new(state.dir(), ready_write)?),
        Gate::None => plan,
    };
    let container = bundle.container;
    let cx = Context { container: &container, namespaces: plan.namespaces, state, console };
    let launched = launch(&cx, &plan);
    let ready = launched.and_then(|launched| {
        // Our copy of the "ready" pipe's write end goes with the plan: the
        // pipe must read end-of-file if the child dies.
        drop(plan);
        let (child, receiver) = launched.into_receiver();
        if gate == Gate::None {
            // Its command started (the handshake's end-of-file), or its
            // set-up failed and says why.
            return match receiver.receive()? {
                None => Ok(child),
                Some(failure) => Err(failure.into()),
            };
        }
        match wait_until_ready(&ready_read, &receiver) {
            Ok(()) => Ok(child),
            Err(()) => Err(match receiver.receive() {
                Ok(Some(failure)) => ch00_process::Error::from(failure),
                _ => ch00_process::Error::Handshake(
                    "the container's process ended during its set-up".into(),
                ),
            }),
        }
    });
    let child = ready.map_err(|e| Failure::new(e.to_string()))?;
    let pid = child.pid.as_raw();
    let record = Record {
        id: container.id.clone(),
        bundle: bundle_dir.to_owned(),
        pid,
        started_at: store::started_at(pid).unwrap_or_default(),
        annotations: bundle.annotations,
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        seccomp: bundle.seccomp,
    };
    store::write(state, &record).map_err(|e| Failure::new(format!("write the state: {e}")))?;
    if let Some(file) = pid_file {
        write_pid_file(file, pid)?;
    }
    Ok(child)
}

/// The bundle's absolute path, `.` and `..` taken out as runc does (without
/// following links).
fn clean(bundle: &Path) -> Result<PathBuf, Failure> {
    use std::path::Component;
    let absolute = std::path::absolute(bundle)
        .map_err(|e| Failure::new(format!("bundle {}: {e}", bundle.display())))?;
    let mut clean = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// Wait for the child's "ready" (`Ok`), or for its report channel to say it
/// failed or died (`Err`).
fn wait_until_ready(ready: &OwnedFd, receiver: &impl AsFd) -> Result<(), ()> {
    loop {
        let mut fds = [
            PollFd::new(ready.as_fd(), PollFlags::POLLIN),
            PollFd::new(receiver.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Err(()),
        }
        let mut byte = [0u8; 1];
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            let mut file = File::from(ready.try_clone().map_err(|_| ())?);
            return if matches!(file.read(&mut byte), Ok(1)) { Ok(()) } else { Err(()) };
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Err(());
        }
    }
}

/// The PID, as runc writes it (no newline), atomically: engines poll for it.
pub fn write_pid_file(file: &Path, pid: i32) -> Result<(), Failure> {
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    std::fs::write(&partial, pid.to_string())
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|e| Failure::new(format!("write the pid file {}: {e}", file.display())))
}
