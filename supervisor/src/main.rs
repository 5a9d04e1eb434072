//! `tincan-supervisor DIR [--on-exit ARG]... [--terminal SOCKET] [--stdin]
//! [--] RUNTIME [ARGS...]`: create a container with an OCI runtime and stay with it
//! until its first process ends.
//!
//! 1. It becomes a *child subreaper* (`PR_SET_CHILD_SUBREAPER`): a process
//!    below it whose parent ends is given to it, not to the host's init. The
//!    runtime's `create` starts the container's process and exits; that
//!    process is then the supervisor's to wait for.
//! 2. It runs `RUNTIME ARGS` (`tincan create --bundle B --pid-file DIR/pid
//!    ID`) with stdin from `/dev/null` (or, with `--stdin`, a pipe) and
//!    stdout and stderr into two pipes it holds: during `create` the
//!    container's stdio are the runtime's own.
//! 3. It says on its stdout `created PID` — or, if the runtime failed, what
//!    the runtime said, and exits 1 — and then lets go of its caller: its
//!    stdout closes, so the caller's read ends.
//! 4. It writes every line the container prints to `DIR/log.json`
//!    ([`tincan_supervisor::log`]), reaps every process given to it, and
//!    when the container's first process ends, writes `DIR/exit.json`
//!    ([`tincan_supervisor::exit`]).
//!    With `--terminal SOCKET` (conmon's `-t`), the container has a
//!    terminal: the runtime (told `--console-socket SOCKET` by the caller)
//!    sends its master to the socket the supervisor listens on, and what the
//!    container prints comes from the master. With `--stdin` (conmon's `-i`),
//!    its stdin is a pipe the supervisor holds open and never writes: a
//!    shell there waits instead of reading the end of `/dev/null`.
//! 5. It runs the `--on-exit` command, if given (conmon's `--exit-command`:
//!    podman's clean-up), and exits. The face's is `tincan cleanup`, which
//!    deletes the OCI container (with `--rm`, removes it) and tells its
//!    network: a container that ends by itself leaves no cgroup and no
//!    state behind, with nobody there to ask.
//!
//! Whoever starts it should put it in a session of its own (`setsid`), so
//! that a terminal's hang-up or Ctrl-C meant for the caller does not reach
//! it. It never starts the container: the caller runs the runtime's `start`
//! once it has read `created`.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, Flock, FlockArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use tincan_supervisor::exit::Exit;
use tincan_supervisor::log::{Lines, Stream};
use tincan_supervisor::{LOCK_FILE, LOG_FILE, OWN_LOG_FILE, PID_FILE};

