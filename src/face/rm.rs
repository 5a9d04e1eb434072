//! `tincan rm [-f] CONTAINER...`: remove a container that has ended — its
//! OCI state, its directory (logs, upper layer) and its name. With `-f`, a
//! running one is killed first.

use std::path::Path;

use ch08_images::store::default_root;

use super::store::{Containers, Record};
use crate::Failure;
use crate::lifecycle::Status;

pub fn rm(root: &Path, names: &[String], force: bool) -> Result<(), Failure> {
    let containers = Containers::new(&default_root());
    let mut failed = Vec::new();
    for name in names {
        match containers.find(name).and_then(|r| rm_one(root, &containers, &r, force)) {
            Ok(()) => println!("{name}"),
            Err(e) => failed.push(format!("{name}: {}", e.0)),
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Failure::new(failed.join("; "))),
    }
}

/// Remove the container `id`, which has ended, saying nothing (`run --rm`).
pub fn rm_quietly(root: &Path, containers: &Containers, id: &str) -> Result<(), Failure> {
    let record = containers.find(id)?;
    rm_one(root, containers, &record, false)
}

fn rm_one(
    root: &Path,
    containers: &Containers,
    record: &Record,
    force: bool,
) -> Result<(), Failure> {
    match super::oci_status(root, &record.id) {
        Some(Status::Created | Status::Running | Status::Paused) if !force => {
            return Err(Failure::new(format!(
                "container {} is running: stop it first (tincan stop {}), or remove it with -f",
                record.name, record.name
            )));
        }
        Some(Status::Created | Status::Running | Status::Paused) => {
            // No grace: -f kills.
            super::stop::stop_one(root, containers, record, 0)?;
        }
        _ => {}
    }
    // The core's part: cgroups, state. Gone already if the supervisor's
    // exit command ran.
    crate::commands::delete::delete(root, &record.id, true)?;
    let dir = containers.dir(&record.id);
    // remove_dir_all does not follow symbolic links: `lower/0` goes, not
    // the layer it names.
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Failure::new(format!("remove {}: {e}", dir.display())));
        }
        _ => {}
    }
    containers.release(&record.name, &record.id);
    Ok(())
}
