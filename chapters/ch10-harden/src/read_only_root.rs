//! `--read-only`: a root file system the container cannot change.
//!
//! An image's files are its program; a container that can rewrite them (drop a
//! binary in `/usr/bin`, edit `/etc/passwd`) keeps what an attacker put there
//! for as long as it runs. With `--read-only` the root mount is made read-only
//! once everything is mounted into it, as Docker does: what must stay writable
//! is on mounts of its own and stays so — `/dev` and `/dev/shm` (tmpfs),
//! `/proc`, `/dev/mqueue`, the network's `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf`. Anything else the program writes needs a volume.
//!
//! `MS_RDONLY` on a bind-remount changes only this mount (`man 2 mount`,
//! "Creating a bind mount"): the overlay beneath, and chapter 8's upper
//! directory, stay as they were.

use ch00_process::{Context, Step, StepError};

use crate::paths::remount_read_only;

/// Remount `/` read-only, after every mount into it and before the user switch.
pub struct ReadOnlyRoot;

impl Step for ReadOnlyRoot {
    fn name(&self) -> &'static str {
        "read-only root"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        remount_read_only("/")
    }
}
