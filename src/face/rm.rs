//! `tincan rm [-f] CONTAINER...`: remove a container that has ended — its
//! OCI state, its directory (logs, upper layer) and its name. With `-f`, a
//! running one is killed first.

use std::time::Duration;

use super::store::{Containers, Record};
use crate::Failure;
use crate::lifecycle::Status;

/// How long a supervisor may still be writing once its container has ended
/// (it drains the pipes for at most a second).
const SUPERVISOR_DONE: Duration = Duration::from_secs(15);

pub fn rm(names: &[String], force: bool) -> Result<(), Failure> {
    super::each(names, |containers, record| rm_one(containers, record, force))
}

/// Remove the container `id` if it is still there, saying nothing: `run
/// --rm` in the foreground, and a detached one's supervisor, may both get
/// there first.
pub fn rm_if_there(containers: &Containers, id: &str) -> Result<(), Failure> {
    match containers.find(id) {
        Ok(record) if record.id == id => rm_one(containers, &record, true),
        _ => Ok(()),
    }
}

/// `rm -f` of one container (`system prune`'s).
pub fn rm_force(containers: &Containers, record: &Record) -> Result<(), Failure> {
    rm_one(containers, record, true)
}

fn rm_one(containers: &Containers, record: &Record, force: bool) -> Result<(), Failure> {
    let root = &record.oci_root;
    match super::oci_status(root, &record.id) {
        Some(Status::Created | Status::Running | Status::Paused) if !force => {
            return Err(Failure::new(format!(
                "container {} is running: stop it first (tincan stop {}), or remove it with -f",
                record.name, record.name
            )));
        }
        Some(Status::Created | Status::Running | Status::Paused) => {
            // No grace: -f kills.
            super::stop::stop_one(containers, record, 0)?;
        }
        _ => {}
    }
    let dir = containers.dir(&record.id);
    // Ended; its supervisor may still be writing how.
    if !super::ended::wait_for_end(&dir, root, &record.id, SUPERVISOR_DONE) {
        return Err(Failure::new(format!(
            "the supervisor of {} is still at work after {SUPERVISOR_DONE:?}: try again",
            record.name
        )));
    }
    // The core's part: cgroups, state. Gone already if the supervisor's
    // exit command ran.
    crate::commands::delete::delete(root, &record.id, true)?;
    containers.discard(&record.id)?;
    containers.release(&record.name, &record.id);
    // The others on its network forget its name.
    super::network::tell(containers, record)
}
