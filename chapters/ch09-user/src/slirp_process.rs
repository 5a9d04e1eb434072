//! The slirp4netns process of `slirp.rs`: started with two pipes (one says
//! it is ready, one ends it), waited for, and ended — also by a clean-up that
//! knows it only from a record, by PID and start time.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ch00_process::clone::{pidfd_open, send_signal};
use ch00_process::{Doing, StepError};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// The program, found in `PATH`.
pub const PROGRAM: &str = "slirp4netns";

/// How long slirp4netns may take to configure the container's `tap0`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A slirp4netns this runtime started.
pub struct Running {
    pub process: Child,
    /// The write end of its `--exit-fd` pipe: closing it ends slirp4netns.
    pub exit: OwnedFd,
}

/// Start slirp4netns for the network namespace of `child`. Returns it, the
/// write end of its exit pipe, and the read end of its ready pipe.
pub fn start(child: Pid, socket: &Path, log: &Path) -> Result<(Child, OwnedFd, File), StepError> {
    // Both pipes close on exec, except the ends slirp4netns gets (below).
    let (exit_read, exit_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).doing(|| "make a pipe".to_owned())?;
    let (ready_read, ready_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).doing(|| "make a pipe".to_owned())?;
    let output = File::create(log).doing(|| format!("create {}", log.display()))?;
    let errors = output.try_clone().doing(|| format!("open {}", log.display()))?;
    let (exit_fd, ready_fd) = (exit_read.as_raw_fd(), ready_write.as_raw_fd());
    let mut command = Command::new(PROGRAM);
    // The largest MTU slirp4netns takes: every packet costs a trip through
    // this process, so fewer, larger packets are much faster (the default,
    // 1500, is a real Ethernet's, which `tap0` is not). Never the host's
    // loopback at 10.0.2.2 (see slirp.rs). And its own cage, as podman
    // starts it: slirp4netns parses every packet the container sends, so a
    // bug in it is the container's way onto the host as us. The sandbox
    // leaves it a mount namespace with little more than /etc and its socket
    // (and, run by root, no capability but CAP_NET_BIND_SERVICE); seccomp
    // leaves it the system calls it needs.
    command
        .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .args(["--enable-sandbox", "--enable-seccomp"])
        .arg(format!("--api-socket={}", socket.display()))
        .arg(format!("--exit-fd={exit_fd}"))
        .arg(format!("--ready-fd={ready_fd}"))
        .arg(child.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        // Its own process group: a Ctrl-C at the terminal is for the container
        // (the runtime forwards it), not for the container's network.
        .process_group(0);
    // SAFETY: between fork and exec, fcntl(2) only (async-signal-safe).
    unsafe {
        command.pre_exec(move || {
            for fd in [exit_fd, ready_fd] {
                let borrowed = std::os::fd::BorrowedFd::borrow_raw(fd);
                fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty()))?;
            }
            Ok(())
        });
    }
    let process = command.spawn().doing(|| "start slirp4netns".to_owned())?;
    // Our copies of its ends must go: the ready pipe reads end-of-file only
    // once no one else holds its write end.
    drop((exit_read, ready_write));
    Ok((process, exit_write, File::from(ready_read)))
}

/// Wait for slirp4netns to say that `tap0` is configured (it writes to its
/// `--ready-fd`), or for it to die trying (the pipe closes).
pub fn wait_until_ready(ready: File, log: &Path, process: &mut Child) -> Result<(), StepError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + READY_WITHIN;
    let mut ready = ready;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) => {
                let hint = format!("it did not configure tap0 within 10 s; see {}", log.display());
                return Err(StepError::new("start slirp4netns", Errno::ETIMEDOUT).hint(hint));
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(StepError::new("wait for slirp4netns", errno)),
            Ok(_) => break,
        }
    }
    let mut byte = [0u8; 1];
    if let Ok(1) = ready.read(&mut byte) {
        return Ok(());
    }
    // It ended without configuring anything: its last word says why, often
    // as perror(3) writes it ("open(/dev/net/tun): Permission denied"), and
    // that is the error we report.
    let log_text = fs::read_to_string(log).unwrap_or_default();
    let said = log_text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no reason given");
    let errno = errno_in(said).unwrap_or(Errno::EIO);
    let action = format!("slirp4netns {} before it configured tap0", how_it_ended(process));
    // Not "see the log": it goes with the container's state, in the clean-up.
    Err(StepError::new(action, errno).hint(format!("it said: {said}")))
}

/// "exited with status 1", "was killed by SIGKILL": reaped, so no zombie stays.
fn how_it_ended(process: &mut Child) -> String {
    use std::os::unix::process::ExitStatusExt;
    // The pipe closes as it exits: a moment at most.
    let deadline = Instant::now() + Duration::from_secs(1);
    let status = loop {
        match process.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => break None,
        }
    };
    match status {
        Some(s) if s.code().is_some() => format!("exited with status {}", s.code().unwrap_or(0)),
        Some(s) => match s.signal().map(Signal::try_from) {
            Some(Ok(signal)) => format!("was killed by {signal}"),
            _ => "ended".to_owned(),
        },
        None => "closed its ready pipe".to_owned(),
    }
}

/// The errno a perror(3) line ends with, if it ends with one's text.
fn errno_in(line: &str) -> Option<Errno> {
    (1..=133)
        .map(Errno::from_raw)
        .filter(|e| *e != Errno::UnknownErrno)
        .find(|e| line.ends_with(&format!(": {}", e.desc())))
}

/// End the slirp4netns we started: close its exit pipe, give it a moment, then
/// kill it; and collect it, so that no zombie stays.
pub fn stop(mut running: Running) {
    drop(running.exit);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = running.process.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = running.process.kill();
    let _ = running.process.wait();
}

/// A dead runtime's slirp4netns ends by itself when the runtime dies (its exit
/// pipe closes), but a clean-up must not count on it. Kill PID, if it is still
/// the process that was recorded: it is, if it started at the same moment.
pub fn kill_if_same(pid: i32, started: u64) -> Result<(), StepError> {
    // The pidfd first, the check after: a pidfd cannot change its process.
    let Ok(pidfd) = pidfd_open(Pid::from_raw(pid)) else { return Ok(()) };
    if started == 0 || start_time(pid) != Some(started) {
        return Ok(()); // gone, and its PID given to another process
    }
    match send_signal(&pidfd, Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(StepError::new(format!("end slirp4netns (PID {pid})"), errno)),
    }
}

/// When process `pid` started, in clock ticks after boot (`/proc/PID/stat`'s
/// 22nd field): with the PID, it names one process for as long as the machine runs.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The path of `program` in `PATH`, if it is there.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perror_line_gives_its_errno() {
        assert_eq!(errno_in("open(/dev/net/tun): Permission denied"), Some(Errno::EACCES));
        assert_eq!(errno_in("unshare(CLONE_NEWNS): Operation not permitted"), Some(Errno::EPERM));
        assert_eq!(errno_in("child failed(1)"), None);
    }

    #[test]
    fn a_start_time_names_this_process() {
        let me = std::process::id() as i32;
        let started = start_time(me).expect("our own stat");
        assert_eq!(start_time(me), Some(started));
        assert!(start_time(i32::MAX).is_none());
    }
}
