//! `tincan kill [--all] ID [SIGNAL]`: send a signal to the container's process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::Signal;

use crate::{Failure, store};

/// Signal the container's first process, or with `all` every process of its
/// cgroup (containerd asks for that, to end what an `exec` started too).
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let signal = parse_signal(signal)?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    let status = store::status(&state, record.as_ref());
    status.may_kill()?;
    let record = record.expect("a created or running container has its record");
    let Some(signal) = signal else {
        // Signal 0 is sent to check that a process is there: it is (its status says so).
        return Ok(());
    };
    if all {
        // The others first: once the first is gone, in a PID namespace of its
        // own, the kernel kills them anyway.
        for pid in crate::freezer::processes(&state, record.pid).into_iter().skip(1) {
            let _ = signal_process(pid, store::started_at(pid).unwrap_or_default(), signal);
        }
    }
    signal_process(record.pid, record.started_at, signal)
}

/// A pidfd for `pid`, once sure it is still the process that started at
/// `started_at`: a PID is reused once its process is gone, a pidfd never.
pub fn pidfd(pid: i32, started_at: u64) -> Result<OwnedFd, Failure> {
    let pidfd = ch00_process::clone::pidfd_open(nix::unistd::Pid::from_raw(pid))
        .map_err(|_| Failure::new("the container's process has ended"))?;
    // Checked after the pidfd is open: from now on it cannot be another process.
    if store::started_at(pid) != Some(started_at) {
        return Err(Failure::new("the container's process has ended"));
    }
    Ok(pidfd)
}

/// Send signal number `signal` to `pid` (see [`pidfd`]).
pub fn signal_process(pid: i32, started_at: u64, signal: i32) -> Result<(), Failure> {
    let pidfd = pidfd(pid, started_at)?;
    // SAFETY: pidfd_send_signal(2) with our pidfd, no siginfo, no flags.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<u8>(),
            0,
        )
    };
    nix::errno::Errno::result(sent)
        .map(drop)
        .map_err(|e| Failure::new(format!("send signal {signal} to {pid}: {e}")))
}

/// A signal as runc takes it: `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+3`;
/// its number, `None` for 0 (which checks that the process is there).
fn parse_signal(text: &str) -> Result<Option<i32>, Failure> {
    let unknown = || Failure::new(format!("unknown signal {text:?}"));
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let number = match text.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let name = text.to_ascii_uppercase();
            let name = name.strip_prefix("SIG").unwrap_or(&name).to_owned();
            // Real-time signals have no names of their own (podman stops a
            // systemd container with SIGRTMIN+3).
            if let Some(offset) = name.strip_prefix("RTMIN+") {
                rtmin + offset.parse::<i32>().map_err(|_| unknown())?
            } else if let Some(offset) = name.strip_prefix("RTMAX-") {
                rtmax - offset.parse::<i32>().map_err(|_| unknown())?
            } else {
                format!("SIG{name}").parse::<Signal>().map_err(|_| unknown())? as i32
            }
        }
    };
    match number {
        0 => Ok(None),
        n if (1..=rtmax).contains(&n) => Ok(Some(n)),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_a_name_with_or_without_sig_or_a_number() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", "15"] {
            assert_eq!(parse_signal(text).unwrap(), Some(libc::SIGTERM), "{text}");
        }
        assert_eq!(parse_signal("RTMIN+3").unwrap(), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("37").unwrap(), Some(37));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("99").is_err());
        assert!(parse_signal("FOO").is_err());
    }
}
