//! A container's status, as the OCI runtime spec names it, and which
//! operations each allows. (runtime-spec `runtime.md`: "Lifecycle".)

use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is setting it up.
    Creating,
    /// Set up, its process waiting for `start`.
    Created,
    /// Its command runs.
    Running,
    /// Its processes are frozen (`pause`).
    Paused,
    /// Its process has ended; `delete` removes what is left.
    Stopped,
}

/// An operation the status does not allow, in the words runc uses.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {operation} a container that is {status}{hint}")]
pub struct NotNow {
    pub operation: &'static str,
    pub status: Status,
    hint: &'static str,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(word)
    }
}

impl Status {
    /// `start` needs a created container.
    pub fn may_start(self) -> Result<(), NotNow> {
        match self {
            Status::Created => Ok(()),
            status => Err(NotNow { operation: "start", status, hint: "" }),
        }
    }

    /// `kill` needs a process to signal.
    pub fn may_kill(self) -> Result<(), NotNow> {
        match self {
            Status::Created | Status::Running | Status::Paused => Ok(()),
            status => Err(NotNow { operation: "kill", status, hint: "" }),
        }
    }

    /// `pause` freezes a running container.
    pub fn may_pause(self) -> Result<(), NotNow> {
        match self {
            Status::Running => Ok(()),
            status => Err(NotNow { operation: "pause", status, hint: "" }),
        }
    }

    /// `resume` thaws a paused one.
    pub fn may_resume(self) -> Result<(), NotNow> {
        match self {
            Status::Paused => Ok(()),
            status => Err(NotNow { operation: "resume", status, hint: "" }),
        }
    }

    /// `delete` without `--force` needs a container that has stopped (or has
    /// not started: the spec lets `delete` end a created one).
    pub fn may_delete(self) -> Result<(), NotNow> {
        match self {
            Status::Stopped | Status::Created => Ok(()),
            status => {
                Err(NotNow { operation: "delete", status, hint: ": stop it first, or use --force" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_created_container_starts() {
        assert_eq!(Status::Created.may_start(), Ok(()));
        let err = Status::Running.may_start().unwrap_err();
        assert_eq!(err.to_string(), "cannot start a container that is running");
        assert!(Status::Stopped.may_start().is_err());
    }

    #[test]
    fn a_running_container_is_deleted_only_by_force() {
        let err = Status::Running.may_delete().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot delete a container that is running: stop it first, or use --force"
        );
        assert_eq!(Status::Stopped.may_delete(), Ok(()));
    }

    #[test]
    fn only_a_running_container_pauses_and_only_a_paused_one_resumes() {
        assert_eq!(Status::Running.may_pause(), Ok(()));
        assert!(Status::Paused.may_pause().is_err());
        assert!(Status::Created.may_pause().is_err());
        assert_eq!(Status::Paused.may_resume(), Ok(()));
        assert!(Status::Running.may_resume().is_err());
        assert!(Status::Paused.may_delete().is_err());
    }

    #[test]
    fn a_stopped_container_cannot_be_signalled() {
        assert!(Status::Stopped.may_kill().is_err());
        assert_eq!(Status::Running.may_kill(), Ok(()));
    }
}
