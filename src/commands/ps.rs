//! `tincan ps [--format table|json] ID`: the container's processes (those
//! of its cgroup), as the host numbers them (containerd's shim asks for them
//! as JSON).

use std::path::Path;

use crate::commands::list::Format;
use crate::{Failure, store};

pub fn ps(root: &Path, id: &str, format: Format) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    let pids = match (&record, status) {
        (Some(record), crate::lifecycle::Status::Created | crate::lifecycle::Status::Running) => {
            crate::freezer::processes(&state, record.pid)
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
