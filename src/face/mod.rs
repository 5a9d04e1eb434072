//! The docker-style face: `tincan run IMAGE`, `ps`, `logs`, `stop`, `rm` —
//! the commands people type, on the OCI core that engines drive.
//!
//! Nothing here sets a container up itself. `run` writes an OCI bundle for
//! the image (its config names the image, see [`crate::image_root`]) and
//! has `tincan-supervisor` run tincan's own `create` on it, then `start`s
//! it; `stop` and `rm` are the core's `kill` and `delete`. So the face is an
//! engine, like podman: what it can do, an engine can do with tincan.

pub mod attach;
pub mod bundle;
pub mod cleanup;
pub mod ended;
pub mod inspect;
pub mod logs;
pub mod network;
pub mod proxy;
pub mod prune;
pub mod ps;
pub mod rm;
pub mod run;
pub mod stop;
pub mod store;
pub mod volume;

use std::path::Path;

use crate::Failure;
use crate::lifecycle::Status;
use store::{Containers, Record};

/// Do `what` to each container `names` names, as Docker's commands do:
/// print each name done, go on past one that fails, and fail at the end
/// with every failure.
pub fn each(
    names: &[String],
    what: impl Fn(&Containers, &Record) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let containers = Containers::new(&ch08_images::store::default_root());
    said(names.iter().map(|name| {
        let done = containers.find(name).and_then(|r| what(&containers, &r));
        (name, done.map_err(|e| Failure::new(format!("{name}: {}", e.0))))
    }))
}

/// Print each name whose work is done, as it is done, and fail at the end
/// with every failure (Docker's way with a list of names).
pub fn said<'a>(
    results: impl Iterator<Item = (&'a String, Result<(), Failure>)>,
) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => failed.push(e.0),
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Failure::new(failed.join("; "))),
    }
}

/// The container an OCI command names: `id` under `root` if the core has it
/// there (engines name theirs so, and pay nothing more); else a container of
/// the face's that `id` names (its name, or the start of its id) — one the
/// face created under this same `root`, so that an engine's command for a
/// container of its own that is gone never reaches one of the face's. Else
/// `id` as given, for the core to say it does not exist.
pub fn resolve(root: &Path, id: &str) -> String {
    if crate::store::dir(root, id).is_ok_and(|dir| dir.exists()) {
        return id.to_owned();
    }
    match Containers::new(&ch08_images::store::default_root()).find(id) {
        Ok(record) if record.oci_root == root => record.id,
        _ => id.to_owned(),
    }
}

/// Did `tincan run IMAGE` make container `id`?
pub fn made_by_the_face(id: &str) -> bool {
    Containers::new(&ch08_images::store::default_root()).has(id)
}

/// The OCI core's status of container `id` under `root`; `None` if the core
/// has no such container (deleted, or never created).
pub fn oci_status(root: &Path, id: &str) -> Option<Status> {
    oci(root, id).map(|(status, _)| status)
}

/// The same, and when the core created it (RFC 3339). A container the core
/// is still creating is waited for: the face's own `run` is making it, and
/// no hook of the face's asks.
pub fn oci(root: &Path, id: &str) -> Option<(Status, Option<String>)> {
    let state = crate::store::open_after_create(root, id).ok()?;
    let record = crate::store::read(&state).ok()?;
    let status = crate::store::status(&state, record.as_ref());
    Some((status, record.map(|r| r.created)))
}
