//! A terminal of the container's own, made from its own `/dev/pts`.
//!
//! The container has a devpts instance of its own (`dev.rs`), so a terminal it
//! opens there is `/dev/pts/0` *in the container*: `tty` names a file that
//! exists, and no host terminal is in reach. The runtime copies between your
//! terminal and this one (`ch00_process::console`): the container sends it the
//! *master* side, and keeps the *slave* side as its standard input, output and
//! error, and as its controlling terminal, in a session of its own — so Ctrl-C
//! typed by you reaches the container's foreground programs through *its*
//! terminal, and never the runtime. `man 7 pty`, `man 4 pts`, `man 2 setsid`.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use ch00_process::console::copy_window_size;
use ch00_process::{Context, Doing, Step, StepError};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, unlockpt};

/// When the runtime runs on a terminal, give the container one of its own.
pub struct Console;

// ANCHOR: console
impl Step for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let Some(socket) = cx.console else {
            return Ok(()); // not on a terminal: stdin and stdout pass through
        };
        // /dev/ptmx is the container's own (a link into its devpts).
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .doing(|| "open /dev/ptmx".to_owned())?;
        grantpt(&master).doing(|| "grantpt".to_owned())?;
        unlockpt(&master).doing(|| "unlockpt".to_owned())?;
        // TIOCGPTPEER opens the slave side of *this* master without a path lookup.
        // SAFETY: an ioctl that returns a new descriptor or -1.
        let slave = unsafe {
            libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY)
        };
        let slave = nix::errno::Errno::result(slave).doing(|| "open the terminal".to_owned())?;
        // SAFETY: the kernel just gave us this descriptor.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        // The size of your terminal (still our stdin), before the command can ask.
        copy_window_size(std::io::stdin().as_fd(), slave.as_fd());
        // A session of its own, with this terminal as its controlling terminal.
        nix::unistd::setsid().doing(|| "setsid".to_owned())?;
        // SAFETY: TIOCSCTTY takes an int argument; 0 means "do not steal it".
        let made_controlling = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
        nix::errno::Errno::result(made_controlling)
            .doing(|| "make it the controlling terminal".to_owned())?;
        for stdio in [0, 1, 2] {
            // SAFETY: dup2 onto the standard descriptors, which we mean to replace.
            let replaced = unsafe { libc::dup2(slave.as_raw_fd(), stdio) };
            nix::errno::Errno::result(replaced).doing(|| "use it as stdio".to_owned())?;
        }
        socket.send(master.as_fd())
    }
}
// ANCHOR_END: console
