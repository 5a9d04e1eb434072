//! `tincan exec [--process FILE | ARGS...] [--detach] [--pid-file F] ID`:
//! start another process in a running container, in its namespaces and
//! cgroups, as the config's `process` says (`--process`: a whole `process`
//! object, as containerd's shim writes one; else the container's own, with
//! other arguments, `--env` and `--cwd`). Detached, the runtime exits and the
//! engine becomes the process's parent; otherwise the runtime waits for it
//! and exits with its status. With `--tty` and no `--console-socket`, the
//! process's terminal is relayed to ours, as `run` does.

use std::path::{Path, PathBuf};

use ch00_process::console::{ConsoleSocket, Relay};
use ch00_process::signals::Signals;
use ch00_process::supervise::supervise;
use ch00_process::{Container, Context, DEFAULT_STOP_TIMEOUT, Plan, State, launch};
use ch03_mount::Console;
use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};

use crate::join::JoinContainer;
use crate::lifecycle::Status;
use crate::process_steps::{NewSession, Outlive};
use crate::{Failure, process, seccomp, store};

/// What `exec` was asked.
pub struct Exec<'a> {
    pub process: Option<&'a Path>,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: Option<&'a Path>,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    /// A terminal (`--tty`, or the process file's `terminal`) goes here.
    pub tty: bool,
    pub console_socket: Option<&'a Path>,
}

pub fn exec(root: &Path, id: &str, asked: &Exec) -> Result<u8, Failure> {
    // Held back from here on, and forwarded to the process once it runs.
    let mut signals = Signals::block().map_err(|e| Failure::new(format!("block signals: {e}")))?;
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Failure::new(format!("cannot exec in a container that is {status}")));
    }
    let record = record.expect("a running container has its record");
    let mut process = process_of(asked, &record.bundle)?;
    if asked.tty {
        process.set_terminal(Some(true));
    }
    process::refuse_unsupported(&process)?;
    // A terminal with no engine to take it: in the foreground, ours relays to
    // the process's, as `run` does (and runc's `exec -t`).
    let relayed =
        process.terminal() == Some(true) && asked.console_socket.is_none() && !asked.detach;
    let console = if relayed {
        if !ch00_process::console::on_a_terminal() {
            return Err(Failure::new(
                "--tty: exec relays the process's terminal to yours, and this is not one: run it from a terminal, or give --console-socket",
            ));
        }
        Some(ConsoleSocket::new().map_err(|e| Failure::new(format!("socketpair: {e}")))?)
    } else {
        process::console(&process, asked.console_socket).map_err(Failure::new)?
    };
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(Failure::new("no command to execute"));
    }
    let pidfd = crate::commands::kill::pidfd(record.pid, record.started_at)?;
    let join = JoinContainer::new(pidfd, record.pid).map_err(Failure::new)?;
    join.join_pid_namespace().map_err(Failure::new)?;
    let mut container = Container::new(state.container()?.rootfs, args);
    container.env = process.env().clone().unwrap_or_default();
    // A terminal from the container's own devpts, once in its mount
    // namespace (in a session of its own); without one, a session anyway.
    let joined = Plan::new().then(join);
    let joined = if console.is_some() { joined.then(Console) } else { joined.then(NewSession) };
    let mut plan = process::steps(joined, &process, process::Cwd::MustExist)?;
    if asked.detach {
        plan = plan.then(Outlive);
    }
    // The container's filter, as it was at `create`, binds every process in
    // it, as in runc.
    if let Some(asked) = &record.seccomp {
        let filter = seccomp::compile(asked, &seccomp::cache(root))
            .map_err(|e| Failure::new(e.to_string()))?;
        plan = seccomp::install(plan, filter, process.no_new_privileges() == Some(true));
    }
    // The process's own state, for the steps' records (they make none on the
    // host: what it joins is the container's), in the container's directory.
    let own = State::create_in(&state.dir().join("execs"), &container)
        .map_err(|e| Failure::new(format!("the exec's state: {e}")))?;
    let cx = Context {
        container: &container,
        namespaces: plan.namespaces,
        state: &own,
        console: console.as_ref(),
    };
    let launched = launch(&cx, &plan);
    drop(plan);
    let child = launched.and_then(|launched| {
        let (child, receiver) = launched.into_receiver();
        match receiver.receive()? {
            None => Ok(child),
            Some(failure) => Err(failure.into()),
        }
    });
    let _ = own.remove();
    let child = child.map_err(|e| Failure::new(e.to_string()))?;
    if let Some(file) = asked.pid_file {
        crate::commands::create::write_pid_file(file, child.pid.as_raw())?;
    }
    // The container's lock, not held while the process runs: the engine
    // may `kill` or `state` meanwhile.
    drop(state);
    if asked.detach {
        return Ok(0);
    }
    let relay =
        console.as_ref().filter(|_| relayed).and_then(ConsoleSocket::receive).map(Relay::start);
    let relay = match relay.transpose() {
        Ok(relay) => relay,
        Err(e) => {
            let _ = ch00_process::clone::send_signal(&child.pidfd, Signal::SIGKILL);
            let _ = ch00_process::supervise::reap(&child);
            return Err(Failure::new(format!("relay the process's terminal: {e}")));
        }
    };
    let (exit, why) = supervise(&child, &mut signals, DEFAULT_STOP_TIMEOUT, relay)?;
    // (Forwarded a stop signal that it ignored, it was killed after the
    // timeout: say so.)
    if let Some(why) = why {
        eprintln!("tincan: {why}");
    }
    Ok(exit.code())
}

/// The `process` to run: the file's, or the container's own with the
/// arguments, environment and working directory asked.
fn process_of(asked: &Exec, bundle: &Path) -> Result<Process, Failure> {
    if let Some(file) = asked.process {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::new(format!("read {}: {e}", file.display())))?;
        return serde_json::from_str(&text)
            .map_err(|e| Failure::new(format!("{}: not a process: {e}", file.display())));
    }
    let config = bundle.join("config.json");
    let spec =
        Spec::load(&config).map_err(|e| Failure::new(format!("{}: {e}", config.display())))?;
    let mut process =
        spec.process().clone().ok_or_else(|| Failure::new("the bundle has no process"))?;
    process.set_args(Some(asked.args.to_vec()));
    // A terminal only if `--tty` asks, whatever the container's first had.
    process.set_terminal(None);
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(asked.env.iter().cloned());
    process.set_env(Some(env));
    if let Some(cwd) = asked.cwd {
        process.set_cwd(PathBuf::from(cwd));
    }
    Ok(process)
}
