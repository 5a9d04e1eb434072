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
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .doing(|| format!("make {}", path.display()))?;
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
        if !found.is_some_and(|path| path.is_file()) {
            let error = StepError::new(format!("find {command}"), nix::errno::Errno::ENOENT);
            return Err(
                error.hint("the command is not in the container's root, or not in its PATH")
            );
        }
        // The container outlives `create`, which is our parent: its death must
        // not kill the container (chapter 0 asked for that, for `run`).
        nix::sys::prctl::set_pdeathsig(None).doing(|| "clear the parent-death signal".into())?;
        let mut ready = File::from(self.ready.try_clone().doing(|| "dup the ready pipe".into())?);
        ready.write_all(b"r").doing(|| "tell create the container is ready".into())?;
        drop(ready);
        // Blocks until `start` opens the FIFO for reading.
        let path = PathBuf::from(format!("/proc/self/fd/{}", self.fifo.as_raw_fd()));
        let fd = open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .doing(|| format!("open the start FIFO ({})", path.display()))?;
        File::from(fd).write_all(b"0").doing(|| "answer start".into())
    }
}
// ANCHOR_END: gate

/// `start`'s half: open the FIFO for reading, which lets the waiting process
/// go on, and read its answer.
pub fn release(dir: &Path) -> std::io::Result<()> {
    let mut fifo = File::open(dir.join(FIFO))?;
    let mut answer = [0u8; 1];
    match fifo.read(&mut answer)? {
        1 => Ok(()),
        _ => Err(std::io::Error::other("the container's process ended before its command started")),
    }
}
