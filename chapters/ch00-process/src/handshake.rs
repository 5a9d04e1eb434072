//! The child→parent error channel.
//!
//! After `clone(2)` the child runs the plan and then calls `execve(2)`. If anything
//! fails on the way, only the child knows why, and its exit code alone ("1") would
//! tell the user nothing. So before cloning, the parent opens a pipe with
//! `O_CLOEXEC`:
//!
//! - if a step or `execve` fails, the child writes a [`ChildFailure`] into the
//!   pipe and exits;
//! - if `execve` succeeds, the kernel closes the child's end of the pipe (that is
//!   what close-on-exec means), and the parent reads end-of-file.
//!
//! So one blocking read tells the parent "the command is running" or exactly why
//! not. runc, crun and youki all use this trick. Man page: `man 2 pipe`.
//!
//! A second pipe goes the other way: the child waits on it until the parent has
//! done what only the parent can (the steps' `in_parent`), and gives up if the
//! parent closes it without saying "go".

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};

use crate::{Error, StepError};

/// Why the child did not reach the container's command (also how a step's
/// parent-side part failed: `run` reports both the same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildFailure {
    /// A step of the plan failed.
    Step { step: String, error: StepError },
    /// A step panicked: a bug, or a workshop exercise still `todo!()`.
    Panic { step: String, message: String },
    /// The command is not in the container (exit 127).
    NotFound { command: String },
    /// The command exists but `execve(2)` refused it (exit 126).
    CannotExecute { command: String, errno: i32 },
    /// The command exists, but the program that must run it does not: its
    /// dynamic loader, or its script's interpreter (exit 127).
    InterpreterMissing { command: String, interpreter: String },
}

impl From<ChildFailure> for Error {
    fn from(failure: ChildFailure) -> Self {
        match failure {
            ChildFailure::Step { step, error } => Error::Step { step, source: error },
            ChildFailure::Panic { step, message } => Error::StepPanicked { step, message },
            ChildFailure::NotFound { command } => Error::CommandNotFound(command),
            ChildFailure::CannotExecute { command, errno } => {
                Error::CannotExecute { command, errno: nix::errno::Errno::from_raw(errno) }
            }
            ChildFailure::InterpreterMissing { command, interpreter } => {
                Error::InterpreterMissing { command, interpreter }
            }
        }
    }
}

/// The child's end: written to at most once, closed by `execve`.
pub struct Sender(File);

/// The parent's end.
pub struct Receiver(File);

/// A close-on-exec pipe from the child to the parent.
pub fn channel() -> Result<(Sender, Receiver), Error> {
    let (read, write) = cloexec_pipe()?;
    Ok((Sender(write), Receiver(read)))
}

/// A pipe whose ends close themselves at `execve(2)`: (read end, write end).
fn cloexec_pipe() -> Result<(File, File), Error> {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::Handshake(format!("pipe2: {e}")))?;
    Ok((read.into(), write.into()))
}

impl Sender {
    /// Report a failure. Runs in the child just before it exits, so errors here
    /// have nowhere to go: the parent then reads nothing, and takes the child's
    /// exit status (125) for what happened.
    pub fn send(mut self, failure: &ChildFailure) {
        if let Ok(bytes) = serde_json::to_vec(failure) {
            let _ = self.0.write_all(&bytes);
        }
    }
}

/// To wait for the report together with other things (`poll(2)`).
impl std::os::fd::AsFd for Receiver {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Receiver {
    /// Block until the child has either executed its command (`None`) or reported
    /// why it could not (`Some`).
    pub fn receive(mut self) -> Result<Option<ChildFailure>, Error> {
        let mut bytes = Vec::new();
        self.0.read_to_end(&mut bytes).map_err(|e| Error::Handshake(e.to_string()))?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Handshake(format!("unreadable report from the child: {e}")))
    }
}

/// The parent's end of the "go" pipe.
pub struct Go(File);

/// The child's end of the "go" pipe.
pub struct WaitForGo(File);

/// A close-on-exec pipe from the parent to the child.
pub fn go_channel() -> Result<(Go, WaitForGo), Error> {
    let (read, write) = cloexec_pipe()?;
    Ok((Go(write), WaitForGo(read)))
}

impl Go {
    /// Let the child continue. If the child is already gone (killed while it
    /// waited), the write fails and there is no one to tell: the parent's wait
    /// then says how the child ended.
    pub fn go(mut self) {
        let _ = self.0.write_all(b"g");
    }
}

impl WaitForGo {
    /// Block until the parent says "go" (true), or gives up (false).
    pub fn wait(mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.0.read(&mut byte), Ok(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_goes_only_when_told() {
        let (go, wait) = go_channel().unwrap();
        go.go();
        assert!(wait.wait());
        let (go, wait) = go_channel().unwrap();
        drop(go); // the parent gave up
        assert!(!wait.wait());
    }

    #[test]
    fn a_closed_sender_means_the_command_is_running() {
        let (sender, receiver) = channel().unwrap();
        drop(sender);
        assert_eq!(receiver.receive().unwrap(), None);
    }

    #[test]
    fn a_failure_crosses_the_pipe_intact() {
        let (sender, receiver) = channel().unwrap();
        let failure = ChildFailure::Step {
            step: "mount /proc".into(),
            error: StepError::new("mount proc on /proc", nix::errno::Errno::ENOENT),
        };
        sender.send(&failure);
        assert_eq!(receiver.receive().unwrap(), Some(failure));
    }
}
