//! How a container's first process ended, as the supervisor saw it: the file
//! `exit.json` in the container's directory, which `ps -a` and `inspect` read
//! once nobody is left to ask.

use std::io::Write;
use std::path::Path;

use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// The file's name in the container's directory.
pub const FILE: &str = "exit.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The process, as the host saw it.
    pub pid: i32,
    /// As a shell reports it: the exit code, or 128 plus the signal that
    /// ended it (137 for SIGKILL), which is what `docker ps` shows.
    pub status: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// When the supervisor reaped it (RFC 3339).
    pub finished_at: String,
}

impl Exit {
    /// The record of `status`, or `None` for a wait status that is not an end
    /// (stopped, continued).
    pub fn of(status: WaitStatus) -> Option<Exit> {
        let finished_at = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        match status {
            WaitStatus::Exited(pid, code) => {
                Some(Exit { pid: pid.as_raw(), status: code, signal: None, finished_at })
            }
            WaitStatus::Signaled(pid, signal, _) => Some(Exit {
                pid: pid.as_raw(),
                status: 128 + signal as i32,
                signal: Some(signal as i32),
                finished_at,
            }),
            _ => None,
        }
    }

    /// Write it into `dir` whole or not at all: a reader never sees half.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let partial = dir.join(format!(".{FILE}.partial"));
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(&serde_json::to_vec(self)?)?;
        file.sync_all()?;
        std::fs::rename(&partial, dir.join(FILE))
    }

    /// The record in `dir`, if the process has ended.
    pub fn read(dir: &Path) -> std::io::Result<Option<Exit>> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn a_signal_is_128_plus_its_number_as_a_shell_says() {
        let killed = Exit::of(WaitStatus::Signaled(Pid::from_raw(7), Signal::SIGKILL, false));
        let killed = killed.unwrap();
        assert_eq!((killed.pid, killed.status, killed.signal), (7, 137, Some(9)));
        let exited = Exit::of(WaitStatus::Exited(Pid::from_raw(7), 3)).unwrap();
        assert_eq!((exited.status, exited.signal), (3, None));
        assert_eq!(Exit::of(WaitStatus::StillAlive), None);
    }

    #[test]
    fn it_is_read_back_as_written_and_absent_before() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Exit::read(dir.path()).unwrap(), None);
        let exit = Exit::of(WaitStatus::Exited(Pid::from_raw(1), 0)).unwrap();
        exit.write(dir.path()).unwrap();
        assert_eq!(Exit::read(dir.path()).unwrap(), Some(exit));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial file left");
    }
}
