//! `tincan run --bundle B ID`: create, start, wait for the command to end,
//! delete; exit with the command's status.

use std::path::Path;

use ch00_process::DEFAULT_STOP_TIMEOUT;
use ch00_process::signals::Signals;
use ch00_process::supervise::supervise;

use crate::Failure;
use crate::commands::{create, delete, start};

pub fn run(root: &Path, id: &str, bundle: &Path, pid_file: Option<&Path>) -> Result<u8, Failure> {
    // Held back from here on, and forwarded to the container once it runs
    // (chapter 0's supervision): a Ctrl-C must reach the command, not end the
    // runtime half-way.
    let mut signals = Signals::block().map_err(|e| Failure::new(format!("block signals: {e}")))?;
    let child = create::create(root, id, bundle, pid_file, None)?;
    let ended = start::start(root, id).and_then(|()| {
        supervise(&child, &mut signals, DEFAULT_STOP_TIMEOUT, None).map_err(Failure::from)
    });
    let deleted = delete::delete(root, id, true);
    let (exit, _why) = ended?;
    deleted?;
    Ok(exit.code())
}
