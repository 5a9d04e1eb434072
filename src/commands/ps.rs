//! `tincan ps [--format table|json] ID`: the container's processes, as the
//! host numbers them (containerd's shim asks for them as JSON).

use std::path::Path;

use crate::commands::list::Format;
use crate::{Failure, store};

pub fn ps(root: &Path, id: &str, format: Format) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    let pids = match (&record, status) {
        (Some(record), crate::lifecycle::Status::Created | crate::lifecycle::Status::Running) => {
            in_namespace_of(record.pid)
        }
        _ => Vec::new(),
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string(&pids).expect("numbers")),
        Format::Table => {
            println!("PID");
            pids.iter().for_each(|pid| println!("{pid}"));
        }
    }
    Ok(())
}

/// Every process in the PID namespace that `init` is PID 1 of, `init` first.
pub fn in_namespace_of(init: i32) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else { return Vec::new() };
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns))
        .collect();
    pids.sort_by_key(|pid| (*pid != init, *pid));
    pids
}
