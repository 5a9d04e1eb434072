//! What can go wrong when running a container, and the exit code each failure gets.
//!
//! The codes follow `docker run`, so scripts written for Docker read them the same:
//! 125 the runtime itself failed, 126 the command exists but cannot be executed,
//! 127 the command was not found.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// A failed system call inside a step, with what the step was doing. It is
/// serialisable because it happens in the child and is reported by the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct StepError {
    /// What was being done: "mount proc on /proc".
    pub action: String,
    /// The `errno` the kernel returned.
    pub errno: i32,
    /// What the user can do about it, when we know.
    pub hint: Option<String>,
}

impl StepError {
    pub fn new(action: impl Into<String>, errno: Errno) -> Self {
        let hint = (errno == Errno::EPERM).then(|| "this needs root: try sudo".to_owned());
        StepError { action: action.into(), errno: errno as i32, hint }
    }

    /// Replace the hint with one that says what to do about this failure.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn errno(&self) -> Errno {
        Errno::from_raw(self.errno)
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action, self.errno().desc())?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Attach "what we were doing" to a failed system call.
pub trait Doing<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StepError>;
}

impl<T> Doing<T> for nix::Result<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StepError> {
        self.map_err(|errno| StepError::new(action(), errno))
    }
}

impl<T> Doing<T> for std::io::Result<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StepError> {
        self.map_err(|e| {
            let errno = e.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
            StepError::new(action(), errno)
        })
    }
}

/// Why a container could not be run (as opposed to: it ran and exited non-zero).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "root filesystem {path} does not exist (build one with `cargo xtask rootfs {path}`)",
        path = .0.display()
    )]
    RootfsMissing(PathBuf),

    #[error("root filesystem {path} is not a directory", path = .0.display())]
    RootfsNotADirectory(PathBuf),

    #[error("{}", StepError::new("clone(2) the container process", *.0))]
    Clone(Errno),

    #[error("{step}: {source}")]
    Step { step: String, source: StepError },

    #[error("{step}: panicked: {message}")]
    StepPanicked { step: String, message: String },

    #[error("{0}: command not found in the container")]
    CommandNotFound(String),

    #[error("{command}: cannot execute: {}", .errno.desc())]
    CannotExecute { command: String, errno: Errno },

    #[error(
        "{command}: it needs {interpreter} to run, which is not in the container (a dynamic loader or a script's #! interpreter: add it to the root filesystem, or use a static program)"
    )]
    InterpreterMissing { command: String, interpreter: String },

    #[error("the state directory {}: {source} (set TINCAN_STATE_DIR to use another)", .dir.display())]
    State { dir: PathBuf, source: std::io::Error },

    #[error("{0}")]
    Signals(StepError),

    #[error("talking to the container's process: {0}")]
    Handshake(String),

    #[error("waiting for the container: {0}")]
    Wait(Errno),

    #[error("cleaning up after the container: {0}")]
    Cleanup(StepError),

    #[error("{0}; and cleaning up after it: {1}")]
    ThenCleanup(Box<Error>, Box<Error>),

    #[error(
        "some of what the container made is still on the host ({}); run `cleanup` again, or see the state in {}",
        .left.join(", "), .dir.display()
    )]
    LeftBehind { dir: PathBuf, left: Vec<String> },
}

impl Error {
    /// The exit code `chNN run` ends with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::CannotExecute { .. } => 126,
            Error::CommandNotFound(_) | Error::InterpreterMissing { .. } => 127,
            _ => 125,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(Error::CommandNotFound("x".into()).exit_code(), 127);
        let cannot = Error::CannotExecute { command: "x".into(), errno: Errno::EACCES };
        assert_eq!(cannot.exit_code(), 126);
        assert_eq!(Error::RootfsMissing("/nope".into()).exit_code(), 125);
    }

    #[test]
    fn permission_errors_suggest_root() {
        let e = StepError::new("chroot to /r", Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "chroot to /r: Operation not permitted (this needs root: try sudo)"
        );
    }
}
