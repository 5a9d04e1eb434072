//! What stays beside a detached container once `tincan run -d` has returned:
//! the `tincan-supervisor` program (`main.rs`), and the files it leaves in
//! the container's directory, which the rest of tincan reads.
//!
//! An OCI runtime's `create` exits once the container is set up (so that an
//! engine is not held up by it). Someone must still hold the other ends of
//! the container's output, or its writes fail; write what it prints somewhere
//! `logs` can read it; and wait for its first process, so that its exit
//! status is known and it does not linger as a zombie. podman starts
//! `conmon` for that, containerd a `containerd-shim` per container. This is
//! tincan's.

pub mod exit;
pub mod log;

/// The file the container's output goes to, in its directory.
pub const LOG_FILE: &str = "log.json";
/// The file the OCI runtime writes the container's PID into (`--pid-file`).
pub const PID_FILE: &str = "pid";
/// What the supervisor itself has to say once it has left its caller.
pub const OWN_LOG_FILE: &str = "supervisor.log";
/// The file the supervisor holds an exclusive `flock(2)` on, from before
/// it runs the runtime until `exit.json` is written: see [`alive`].
pub const LOCK_FILE: &str = "supervisor.lock";

/// Is a supervisor still at work on the container directory `dir`? While
/// it is, the container's end may not be written yet, and its directory is
/// not to be removed. A supervisor that was killed holds no lock: the
/// kernel lets go of it with the process.
pub fn alive(dir: &std::path::Path) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(file) = std::fs::File::open(dir.join(LOCK_FILE)) else { return false };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => false,
        Err((_, errno)) => errno == nix::errno::Errno::EWOULDBLOCK,
    }
}
