//! `tincan delete [--force] ID`: take down what is left of a container.

use std::path::Path;
use std::time::{Duration, Instant};

use ch00_process::{Context, State, cleanup};

use oci_spec::runtime::ContainerState;

use crate::hooks::{self, Kind};
use crate::lifecycle::Status;
use crate::{Failure, bundle, store};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Failure> {
    let open = if force { store::open_ending_create } else { store::open };
    let state = match open(root, id) {
        Ok(state) => state,
        // runc: deleting what is not there, with --force, is not an error.
        Err(e) if force && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Failure::new(e.to_string())),
    };
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    if let (Some(record), true) = (&record, status != Status::Stopped) {
        if !force {
            status.may_delete()?;
        }
        // A frozen process cannot die: thaw it first.
        if status == Status::Paused {
            crate::freezer::set(&state, false).map_err(Failure::new)?;
        }
        // A created container never ran its command: ending it is deleting it.
        end(record.pid, record.started_at)?;
    }
    take_down(state)
}

/// Kill the container's process and wait until it is gone (in a PID
/// namespace of its own, the kernel kills the rest; in a joined one,
/// [`take_down`] does).
fn end(pid: i32, started_at: u64) -> Result<(), Failure> {
    // Gone already (it may end by itself this very moment): nothing to kill.
    let _ = crate::commands::kill::signal_process(pid, started_at, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store::started_at(pid) == Some(started_at) && !zombie_or_gone(pid) {
        if Instant::now() > deadline {
            return Err(Failure::new(format!("the container's process {pid} did not die")));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn zombie_or_gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')').and_then(|at| stat.get(at + 2..at + 3)).is_none_or(|s| s == "Z")
}

/// Run the steps' clean-up over the state's records, then remove the state.
pub fn take_down(state: State) -> Result<(), Failure> {
    let container = state.container().map_err(|e| Failure::new(format!("read the state: {e}")))?;
    // Read now: it goes with the state. (None if `create` failed before it
    // was written.)
    let record = store::read(&state).ok().flatten();
    crate::freezer::kill_the_rest(&state);
    let plan = ch00_process::timings::time(|| "cleanup plan".into(), bundle::cleanup_plan);
    let cx = Context {
        container: &container,
        namespaces: plan.namespaces,
        state: &state,
        console: None,
    };
    cleanup(&cx, &plan).map_err(|e| Failure::new(e.to_string()))?;
    // Our own files are not records: the FIFO and runtime-state go with the directory.
    let dir = state.dir().to_owned();
    ch00_process::timings::time(|| "remove state".into(), || state.remove()).map_err(|left| {
        Failure::new(format!(
            "{} still records {}: run `tincan delete` again",
            dir.display(),
            left.join(", ")
        ))
    })?;
    // The container is gone: the engine's `poststop` hooks.
    if let Some(record) = record {
        hooks::run_recorded(Kind::Poststop, &record, ContainerState::Stopped, None);
    }
    Ok(())
}
