//! `tincan start ID`: let a created container run its command.

use std::path::Path;

use oci_spec::runtime::ContainerState;

use crate::hooks::{self, Kind};
use crate::{Failure, gate, store};

pub fn start(root: &Path, id: &str) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    store::status(&state, record.as_ref()).may_start()?;
    let record = record.expect("a created container has its record");
    let process = crate::commands::kill::pidfd(record.pid, record.started_at)?;
    gate::release(state.dir(), &process).map_err(|e| Failure::new(format!("start {id}: {e}")))?;
    // The FIFO gone is what says "running" from now on.
    std::fs::remove_file(state.dir().join(gate::FIFO))
        .map_err(|e| Failure::new(format!("remove {}: {e}", gate::FIFO)))?;
    // The command runs: the engine's `poststart` hooks, before we return —
    // unlocked, for a hook may ask us about the container.
    drop(state);
    hooks::run_recorded(Kind::Poststart, &record, ContainerState::Running, Some(record.pid));
    Ok(())
}
