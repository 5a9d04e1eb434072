//! Waiting for a container's first process to end: what `stop` and `rm -f`
//! wait for.

use std::path::Path;
use std::time::{Duration, Instant};

use tincan_supervisor::exit::Exit;

use crate::lifecycle::Status;

/// How often to look.
const POLL: Duration = Duration::from_millis(20);

/// Has the container `id` ended, and is all of it written: its supervisor
/// done (`exit.json` in `dir`, its lock let go), or — its supervisor killed
/// — the core sees its process gone? Waiting at most `timeout`.
pub fn wait_for_end(dir: &Path, root: &Path, id: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let live = matches!(
            super::oci_status(root, id),
            Some(Status::Created | Status::Running | Status::Paused)
        );
        let recorded = matches!(Exit::read(dir), Ok(Some(_)));
        if !tincan_supervisor::alive(dir) && (recorded || !live) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}
