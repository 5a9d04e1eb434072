//! Hold a created container before its command, until `tincan start`.
//!
//! An engine creates a container, then does what it must before the command
//! runs (attach its logs, join it to a network, start other containers of a
//! pod), then starts it. So `create` sets the container up completely and
//! leaves its first process waiting just before `execve(2)`, and the runtime
//! exits. runc's way, which we follow: the process opens a FIFO in the state
//! directory for writing, which blocks until someone opens it for reading;
//! `start` does, and the process goes on to run the command. (`man 7 fifo`)
//!
//! The state directory is out of the container's reach once it has its own
//! root, so the FIFO is opened before the clone (`O_PATH`, which opens nothing
//! yet) and reopened by the process through `/proc/self/fd`, its own descriptor.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ch00_process::{Context, Doing, Step, StepError};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// The FIFO's name in the container's state directory.
pub const FIFO: &str = "exec.fifo";

/// The last step of an OCI container's set-up: say "ready" to `create`, then
/// wait for `start`.
pub struct WaitForStart {
    fifo: OwnedFd,
    ready: OwnedFd,
}

impl WaitForStart {
    /// Make the FIFO in `dir`; `ready` is the write end of a pipe that `create`
    /// reads, to learn that the set-up is done.
    pub fn new(dir: &Path, ready: OwnedFd) -> Result<WaitForStart, StepError> {
        let path = dir.join(FIFO);
        nix::unistd::mkfifo(&path, Mode::empty()).doing(|| format!("make {}", path.display()))?;
        // Writable by the container's user, whoever it is (as runc's): only
        // the runtime reads it, and nobody else can reach it by its path.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .doing(|| format!("chmod {}", path.display()))?;
        let fifo = open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .doing(|| format!("open {}", path.display()))?;
        Ok(WaitForStart { fifo, ready })
    }
}

// ANCHOR: gate
impl Step for WaitForStart {
    fn name(&self) -> &'static str {
        "wait for start"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        // A command that is not there is `create`'s error, as runc's and
        // crun's: an engine must not learn it only at `start`.
        let command = cx.container.argv.first().map_or("", String::as_str);
        let found = ch00_process::resolve(command, cx.container.path_var());
        let runnable = found.is_some_and(|path| {
            path.is_file() && nix::unistd::access(&path, nix::unistd::AccessFlags::X_OK).is_ok()
        });
        if !runnable {
            let error = StepError::new(format!("find {command}"), nix::errno::Errno::ENOENT);
            return Err(
                error.hint("the command is not in the container's root, or not in its PATH")
            );
        }
        // That we may open the FIFO at all is checked now, while `create`
        // still listens: with no reader yet, a non-blocking open says ENXIO
        // where it would work, EACCES where it would not.
        let path = PathBuf::from(format!("/proc/self/fd/{}", self.fifo.as_raw_fd()));
        let writable =
            open(&path, OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty());
        match writable {
            Ok(_) | Err(nix::errno::Errno::ENXIO) => {}
            Err(errno) => return Err(StepError::new("open the start FIFO", errno)),
        }
        // The container outlives `create`, which is our parent: its death must
        // not kill the container (chapter 0 asked for that, for `run`).
        nix::sys::prctl::set_pdeathsig(None).doing(|| "clear the parent-death signal".into())?;
        let mut ready = File::from(self.ready.try_clone().doing(|| "dup the ready pipe".into())?);
        ready.write_all(b"r").doing(|| "tell create the container is ready".into())?;
        drop(ready);
        // Blocks until `start` opens the FIFO for reading.
        let fd = open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .doing(|| format!("open the start FIFO ({})", path.display()))?;
        File::from(fd).write_all(b"0").doing(|| "answer start".into())
    }
}
// ANCHOR_END: gate

/// `start`'s half: open the FIFO for reading, which lets the waiting process
/// go on, and wait for its answer — or for the process to end (it may have
/// been killed since): `start` must never hang, holding the container's lock.
pub fn release(dir: &Path, process: &OwnedFd) -> std::io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let fifo = open(
        &dir.join(FIFO),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut fifo = File::from(fifo);
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(process.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let answered = fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
        // The writer gone without a word, or the process gone: no start.
        let hung_up = fds[0].revents().is_some_and(|r| r == PollFlags::POLLHUP);
        let ended = hung_up || fds[1].revents().is_some_and(|r| !r.is_empty());
        let mut answer = [0u8; 1];
        if answered {
            match fifo.read(&mut answer) {
                Ok(1) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                _ => {}
            }
        }
        if ended {
            return Err(std::io::Error::other(
                "the container's process ended before its command started",
            ));
        }
    }
}
