//! `tincan kill ID [SIGNAL]`: send a signal to the container's process.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::{Failure, store};

pub fn kill(root: &Path, id: &str, signal: &str) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let signal = parse_signal(signal)?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    status.may_kill()?;
    let record = record.expect("a created or running container has its record");
    match signal {
        Some(signal) => signal_process(record.pid, record.started_at, signal),
        // Signal 0 is sent to check that a process is there: it is (its status says so).
        None => Ok(()),
    }
}

/// A signal as runc takes it: `KILL`, `SIGKILL`, `kill` or `9`; `None` for 0.
fn parse_signal(text: &str) -> Result<Option<Signal>, Failure> {
    let unknown = || Failure::new(format!("unknown signal {text:?}"));
    if let Ok(number) = text.parse::<i32>() {
        return match number {
            0 => Ok(None),
            n => Signal::try_from(n).map(Some).map_err(|_| unknown()),
        };
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") { name } else { format!("SIG{name}") };
    name.parse().map(Some).map_err(|_| unknown())
}

/// Signal `pid` through a pidfd, once sure it is still the process that
/// started at `started_at`: a PID is reused once its process is gone.
pub fn signal_process(pid: i32, started_at: u64, signal: Signal) -> Result<(), Failure> {
    let pidfd = ch00_process::clone::pidfd_open(nix::unistd::Pid::from_raw(pid))
        .map_err(|e| Failure::new(format!("open the container's process {pid}: {e}")))?;
    // Checked after the pidfd is open: from now on it cannot be another process.
    if store::started_at(pid) != Some(started_at) {
        return Err(Failure::new("the container's process has ended"));
    }
    ch00_process::clone::send_signal(&pidfd, signal)
        .map_err(|e| Failure::new(format!("send {signal} to {pid}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_a_name_with_or_without_sig_or_a_number() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", "15"] {
            assert_eq!(parse_signal(text).unwrap(), Some(Signal::SIGTERM), "{text}");
        }
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("99").is_err());
        assert!(parse_signal("FOO").is_err());
    }
}
