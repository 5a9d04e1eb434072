//! `tincan create --bundle B [--pid-file F] ID`: set the container up, leave
//! its process waiting before the command, and exit.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use ch00_process::clone::{Child, send_signal};
use ch00_process::console::ConsoleSocket;
use ch00_process::handshake::Receiver;
use ch00_process::supervise::reap;
use ch00_process::{Context, State, launch};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use oci_spec::runtime::ContainerState;

use crate::gate::WaitForStart;
use crate::hooks::{self, Kind};
use crate::process_steps::SessionKeyring;
use crate::store::{self, Record};
use crate::{Failure, bundle, hook_steps};

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
    let how = Setup { gate: Gate::UntilStart, new_keyring, relay: false };
    set_up(root, id, bundle_dir, pid_file, console_socket, how).map(|set_up| set_up.child)
}

/// How a container is set up, besides its bundle.
#[derive(Clone, Copy)]
pub struct Setup {
    pub gate: Gate,
    /// A session keyring of its own (runc's default; `--no-new-keyring`: not).
    pub new_keyring: bool,
    /// With `process.terminal` and no engine's socket: the terminal's
    /// master comes to us, to relay to ours (`run`'s).
    pub relay: bool,
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

/// A container just set up: its first process, its state, the record just
/// written of it, and (with `how.relay`) the socket its terminal's master
/// comes through.
pub struct SetUp {
    pub child: Child,
    pub state: State,
    pub record: Record,
    pub console: Option<ConsoleSocket>,
}

/// Set the container up.
pub fn set_up(
    root: &Path,
    id: &str,
    bundle_dir: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    how: Setup,
) -> Result<SetUp, Failure> {
    let bundle_dir = clean(bundle_dir)?;
    let dir = store::dir(root, id)?;
    let read = || bundle::read(&bundle_dir, id, &crate::seccomp::cache(root));
    let bundle = ch00_process::timings::time(|| "read config.json".into(), read)?;
    // The terminal's master goes to the engine, from the container.
    let own = how.relay && console_socket.is_none() && bundle.process.terminal() == Some(true);
    let console = if own {
        if !ch00_process::console::on_a_terminal() {
            return Err(Failure::new(
                "process.terminal: `run` relays the container's terminal to yours, and this is not one: run it from a terminal, or use create with --console-socket",
            ));
        }
        let pair = ConsoleSocket::new().map_err(|e| Failure::new(format!("socketpair: {e}")))?;
        Some(pair)
    } else {
        crate::process::console(&bundle.process, console_socket).map_err(Failure::new)?
    };
    if dir.exists() {
        return Err(Failure::new(format!("container {id} already exists")));
    }
    let state = State::create_in(root, &bundle.container).map_err(|e| {
        Failure::new(format!("create the state of {id} in {}: {e}", root.display()))
    })?;
    // For a `delete --force` that comes while we work: see `store::open_ending_create`.
    if let Err(e) = store::write_creator(&state) {
        let _ = crate::commands::delete::take_down(state);
        return Err(Failure::new(format!("create the state of {id}: {e}")));
    }
    let (hooks, annotations) = (bundle.hooks.clone(), bundle.annotations.clone());
    match launch_and_record(&state, bundle, &bundle_dir, pid_file, console.as_ref(), how) {
        Ok((child, record)) => Ok(SetUp { child, state, record, console: console.filter(|_| own) }),
        Err(e) => {
            // Without its record, `take_down` knows no hooks: the engine's
            // `poststop` ones run here, as after any delete (the spec's
            // lifecycle goes on to them after a failed create).
            let recorded = store::read(&state).ok().flatten().is_some();
            // Nothing of a half-made container stays: its records say what to take down.
            let _ = crate::commands::delete::take_down(state);
            if let (Some(hooks), false) = (hooks, recorded) {
                let stopped = ContainerState::Stopped;
                let told = hooks::state(id, &bundle_dir, &annotations, stopped, None);
                hooks::run_warning(Kind::Poststop, &hooks, &told);
            }
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
) -> Result<(Child, Record), Failure> {
    let gate = how.gate;
    let (ready_read, ready_write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Failure::new(format!("pipe2: {e}")))?;
    let mut plan = bundle.plan;
    if how.new_keyring {
        let keyring = SessionKeyring(format!("_ses.{}", bundle.container.id));
        plan = plan.insert_before("working directory", keyring);
    }
    let mut plan = match gate {
        Gate::UntilStart => plan.then(WaitForStart::new(state.dir(), ready_write)?),
        Gate::None => plan,
    };
    let mut call = None;
    if let Some(hooks) = bundle.hooks.clone() {
        let container = hook_steps::Container {
            id: bundle.container.id.clone(),
            bundle: bundle_dir.to_owned(),
            annotations: bundle.annotations.clone(),
            hooks,
        };
        let (steps, runtime_call) = hook_steps::steps(container)
            .map_err(|e| Failure::new(format!("a socket for the hooks: {e}")))?;
        plan = steps.add(plan);
        call = runtime_call;
    }
    let container = bundle.container;
    let cx = Context { container: &container, namespaces: plan.namespaces, state, console };
    let launched = launch(&cx, &plan).map_err(|e| Failure::new(e.to_string()))?;
    // Our copies of the pipe and socket ends the child holds go with the
    // plan: they must read end-of-file if the child dies.
    drop(plan);
    let (child, receiver) = launched.into_receiver();
    let ready = (gate == Gate::UntilStart).then_some(&ready_read);
    if let Err(e) = wait_for_set_up(&child, ready, receiver, call.as_ref()) {
        // Whatever stopped it, the process must not outlive the error.
        let _ = send_signal(&child.pidfd, Signal::SIGKILL);
        let _ = reap(&child);
        return Err(e);
    }
    let pid = child.pid.as_raw();
    let record = Record {
        id: container.id.clone(),
        bundle: bundle_dir.to_owned(),
        pid,
        started_at: store::started_at(pid).unwrap_or_default(),
        annotations: bundle.annotations,
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        seccomp: bundle.seccomp,
        hooks: bundle.hooks,
    };
    store::write(state, &record).map_err(|e| Failure::new(format!("write the state: {e}")))?;
    if let Some(file) = pid_file {
        write_pid_file(file, pid)?;
    }
    Ok((child, record))
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

/// Wait until the child is set up: with `ready`, for its "ready" (it then
/// waits for `start`); without, for its command to start. On the way, answer
/// its call for the runtime's hooks. An error if its set-up failed (its
/// report says why) or a hook did.
fn wait_for_set_up(
    child: &Child,
    ready: Option<&OwnedFd>,
    receiver: Receiver,
    mut call: Option<&hook_steps::RuntimeCall>,
) -> Result<(), Failure> {
    loop {
        let mut fds = vec![PollFd::new(receiver.as_fd(), PollFlags::POLLIN)];
        fds.extend(ready.map(|r| PollFd::new(r.as_fd(), PollFlags::POLLIN)));
        fds.extend(call.map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)));
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Failure::new(format!("poll: {errno}"))),
        }
        let fired: Vec<bool> =
            fds.iter().map(|fd| fd.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if let Some(call_now) = call.filter(|_| fired[fired.len() - 1]) {
            if call_now.called() {
                call_now.answer(child.pid.as_raw()).map_err(Failure::from)?;
            } else {
                call = None; // its end closed: the receiver says why
            }
            continue;
        }
        if let Some(ready) = ready.filter(|_| fired[1]) {
            let mut byte = [0u8; 1];
            let mut file = File::from(ready.try_clone().map_err(Failure::from)?);
            if matches!(file.read(&mut byte), Ok(1)) {
                return Ok(());
            }
        } else if !fired[0] {
            continue;
        }
        // The report: end-of-file once the command runs (without a gate,
        // that is what we wait for), or why the set-up failed.
        return match receiver.receive().map_err(|e| Failure::new(e.to_string()))? {
            None if ready.is_none() => Ok(()),
            None => Err(Failure::new("the container's process ended during its set-up")),
            Some(failure) => Err(Failure::new(ch00_process::Error::from(failure).to_string())),
        };
    }
}

/// The PID, as runc writes it (no newline), atomically: engines poll for it.
pub fn write_pid_file(file: &Path, pid: i32) -> Result<(), Failure> {
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    std::fs::write(&partial, pid.to_string())
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|e| Failure::new(format!("write the pid file {}: {e}", file.display())))
}
