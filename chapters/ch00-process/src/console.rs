//! The runtime's half of a container's own terminal (chapter 3 makes the other).
//!
//! When you run a container from a terminal, the simple thing is to let it use
//! yours: chapters 0–2 do. But your terminal is a device of the host, named
//! `/dev/pts/3` on the host; a container with its own `/dev` (chapter 3) has no
//! such file, so `tty` says "not a tty", and the container shares your session,
//! so the runtime cannot tell Ctrl-C meant for it from Ctrl-C meant for the
//! container. Real runtimes give the container a pseudo-terminal of its own,
//! created *inside* it (from its own `/dev/pts`), and copy bytes between yours and
//! it, as `ssh` does:
//!
//! ```text
//!  your terminal ⇄ runtime ⇄ master ┊ slave (/dev/pts/0 in the container) ⇄ shell
//! ```
//!
//! The container sends the master side to the runtime over a Unix socket (a file
//! descriptor can be passed in an `SCM_RIGHTS` message: `man 7 unix`), the runtime
//! puts your terminal in *raw* mode (so Ctrl-C is just a byte, `\x03`, which the
//! container's terminal turns into its own `SIGINT`) and relays until the
//! container ends. runc does the same with `--console-socket`.

use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use crate::{Doing, StepError};

/// A connected pair of Unix sockets: the container sends its terminal's master
/// side on one end, the runtime receives it on the other. (Or, for an engine
/// that relays the terminal itself, one socket connected to the engine's.)
pub struct ConsoleSocket {
    runtime: Option<OwnedFd>,
    container: OwnedFd,
}

/// The bytes of a socket's address for its path, its ending NUL included
/// (`sun_path`, `man 7 unix`).
const SUN_PATH: usize = 108;

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket, Errno> {
        let (runtime, container) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        Ok(ConsoleSocket { runtime: Some(runtime), container })
    }

    /// The terminal goes to the engine listening at `path` (an OCI runtime's
    /// `--console-socket`: conmon, containerd's shim), which relays it.
    pub fn to_engine(path: &std::path::Path) -> std::io::Result<ConsoleSocket> {
        // A socket's address holds at most 107 bytes of path, and an engine's
        // may be longer: then connect through a descriptor of the
        // directory, whatever its length (as conmon binds).
        if path.as_os_str().len() < SUN_PATH {
            let stream = std::os::unix::net::UnixStream::connect(path)?;
            return Ok(ConsoleSocket { runtime: None, container: stream.into() });
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let (dir, Some(name)) = (dir.unwrap_or(std::path::Path::new(".")), path.file_name()) else {
            return Err(std::io::ErrorKind::InvalidInput.into());
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty())?;
        let short = std::path::Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
        let stream = std::os::unix::net::UnixStream::connect(short.join(name))?;
        Ok(ConsoleSocket { runtime: None, container: stream.into() })
    }

    /// In the container: hand the master side of its terminal to the runtime.
    pub fn send(&self, master: BorrowedFd) -> Result<(), StepError> {
        let fds = [master.as_raw_fd()];
        let message = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            self.container.as_raw_fd(),
            &[IoSlice::new(b"m")],
            &message,
            MsgFlags::empty(),
            None,
        )
        .doing(|| "send the terminal to the runtime".to_owned())
        .map(drop)
    }

    /// In the runtime, once the container runs its command (so it has sent the
    /// terminal if it made one): the master side, if it came.
    pub fn receive(&self) -> Option<OwnedFd> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
        let runtime = self.runtime.as_ref()?;
        let message = recvmsg::<()>(runtime.as_raw_fd(), &mut iov, Some(&mut space), flags).ok()?;
        message.cmsgs().ok()?.find_map(|cmsg| match cmsg {
            // SAFETY: the kernel just installed this descriptor in our table for us.
            ControlMessageOwned::ScmRights(fds) => {
                fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) })
            }
            _ => None,
        })
    }
}

/// Copies bytes between the runtime's terminal and the container's, while it
/// runs. Dropping it puts your terminal back as it was.
pub struct Relay {
    master: OwnedFd,
    /// Typed bytes the container's terminal has not taken yet.
    typed: Vec<u8>,
    stdin_open: bool,
    /// False once every process in the container has closed its terminal.
    output_open: bool,
    saved: Termios,
}

impl Relay {
    /// Start relaying through `master`: your terminal goes into raw mode, and the
    /// container's takes its size.
    pub fn start(master: OwnedFd) -> Result<Relay, Errno> {
        let saved = tcgetattr(std::io::stdin())?;
        let flags = OFlag::from_bits_truncate(fcntl(&master, FcntlArg::F_GETFL)?);
        fcntl(&master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw)?;
        let relay = Relay { master, typed: Vec::new(), stdin_open: true, output_open: true, saved };
        relay.resize();
        Ok(relay)
    }

    /// Give the container's terminal the size of ours (and so the container a
    /// `SIGWINCH`, as a terminal emulator gives one to your shell).
    pub fn resize(&self) {
        copy_window_size(std::io::stdin().as_fd(), self.master.as_fd());
    }

    /// The container's terminal, to poll: readable when it has output; writable
    /// matters only while typed bytes wait.
    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Should stdin be polled? Not while earlier keystrokes still wait, and not
    /// once it has ended.
    pub fn wants_input(&self) -> bool {
        self.stdin_open && self.typed.is_empty()
    }

    pub fn has_typed(&self) -> bool {
        !self.typed.is_empty()
    }

    pub fn output_open(&self) -> bool {
        self.output_open
    }

    /// Read what was typed and keep it for the container.
    pub fn read_input(&mut self) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(std::io::stdin(), &mut buf) {
            Ok(0) | Err(_) => self.stdin_open = false,
            Ok(n) => self.typed.extend_from_slice(&buf[..n]),
        }
    }

    /// Pass typed bytes to the container's terminal, as many as it takes now.
    pub fn write_typed(&mut self) {
        match nix::unistd::write(&self.master, &self.typed) {
            Ok(n) => {
                self.typed.drain(..n);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.typed.clear(), // the container's side is gone
        }
    }

    /// Show what the container wrote, if it wrote anything.
    pub fn show_output(&mut self) {
        let mut buf = [0u8; 16384];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(n @ 1..) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            // EIO (or end of file): every process in the container has closed
            // its terminal.
            _ => self.output_open = false,
        }
    }

    /// After the container ended: show what it wrote last. What is left is
    /// already in the terminal's buffer; we read until it is empty.
    pub fn drain(&mut self) {
        while self.output_open {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(100u8)).unwrap_or(0) == 0 {
                break;
            }
            self.show_output();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Give the terminal `to` the size (rows, columns) of the terminal `from`.
pub fn copy_window_size(from: BorrowedFd, to: BorrowedFd) {
    // SAFETY: all-zero is a valid `winsize`; TIOCGWINSZ fills it in, and
    // TIOCSWINSZ reads it.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// Is the runtime on a terminal (stdin and stdout), so that the container
/// should get one of its own?
pub fn on_a_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        && nix::unistd::isatty(std::io::stdout()).unwrap_or(false)
}
