//! `tincan run -it IMAGE` (or `-i`, or `-t`): a container attached to your
//! terminal, or to your stdin, for as long as it runs. No supervisor: the
//! core's own OCI `run` on the face's bundle creates it, relays its terminal
//! (chapter 0's relay), forwards your signals to it, and deletes it when it
//! ends. What it prints goes to you, not to `logs`. How it ended is written
//! where a supervisor would have written it, so that `ps -a` and `inspect`
//! show it like any other.

use std::path::Path;

use tincan_supervisor::exit::Exit;

use super::store::{Containers, Record};
use crate::Failure;

/// Run the container `record` (its bundle in its directory) attached; its
/// status. The caller holds its `attached` lock.
pub fn run(
    root: &Path,
    containers: &Containers,
    record: &Record,
    remove: bool,
) -> Result<u8, Failure> {
    let dir = containers.dir(&record.id);
    let pid_file = dir.join(tincan_supervisor::PID_FILE);
    // Once it runs, its network's other members learn its name (and it theirs).
    let named = || {
        let _ = super::network::tell(containers, record);
    };
    let ran = crate::commands::run::run_then(root, &record.id, &dir, Some(&pid_file), true, &named);
    let code = match ran {
        Ok(code) => code,
        Err(e) => {
            let _ = super::rm::rm_force(containers, record);
            return Err(e);
        }
    };
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse().ok());
    let finished_at = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let exit = Exit { pid: pid.unwrap_or(0), status: code.into(), signal: None, finished_at };
    exit.write(&dir).map_err(|e| Failure::new(format!("write {}: {e}", dir.display())))?;
    if remove {
        super::rm::rm_if_there(containers, &record.id)?;
    } else {
        super::network::tell(containers, record)?;
    }
    Ok(code)
}
