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
