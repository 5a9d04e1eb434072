//! Running a chapter on a real pseudo-terminal, as a person at a keyboard would.
//!
//! The runtime becomes a session leader with the terminal's slave side as its
//! controlling terminal and stdio (what a login shell has); the test types into the
//! master side and reads what the terminal shows.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::openpty;

use super::Sandbox;

/// A chapter running on a terminal.
pub struct Terminal {
    runtime: Child,
    /// The terminal's master side, for typing; `None` once hung up.
    keyboard: Option<File>,
    screen: Arc<Mutex<String>>,
    /// Tells the thread that reads the screen to stop (and close its side).
    closing: Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    /// Start `chNN run OPTIONS ROOTFS ARGS...` with the terminal as its stdio
    /// (OPTIONS: before the rootfs, such as `--init`), with what tincan shares
    /// between runs kept in the sandbox's own places.
    pub fn start(chapter: &str, sandbox: &Sandbox, options: &[&str], args: &[&str]) -> Self {
        let mut cmd = sandbox.command_on_host(chapter);
        cmd.arg("run").args(options).arg(sandbox.rootfs()).args(args);
        Self::start_command(cmd)
    }

    /// Start `cmd` with the terminal as its stdio (podman's `run -it`).
    pub fn start_command(mut cmd: std::process::Command) -> Self {
        // A terminal of 24 lines of 80 columns, as a person's would have.
        let size = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = openpty(Some(&size), None).expect("openpty");
        // openpty(3) does not set close-on-exec: without it, a process another
        // test starts meanwhile would inherit our master side and keep it open,
        // and closing ours would not hang the terminal up.
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
                .expect("close-on-exec");
        }
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        cmd.stdin(slave(&pty.slave)).stdout(slave(&pty.slave)).stderr(slave(&pty.slave));
        // SAFETY: setsid(2) and ioctl(2) are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let runtime = cmd.spawn().expect("start the chapter on a terminal");
        drop(pty.slave); // the master reads EOF (EIO) once the runtime's side closes
        let master = File::from(pty.master);
        let keyboard = master.try_clone().expect("dup master");
        let screen = Arc::new(Mutex::new(String::new()));
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (shown, stop) = (Arc::clone(&screen), Arc::clone(&closing));
        let reader = std::thread::spawn(move || {
            use std::os::fd::AsFd;
            let mut master = master;
            let mut buf = [0u8; 4096];
            // Poll, so that a hang-up can stop this thread and close its side.
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                if poll(&mut fds, PollTimeout::from(20u8)).unwrap_or(0) == 0 {
                    continue;
                }
                match master.read(&mut buf) {
                    Ok(n @ 1..) => {
                        shown.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]))
                    }
                    _ => break, // EIO: the runtime's side is closed
                }
            }
        });
        let keyboard = Some(keyboard);
        Terminal { runtime, keyboard, screen, closing, reader: Some(reader) }
    }

    /// Type `keys` (use `\x03` for Ctrl-C).
    pub fn type_keys(&mut self, keys: &str) {
        let keyboard = self.keyboard.as_mut().expect("the terminal is hung up");
        keyboard.write_all(keys.as_bytes()).expect("type");
    }

    /// Hang up the terminal, as closing a terminal window does: its master side
    /// is closed, and the kernel sends `SIGHUP` to the session on the other side.
    pub fn hang_up(&mut self) {
        self.keyboard.take();
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// Wait until the screen shows `text`; panic with the screen after 10 s, or
    /// as soon as the runtime has exited without showing it.
    pub fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.screen.lock().unwrap().contains(text) {
            if !matches!(self.runtime.try_wait(), Ok(None)) {
                // It exited: a moment for its last output to reach the screen.
                std::thread::sleep(Duration::from_millis(100));
                let shown = self.screen();
                assert!(
                    shown.contains(text),
                    "the runtime exited, never showing {text:?}:\n{shown}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {text:?}; it shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Does the screen show `text` within `patience`?
    pub fn shows_within(&self, text: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if self.screen.lock().unwrap().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.screen.lock().unwrap().contains(text)
    }

    /// Is the runtime still running after `patience`?
    pub fn runs_after(&mut self, patience: Duration) -> bool {
        std::thread::sleep(patience);
        matches!(self.runtime.try_wait(), Ok(None))
    }

    /// Send `signal` to the runtime, as `kill` from another terminal would.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.runtime.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the runtime");
    }

    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Wait for the runtime to exit; return its exit code and what the terminal
    /// showed (for the assertion's message).
    pub fn wait(mut self) -> (i32, String) {
        let status = self.runtime.wait().expect("wait");
        let code = status
            .code()
            .unwrap_or_else(|| panic!("the runtime was killed: {status:?}\n{}", self.screen()));
        (code, self.screen())
    }
}

/// A test that fails half-way must not leave its container running.
impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.runtime.try_wait() {
            let _ = self.runtime.kill();
            let _ = self.runtime.wait();
        }
    }
}
