//! `tincan inspect NAME`: what a container is, as JSON in the shape of
//! `docker inspect` (an array, one object per container; the fields people
//! look up most: `State`, `Config`, `HostConfig`, `Mounts`, `LogPath`).

use serde_json::{Value, json};
use tincan_supervisor::exit::Exit;

use super::store::{Containers, Record};
use crate::Failure;
use crate::lifecycle::Status;

/// The JSON of the container `record` describes.
pub fn inspect(containers: &Containers, record: &Record) -> Result<Value, Failure> {
    let dir = containers.dir(&record.id);
    let config_path = dir.join("config.json");
    let config: Value = std::fs::read(&config_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Failure::new(format!("{}: missing or damaged", config_path.display())))?;
    let process = &config["process"];
    let resources = &config["linux"]["resources"];
    let (path, args) = record.command.split_first().map_or(("", &[][..]), |(p, a)| (p, a));
    Ok(json!({
        "Id": record.id,
        "Name": record.name,
        "Created": record.created,
        "Path": path,
        "Args": args,
        "State": state(record, &dir),
        "Image": record.image_id,
        "LogPath": dir.join(tincan_supervisor::LOG_FILE),
        "Config": {
            "Hostname": config["hostname"],
            "User": format!("{}:{}", process["user"]["uid"], process["user"]["gid"]),
            "Env": process["env"],
            "Cmd": record.command,
            "Image": record.image,
            "WorkingDir": process["cwd"],
        },
        "HostConfig": {
            "AutoRemove": record.remove,
            "Binds": record.mounts.iter().map(|m| {
                let source = m.volume.clone().unwrap_or_else(|| m.source.display().to_string());
                let mode = if m.read_only { ":ro" } else { "" };
                format!("{source}:{}{mode}", m.destination.display())
            }).collect::<Vec<_>>(),
            // Docker's units: bytes, billionths of a CPU, and 0 for no limit.
            "Memory": resources["memory"]["limit"].as_u64().unwrap_or(0),
            "NanoCpus": resources["cpu"]["quota"].as_i64().map_or(0, |q| q * 10_000),
            "PidsLimit": resources["pids"]["limit"].as_i64().unwrap_or(0),
            "Capabilities": process["capabilities"]["bounding"],
        },
        "Mounts": record.mounts.iter().map(|m| json!({
            "Type": if m.volume.is_some() { "volume" } else { "bind" },
            "Name": m.volume,
            "Source": m.source,
            "Destination": m.destination,
            "RW": !m.read_only,
        })).collect::<Vec<_>>(),
    }))
}

/// `State`: the core's status, and how it ended once it has.
fn state(record: &Record, dir: &std::path::Path) -> Value {
    let exit = Exit::read(dir).ok().flatten();
    let oci = crate::store::open_after_create(&record.oci_root, &record.id)
        .ok()
        .and_then(|state| crate::store::read(&state).ok().flatten().map(|r| (state, r)));
    let (status, pid) = match &oci {
        Some((state, r)) => (crate::store::status(state, Some(r)), r.pid),
        None => (Status::Stopped, 0),
    };
    let word = match (status, &exit) {
        (_, Some(_)) | (Status::Stopped, None) => "exited",
        (Status::Running, None) => "running",
        (Status::Paused, None) => "paused",
        (Status::Created | Status::Creating, None) => "created",
    };
    let live = exit.is_none() && matches!(status, Status::Running | Status::Paused);
    json!({
        "Status": word,
        "Running": live,
        "Paused": live && status == Status::Paused,
        "Pid": if live { pid } else { 0 },
        "ExitCode": exit.as_ref().map_or(0, |e| e.status),
        "FinishedAt": exit.map(|e| e.finished_at),
    })
}
