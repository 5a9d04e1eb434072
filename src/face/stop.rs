//! `tincan stop [-t SECONDS] CONTAINER...`: SIGTERM, then SIGKILL to every
//! process of the container if it has not ended in time — as `docker stop`.
//! A container's first process is its PID namespace's init, which the
//! kernel does not end for a signal it has no handler for: a shell there
//! ignores SIGTERM, and only the SIGKILL ends it.

use std::time::Duration;

use super::ended;
use super::store::{Containers, Record};
use crate::Failure;
use crate::lifecycle::Status;

/// How long the SIGKILL may take to show: the kernel's, not the program's.
const AFTER_KILL: Duration = Duration::from_secs(10);

pub fn stop(names: &[String], timeout: u64) -> Result<(), Failure> {
    super::each(names, |containers, record| {
        stop_one(containers, record, timeout)?;
        // The others on its network forget its name.
        super::network::tell(containers, record)
    })
}

/// Stop the container of `record`, if it runs; wait for its supervisor to
/// record the end.
pub fn stop_one(containers: &Containers, record: &Record, timeout: u64) -> Result<(), Failure> {
    let (root, dir) = (&record.oci_root, containers.dir(&record.id));
    let live = matches!(
        super::oci_status(root, &record.id),
        Some(Status::Created | Status::Running | Status::Paused)
    );
    if !live {
        return Ok(());
    }
    // A paused container cannot take a signal until thawed: it is stopped
    // by the SIGKILL, which the freezer lets through.
    if super::oci_status(root, &record.id) != Some(Status::Paused) {
        let _ = crate::commands::kill::kill(root, &record.id, "TERM", false);
        if ended::wait_for_end(&dir, root, &record.id, Duration::from_secs(timeout)) {
            return Ok(());
        }
    }
    let _ = crate::commands::kill::kill(root, &record.id, "KILL", true);
    match ended::wait_for_end(&dir, root, &record.id, AFTER_KILL) {
        true => Ok(()),
        false => Err(Failure::new(format!("{} did not end after SIGKILL", record.name))),
    }
}
