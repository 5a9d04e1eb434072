//! `tincan system prune`: remove every container of the face's that is not
//! running, and whatever a killed `run`, supervisor or runtime left behind.
//!
//! What can be left, and how it is found:
//!
//! - a container that ended, or was created and never started (its `run`
//!   killed): its record says where its OCI state is; `rm -f` takes it all
//!   (the core's `delete --force` takes down the cgroups, mounts and veths
//!   its state recorded);
//! - a directory with no record yet (a `run` killed before it wrote one),
//!   marked as the face's (chapter 8's own containers live beside them):
//!   the core may hold a state by that id, which goes first; and one a `run`
//!   was still making (`containers/.making-ID`), or the directory of a
//!   terminal's socket it had not removed yet (`containers/.console-XXXXXX`);
//! - a name whose container is gone;
//! - an OCI state made for a face container that has no record (its `run`
//!   gave up on it, or was killed), and what is left of its directory;
//! - an OCI state a killed `create` was still writing (`ROOT/.new-ID`).
//!
//! It holds the store's lock on making containers, so a `run` that is
//! making one meanwhile waits, and is never mistaken for a killed one; and
//! it leaves alone a container a `run` is attached to (`-it`, or following
//! its output in the foreground).

use std::path::Path;

use super::store::Containers;
use crate::Failure;
use crate::lifecycle::Status;

pub fn prune(root: &Path) -> Result<(), Failure> {
    // Opened as `run` opens it (made, the first time).
    let store = ch08_images::store::Store::open(ch08_images::store::default_root())?;
    let containers = Containers::new(store.root());
    let _making = containers.making(true)?;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for id in containers.ids() {
        let done = match containers.find(&id).ok().filter(|r| r.id == id) {
            Some(record) => {
                // A `run` attached to it (`-it`, or following it) has it.
                let Ok(_attached) = containers.attached(&id, false) else { continue };
                match super::oci_status(&record.oci_root, &id) {
                    // Docker's prune leaves running (and paused) ones alone.
                    Some(Status::Running | Status::Paused) => continue,
                    _ => super::rm::rm_force(&containers, &record),
                }
            }
            // Chapter 8's `run IMAGE` keeps its containers here too: only a
            // directory the face marked is the face's to take.
            None if containers.marked(&id) => half_made(&containers, root, &id),
            None => continue,
        };
        match done {
            Ok(()) => removed.push(id),
            Err(e) => failed.push(format!("{id}: {}", e.0)),
        }
    }
    for dir in containers.unfinished_dirs() {
        // An `rm` may be removing it at the same time: gone is gone.
        match std::fs::remove_dir_all(&dir) {
            Err(e) if dir.exists() => failed.push(format!("{}: {e}", dir.display())),
            _ => {}
        }
    }
    for (name, id) in containers.names() {
        if !containers.dir(&id).exists() {
            containers.release(&name, &id);
        }
    }
    orphaned_states(&containers, root, &mut removed, &mut failed);
    unfinished_states(root, &mut removed, &mut failed);
    println!("Deleted Containers:");
    for id in removed {
        println!("{id}");
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Failure::new(failed.join("; "))),
    }
}

/// A directory a killed `run` left before writing its record: the core's
/// state by that id (under `root`, where that `run` would have made it),
/// then the directory.
fn half_made(containers: &Containers, root: &Path, id: &str) -> Result<(), Failure> {
    crate::commands::delete::delete(root, id, true)?;
    containers.discard(id)
}

/// The core's states under `root` made for a face container whose
/// directory is gone: deleted, with what they recorded on the host.
fn orphaned_states(
    containers: &Containers,
    root: &Path,
    removed: &mut Vec<String>,
    failed: &mut Vec<String>,
) {
    let entries = std::fs::read_dir(root).into_iter().flatten().flatten();
    for entry in entries {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(state) = crate::store::open(root, &id) else { continue };
        // Chapter 0's record of the container, written first of all: its
        // root is the face's `containers/ID/rootfs` if the face made it.
        let rootfs = state.container().ok().map(|c| c.rootfs);
        drop(state);
        let face_made = rootfs.is_some_and(|r| r == containers.dir(&id).join("rootfs"));
        // Every face container has its record while it lives (but while a
        // `run` makes it, under the lock we hold).
        if face_made && !containers.has(&id) {
            let done = crate::commands::delete::delete(root, &id, true)
                .and_then(|()| containers.discard(&id));
            match done {
                Ok(()) => removed.push(id),
                Err(e) => failed.push(format!("{id}: {}", e.0)),
            }
        }
    }
}

/// `ROOT/.new-ID`: a state a `create` was writing when it was killed
/// (chapter 0's `State::create_in` renames it to `ID` once written, before
/// anything is made on the host). Its lock free, nobody is writing it. One
/// with no lock file yet may be a `create` about to make it, for the instant
/// between `mkdir` and `open`; older than a second, it is one killed there.
/// (Chapter 0's own `cleanup` waits a minute: it runs unasked, at every start.)
fn unfinished_states(root: &Path, removed: &mut Vec<String>, failed: &mut Vec<String>) {
    use nix::fcntl::{Flock, FlockArg};
    let entries = std::fs::read_dir(root).into_iter().flatten().flatten();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix(".new-") else { continue };
        let dir = entry.path();
        let free = match std::fs::OpenOptions::new().write(true).open(dir.join("lock")) {
            Ok(file) => Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok(),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 1)),
        };
        if free {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => removed.push(id.to_owned()),
                Err(e) => failed.push(format!("{}: {e}", dir.display())),
            }
        }
    }
}
