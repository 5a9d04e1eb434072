//! `tincan state ID`: the container's state, as the OCI runtime spec defines
//! it (`runtime.md`, "State"), in JSON.

use std::path::Path;

use serde::Serialize;

use crate::lifecycle::Status;
use crate::{Failure, store};

/// The spec's state, and what runc adds that engines read (`created`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    oci_version: &'static str,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: String,
    rootfs: String,
    pub created: String,
    /// Who made the container (runc reports it; engines show it).
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    annotations: std::collections::HashMap<String, String>,
}

pub fn state(root: &Path, id: &str) -> Result<(), Failure> {
    let oci = of(root, id)?;
    let json = serde_json::to_string_pretty(&oci).map_err(|e| Failure::new(e.to_string()))?;
    println!("{json}");
    Ok(())
}

/// The state of container `id`, as `state` prints it and `list` lists it.
pub fn of(root: &Path, id: &str) -> Result<OciState, Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    let Some(record) = record else {
        // Locked by us with no record: the `create` that made it died
        // before the end (one still running would hold the lock).
        return Err(Failure::new(format!(
            "container {id} was never created to the end (its create died): delete it"
        )));
    };
    let container = state.container().map_err(|e| Failure::new(e.to_string()))?;
    // A stopped container has no process: the spec says the pid is then absent,
    // runc says 0.
    let pid = if status == Status::Stopped { 0 } else { record.pid };
    Ok(OciState {
        oci_version: oci_spec::runtime::VERSION,
        id: record.id,
        status,
        pid,
        bundle: record.bundle.display().to_string(),
        rootfs: container.rootfs.display().to_string(),
        created: record.created,
        owner: owner(state.dir()),
        annotations: record.annotations,
    })
}

/// The name of the user who owns the container's state, as runc reports it.
fn owner(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else { return String::new() };
    let uid = nix::unistd::Uid::from_raw(meta.uid());
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => meta.uid().to_string(),
    }
}
