//! Claims: an address on a bridge, a port on the host, held by one container.
//!
//! A claim is a file named after what it claims (`STATE/net/tincan0/10.89.0.2`,
//! `STATE/ports/tcp/8080`) that holds the container's id, and that the runtime
//! keeps locked (`flock(2)`) while the container lives. It is made complete —
//! written and locked — under a name of its own, then given its real name with
//! `link(2)`, which fails if that name exists: of several runtimes claiming at
//! once, the kernel lets exactly one succeed, and no one ever sees a claim
//! half-made. The kernel drops the lock when the runtime dies, however it
//! dies; so an unlocked claim belongs to a dead runtime. It is not free yet,
//! though: what that container made with it (a port's forwarding rules) may still
//! be on the host. Its clean-up removes the claim; only a claim whose container
//! has no state left at all is taken back here. (An OCI runtime's `create` exits
//! while its container lives on: its claims are unlocked from the start, and
//! held by the state directory the claim names, until `delete` removes it.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// A claim held by this runtime. Dropping it (or the runtime's death) only
/// unlocks the file; the clean-up removes it ([`release_if_owned`]), after what
/// the claim was for is gone.
#[derive(Debug)]
pub struct Claim {
    _lock: Flock<File>,
}

/// Who holds a claim we could not take.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    /// A running container.
    Alive(String),
    /// A container whose runtime died and whose leftovers are not cleaned up.
    Dead(String),
}

impl Claim {
    /// Claim `path` for container `owner`, whose state directory is `state`,
    /// unless someone holds it.
    pub fn take(path: &Path, owner: &str, state: &Path) -> io::Result<Result<Claim, Holder>> {
        let dir = path.parent().expect("a claim is in a directory");
        fs::create_dir_all(dir)?;
        let name = path.file_name().expect("a claim has a name").to_string_lossy();
        let partial = dir.join(format!(".{name}.{}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&partial)?;
        let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io::Error::from(e))?;
        // Absolute: a runtime elsewhere reads it (`--root` may be relative).
        let state = std::path::absolute(state)?;
        writeln!(lock, "{owner}\n{}", state.display())?;
        // Twice: once more after taking back an abandoned claim.
        let mut outcome = Err(io::Error::from(io::ErrorKind::AlreadyExists));
        for _ in 0..2 {
            outcome = match fs::hard_link(&partial, path) {
                Ok(()) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match holder(path)? {
                    Some(holder) => Ok(Some(holder)),
                    None => {
                        let _ = fs::remove_file(path); // abandoned: take it back
                        continue;
                    }
                },
                Err(e) => Err(e),
            };
            break;
        }
        fs::remove_file(&partial)?;
        match outcome? {
            None => Ok(Ok(Claim { _lock: lock })),
            Some(holder) => Ok(Err(holder)),
        }
    }
}

/// Remove the claim at `path` if it is `owner`'s (a clean-up after its runtime).
pub fn release_if_owned(path: &Path, owner: &str) -> io::Result<()> {
    match owner_of(path) {
        Ok(Some(id)) if id == owner => fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Does any claim remain in `dir`, live or left by a runtime that died?
pub fn any_in(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// Who holds the claim at `path`: `None` if it is abandoned (unlocked, and its
/// container has no state directory any more).
fn holder(path: &Path) -> io::Result<Option<Holder>> {
    let mut text = String::new();
    File::open(path)?.read_to_string(&mut text)?;
    let mut lines = text.lines();
    let owner = lines.next().unwrap_or_default().trim().to_owned();
    let file = match open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None), // just released
        Err(e) => return Err(e),
    };
    if Flock::lock(file, FlockArg::LockSharedNonblock).is_err() {
        return Ok(Some(Holder::Alive(owner)));
    }
    // The state directory the claim names (a claim of an older tincan names
    // none: the chapters' own).
    let state = match lines.next().map(str::trim).filter(|l| !l.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => ch00_process::state_root().join("containers").join(&owner),
    };
    Ok((!owner.is_empty() && state.exists()).then_some(Holder::Dead(owner)))
}

/// The container id written in a claim (its first line).
fn owner_of(path: &Path) -> io::Result<Option<String>> {
    let mut text = String::new();
    File::open(path)?.read_to_string(&mut text)?;
    let first = text.lines().next().unwrap_or_default().trim();
    Ok(Some(first.to_owned()).filter(|id| !id.is_empty()))
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_held_until_released_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tcp/8080");
        let claim = Claim::take(&path, "aaa", dir.path()).unwrap().unwrap();
        assert_eq!(
            Claim::take(&path, "bbb", dir.path()).unwrap().unwrap_err(),
            Holder::Alive("aaa".into())
        );
        drop(claim);
        release_if_owned(&path, "aaa").unwrap();
        assert!(Claim::take(&path, "bbb", dir.path()).unwrap().is_ok());
    }

    /// A runtime that died leaves its claim unlocked: with the container's state
    /// still there, it waits for the clean-up; without it, it is taken back.
    #[test]
    fn a_dead_runtimes_claim_waits_for_its_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("10.9.0.2");
        fs::write(&path, "no-such-container\n").unwrap(); // unlocked: its runtime is gone
        let claim = Claim::take(&path, "new", dir.path()).unwrap().unwrap();
        assert!(any_in(dir.path()));
        release_if_owned(&path, "someone-else").unwrap();
        assert!(path.exists(), "not theirs to release");
        drop(claim);
        release_if_owned(&path, "new").unwrap();
        assert!(!any_in(dir.path()));
    }

    /// An OCI runtime's `create` exits, its container lives on: the claim,
    /// unlocked, is held by the state directory it names until that goes.
    #[test]
    fn a_claim_is_held_while_the_state_it_names_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state-of-aaa");
        fs::create_dir(&state).unwrap();
        let path = dir.path().join("10.9.0.2");
        drop(Claim::take(&path, "aaa", &state).unwrap().unwrap()); // `create` exits
        assert_eq!(
            Claim::take(&path, "bbb", dir.path()).unwrap().unwrap_err(),
            Holder::Dead("aaa".into())
        );
        fs::remove_dir(&state).unwrap(); // `delete`
        assert!(Claim::take(&path, "bbb", dir.path()).unwrap().is_ok());
    }
}