/// Once the container's first process has ended, how long its output may
/// take to close: in a PID namespace of its own the kernel has killed the
/// rest already, and what they wrote is in the pipes; outside one, a process
/// left running could hold them open for ever.
const DRAIN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let dir = args.next();
    let mut on_exit = Vec::new();
    let mut stdio = ContainerStdio::default();
    loop {
        match args.peek().and_then(|a| a.to_str()) {
            Some("--on-exit") => {
                args.next();
                on_exit.extend(args.next());
            }
            Some("--terminal") => {
                args.next();
                stdio.terminal = args.next().map(PathBuf::from);
            }
            Some("--stdin") => {
                args.next();
                stdio.stdin = true;
            }
            _ => break,
        }
    }
    if args.peek().is_some_and(|a| a == "--") {
        args.next();
    }
    let (Some(dir), Some(runtime)) = (dir, args.next()) else {
        eprintln!(
            "usage: tincan-supervisor DIR [--on-exit ARG]... [--terminal SOCKET] [--stdin] [--] RUNTIME [ARGS...]"
        );
        return ExitCode::from(2);
    };
    let rest: Vec<OsString> = args.collect();
    let attached = match Attached::new(Path::new(&dir)) {
        Ok(attached) => attached,
        Err(e) => {
            println!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = attached.dir.clone();
    let mut created = match create(&dir, &runtime, &rest, stdio) {
        Ok(created) => created,
        Err(e) => {
            println!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime_said = std::mem::take(&mut created.said);
    let Attached { lock, .. } = match attached.tell_and_let_go(created.pid) {
        Ok(detached) => detached,
        Err((detached, e)) => {
            // Nobody heard "created": nobody will start it or ask about it.
            // It must not wait for ever; killed, it ends as any other does.
            eprintln!("tincan-supervisor: tell the caller: {e}; killing the container");
            let _ = nix::sys::signal::kill(created.pid, Signal::SIGKILL);
            detached
        }
    };
    // Our own log, now that stderr is it.
    if !runtime_said.is_empty() {
        eprintln!("tincan-supervisor: {} said: {runtime_said}", runtime.to_string_lossy());
    }
    let exit = supervise(&dir, created);
    if let Err(e) = exit.write(&dir) {
        eprintln!(
            "tincan-supervisor: write {}: {e}",
            dir.join(tincan_supervisor::exit::FILE).display()
        );
    }
    // From here on, `stop`, `rm` and `logs -f` know that all is written.
    drop(lock);
    if let Some((program, args)) = on_exit.split_first() {
        let ran =
            Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).status();
        match ran {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("tincan-supervisor: the exit command {status}"),
            Err(e) => eprintln!("tincan-supervisor: run the exit command: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// The supervisor while its caller still listens: the container's
/// directory, its lock on it ([`tincan_supervisor::alive`]), and what its
/// stdio become once it lets go — opened before it says anything, so that
/// letting go cannot fail after "created".
struct Attached {
    dir: PathBuf,
    lock: Flock<File>,
    null: File,
    own_log: File,
}

impl Attached {
    fn new(dir: &Path) -> Result<Attached, String> {
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Out of the caller's working directory, which it may want to remove.
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
        let path = dir.join(LOCK_FILE);
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("{}: another supervisor holds it: {e}", path.display()))?;
        let null = OpenOptions::new().read(true).write(true).open("/dev/null");
        let null = null.map_err(|e| format!("/dev/null: {e}"))?;
        let own_log = OpenOptions::new().create(true).append(true).open(dir.join(OWN_LOG_FILE));
        let own_log = own_log.map_err(|e| format!("{}: {e}", dir.join(OWN_LOG_FILE).display()))?;
        Ok(Attached { dir, lock, null, own_log })
    }

    /// Say `created PID` on stdout, then stop being the caller's: stdin and
    /// stdout from and to `/dev/null` (the caller's read of our stdout ends),
    /// stderr to our own log.
    fn tell_and_let_go(self, pid: Pid) -> Result<Attached, (Attached, std::io::Error)> {
        let mut stdout = std::io::stdout();
        let told = writeln!(stdout, "created {pid}").and_then(|()| stdout.flush());
        let moved = nix::unistd::dup2_stdin(&self.null)
            .and_then(|()| nix::unistd::dup2_stdout(&self.null))
            .and_then(|()| nix::unistd::dup2_stderr(&self.own_log))
            .map_err(std::io::Error::from);
        match told.and(moved) {
            Ok(()) => Ok(self),
            Err(e) => Err((self, e)),
        }
    }
}

/// What the container's stdio are besides its output's pipes.
#[derive(Default)]
struct ContainerStdio {
    /// `--terminal`: a terminal, whose master the runtime sends us here.
    terminal: Option<PathBuf>,
    /// `--stdin`: a pipe held open, not `/dev/null`.
    stdin: bool,
}

/// A container set up by the runtime: its first process, the signals that
/// say a child ended, and the read ends of its output (with a terminal,
/// `stdout` is its master). `stdin` is the write end of its stdin, if kept
/// open: held, never written, until it ends. `said` is what the runtime
/// printed (warnings): ours to log, not the container's.
struct Created {
    pid: Pid,
    signals: SignalFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    stdin: Option<OwnedFd>,
    said: String,
}

// ANCHOR: create
fn create(
    dir: &Path,
    runtime: &OsString,
    args: &[OsString],
    stdio: ContainerStdio,
) -> Result<Created, String> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("become a subreaper: {e}"))?;
    // SIGCHLD through a file descriptor, blocked from now on so that none is
    // lost between here and the loop. (The runtime gets an empty mask:
    // `Command` resets it in the child.)
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(|e| format!("block SIGCHLD: {e}"))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    let (stdout, stdout_w) = pipe()?;
    let (stderr, stderr_w) = pipe()?;
    let (stdin_r, stdin) = match stdio.stdin {
        true => pipe().map(|(r, w)| (Stdio::from(r), Some(w)))?,
        false => (Stdio::null(), None),
    };
    let console = stdio.terminal.as_deref().map(ConsoleSocket::listen).transpose()?;
    // Only the runtime may write it: an old one would name another process.
    let pid_file = dir.join(PID_FILE);
    match std::fs::remove_file(&pid_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("{}: {e}", pid_file.display()));
        }
        _ => {}
    }
    // The write ends go with the command: once it is dropped, only the
    // container holds them, and their end is the container's.
    let mut command = Command::new(runtime);
    command.args(args).stdin(stdin_r).stdout(stdout_w).stderr(stderr_w);
    // If we are killed, the runtime goes too: a `create` left running with
    // nobody to tell would make a container that its caller, told we failed,
    // has already given up on. (The container itself clears this before it
    // waits for `start`: it is ours to outlive.)
    let us = nix::unistd::getpid();
    // SAFETY: prctl(2) and getppid(2) are async-signal-safe, the only kind
    // of call allowed between fork and exec.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // Killed before the line above: the signal will never come.
            if nix::unistd::getppid() != us {
                return Err(std::io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    let (status, said) = run_to_end(&mut command, &signals, [&stdout, &stderr])
        .map_err(|e| format!("run {}: {e}", runtime.to_string_lossy()))?;
    let said = String::from_utf8_lossy(&said).trim().to_owned();
    if !status.success() {
        return Err(format!("{} {status}: {said}", runtime.to_string_lossy()));
    }
    let pid = our_child(&pid_file)?;
    // With a terminal, the container prints to it, not to the pipes.
    let stdout = match console.map(ConsoleSocket::master) {
        Some(Ok(master)) => master,
        Some(Err(e)) => {
            // Nobody will start a container we cannot watch: it ends here.
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(e);
        }
        None => stdout,
    };
    Ok(Created { pid, signals, stdout, stderr, stdin, said })
}
// ANCHOR_END: create

/// The most of what the runtime prints that is kept: its last words.
const RUNTIME_SAID: usize = 64 * 1024;

/// Run the runtime to its end, reading its output meanwhile: a `create` that
/// printed more than a pipe holds (64 KiB of warnings, or of a hook's
/// output) would otherwise wait for a reader for ever. All of it is the
/// runtime's: the container, waiting for `start`, has printed nothing yet.
fn run_to_end(
    command: &mut Command,
    signals: &SignalFd,
    outputs: [&OwnedFd; 2],
) -> std::io::Result<(std::process::ExitStatus, Vec<u8>)> {
    let mut child = command.spawn()?;
    let mut said = Vec::new();
    let mut keep = |more: Vec<u8>| {
        said.extend(more);
        let over = said.len().saturating_sub(RUNTIME_SAID);
        said.drain(..over);
    };
    loop {
        // Its SIGCHLD wakes the poll: blocked since before the spawn, it
        // waits in `signals` if it comes before the poll.
        if let Some(status) = child.try_wait()? {
            outputs.into_iter().for_each(|fd| keep(read_now(fd)));
            return Ok((status, said));
        }
        let mut fds = [signals.as_fd(), outputs[0].as_fd(), outputs[1].as_fd()]
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN));
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        while let Ok(Some(_)) = signals.read_signal() {}
        outputs.into_iter().for_each(|fd| keep(read_now(fd)));
    }
}

/// The socket a runtime sends a terminal's master to, as `create
/// --console-socket` does for an engine (podman's conmon listens the same way).
struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    fn listen(path: &Path) -> Result<ConsoleSocket, String> {
        let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        // One left by a supervisor that was killed.
        let _ = std::fs::remove_file(path);
        // A socket's address holds at most 107 bytes of path (`sun_path`,
        // with its NUL), and a store may lie deeper than that: then bind
        // through a descriptor of the directory, whatever its length
        // (conmon's way).
        if path.as_os_str().len() < 108 {
            let listener = UnixListener::bind(path).map_err(|e| failed(&e))?;
            return Ok(ConsoleSocket { listener, path: path.to_owned() });
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let (dir, Some(name)) = (dir.unwrap_or(Path::new(".")), path.file_name()) else {
            return Err(failed(&"not the path of a file"));
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir =
            nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).map_err(|e| failed(&e))?;
        let short = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string()).join(name);
        let listener = UnixListener::bind(short).map_err(|e| failed(&e))?;
        Ok(ConsoleSocket { listener, path: path.to_owned() })
    }

    /// The master the runtime sent. Its `create` has exited: it connected
    /// and sent it already, or never will — so nothing here waits.
    fn master(self) -> Result<OwnedFd, String> {
        let failed =
            |e: &dyn std::fmt::Display| format!("the terminal from {}: {e}", self.path.display());
        self.listener.set_nonblocking(true).map_err(|e| failed(&e))?;
        let (stream, _) = self.listener.accept().map_err(|e| failed(&e))?;
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!(RawFd);
        let flags = MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT;
        let message = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), flags)
            .map_err(|e| failed(&e))?;
        if message.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(failed(&"more descriptors came than one"));
        }
        let mut fds = message.cmsgs().map_err(|e| failed(&e))?.flat_map(|cmsg| match cmsg {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        });
        let master = fds.next().ok_or_else(|| failed(&"no descriptor came"))?;
        // SAFETY: the kernel just gave us this descriptor, and nobody else
        // holds it; any other that came is closed.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        fds.for_each(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) }));
        match nix::unistd::isatty(&master) {
            Ok(true) => Ok(master),
            _ => Err(failed(&"what came is not a terminal")),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The PID in the runtime's pid file, if it names a process that is now
/// ours: the runtime's `create` has exited and left it to us.
fn our_child(pid_file: &Path) -> Result<Pid, String> {
    let text =
        std::fs::read_to_string(pid_file).map_err(|e| format!("{}: {e}", pid_file.display()))?;
    let pid: i32 = text.trim().parse().map_err(|e| format!("{}: {e}", pid_file.display()))?;
    // Field 4 of /proc/PID/stat, after the name in parentheses: the parent.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let parent = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1));
    match parent.and_then(|p| p.parse::<i32>().ok()) {
        Some(parent) if pid > 0 && parent == std::process::id() as i32 => Ok(Pid::from_raw(pid)),
        _ => Err(format!(
            "{} names {pid}, which is not a process the runtime left to this supervisor",
            pid_file.display()
        )),
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// What a pipe holds now, without waiting for more.
fn read_now(fd: &OwnedFd) -> Vec<u8> {
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = nix::unistd::read(fd, &mut buf) {
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// The log file, whose failures (a full disk) cost lines, never the
/// supervision: the container's end must still be recorded.
struct Log {
    file: BufWriter<File>,
    failed: bool,
}

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Err(e) = self.file.write_all(bytes) {
            self.failed(e);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Err(e) = self.file.flush() {
            self.failed(e);
        }
        Ok(())
    }
}

impl Log {
    fn failed(&mut self, e: std::io::Error) {
        if !self.failed {
            eprintln!("tincan-supervisor: write the log: {e}; lines are being lost");
            self.failed = true;
        }
    }
}

/// Log the container's output and reap what ends, until its first process
/// has ended and its output is closed (or [`DRAIN`] has passed); how it ended.
fn supervise(dir: &Path, created: Created) -> Exit {
    // `_stdin` is held to the end: closed, the container's stdin would end.
    let Created { pid, signals, stdout, stderr, stdin: _stdin, .. } = created;
    let file = OpenOptions::new().create(true).append(true).open(dir.join(LOG_FILE));
    let file = file.unwrap_or_else(|e| {
        eprintln!("tincan-supervisor: open {LOG_FILE}: {e}; the output is lost");
        File::options().write(true).open("/dev/null").expect("/dev/null")
    });
    let mut log = Log { file: BufWriter::new(file), failed: false };
    let mut streams =
        [(Some(stdout), Lines::new(Stream::Stdout)), (Some(stderr), Lines::new(Stream::Stderr))];
    // It may have ended already: its SIGCHLD may have been read while the
    // runtime was waited for.
    let mut ended: Option<(Exit, Instant)> = reap(pid).map(|exit| (exit, Instant::now()));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open = streams.iter().filter(|(fd, _)| fd.is_some()).count();
        let timeout = match &ended {
            None => PollTimeout::NONE,
            Some(_) if open == 0 => break,
            Some((_, at)) => match DRAIN.checked_sub(at.elapsed()) {
                Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO),
                None => break,
            },
        };
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            streams
                .iter()
                .flat_map(|(fd, _)| fd.as_ref())
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                // Cannot watch: then at least wait, and record the end.
                eprintln!("tincan-supervisor: poll: {e}; waiting without logging");
                drop(fds);
                return ended.map(|(exit, _)| exit).unwrap_or_else(|| wait_for(pid));
            }
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(false)).collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if ready.next() == Some(true) {
            while let Ok(Some(_)) = signals.read_signal() {}
            if let Some(exit) = reap(pid) {
                ended = Some((exit, Instant::now()));
            }
        }
        for (fd, lines) in streams.iter_mut().filter(|(fd, _)| fd.is_some()) {
            if ready.next() != Some(true) {
                continue;
            }
            let file = fd.as_ref().expect("open");
            match nix::unistd::read(file, &mut buf) {
                Ok(n @ 1..) => lines.push(&buf[..n], &mut log).expect("the log never fails"),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                // The end, or a pipe that cannot be read: done with it.
                _ => {
                    lines.finish(&mut log).expect("the log never fails");
                    *fd = None;
                }
            }
        }
        let _ = log.flush();
    }
    // Whatever the pipes still hold when the wait is over.
    for (fd, lines) in &mut streams {
        if let Some(fd) = fd {
            lines.push(&read_now(fd), &mut log).expect("the log never fails");
        }
        lines.finish(&mut log).expect("the log never fails");
    }
    let _ = log.flush();
    ended.expect("the loop ends only after the process has").0
}

/// Wait for `pid` to end, reaping whatever else ends meanwhile.
fn wait_for(pid: Pid) -> Exit {
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(pid) => {
                if let Some(exit) = Exit::of(status) {
                    return exit;
                }
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                let finished_at =
                    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
                eprintln!("tincan-supervisor: wait for {pid}: {e}");
                return Exit { pid: pid.as_raw(), status: 255, signal: None, finished_at };
            }
        }
    }
}

// ANCHOR: reap
/// Reap every child that has ended (the container's orphans are ours too);
/// the container's first process's end, if it is among them.
fn reap(first: Pid) -> Option<Exit> {
    let mut first_ended = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return first_ended,
            Ok(status) if status.pid() == Some(first) => first_ended = Exit::of(status),
            Ok(_) => {}
        }
    }
}
// ANCHOR_END: reap
