//! `tincan-supervisor DIR [--on-exit ARG]... [--] RUNTIME [ARGS...]`: create
//! a container with an OCI runtime and stay with it until its first process
//! ends.
//!
//! 1. It becomes a *child subreaper* (`PR_SET_CHILD_SUBREAPER`): a process
//!    below it whose parent ends is given to it, not to the host's init. The
//!    runtime's `create` starts the container's process and exits; that
//!    process is then the supervisor's to wait for.
//! 2. It runs `RUNTIME ARGS` (`tincan create --bundle B --pid-file DIR/pid
//!    ID`) with stdin from `/dev/null` and stdout and stderr into two pipes
//!    it holds: during `create` the container's stdio are the runtime's own.
//! 3. It says on its stdout `created PID` — or, if the runtime failed, what
//!    the runtime said, and exits 1 — and then lets go of its caller: its
//!    stdout closes, so the caller's read ends.
//! 4. It writes every line the container prints to `DIR/log.json`
//!    ([`tincan_supervisor::log`]), reaps every process given to it, and
//!    when the container's first process ends, writes `DIR/exit.json`
//!    ([`tincan_supervisor::exit`]).
//! 5. It runs the `--on-exit` command, if given (conmon's `--exit-command`:
//!    podman's clean-up), and exits. The face has it delete the OCI
//!    container, so that a container that ends by itself leaves no cgroup
//!    and no state behind, with nobody there to ask.
//!
//! Whoever starts it should put it in a session of its own (`setsid`), so
//! that a terminal's hang-up or Ctrl-C meant for the caller does not reach
//! it. It never starts the container: the caller runs the runtime's `start`
//! once it has read `created`.

use std::ffi::OsString;
use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use tincan_supervisor::exit::Exit;
use tincan_supervisor::log::{Lines, Stream};
use tincan_supervisor::{LOG_FILE, OWN_LOG_FILE, PID_FILE};

/// Once the container's first process has ended, how long its output may
/// take to close: in a PID namespace of its own the kernel has killed the
/// rest already, and what they wrote is in the pipes; outside one, a process
/// left running could hold them open for ever.
const DRAIN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let dir = args.next();
    let mut on_exit = Vec::new();
    while args.peek().is_some_and(|a| a == "--on-exit") {
        args.next();
        on_exit.extend(args.next());
    }
    if args.peek().is_some_and(|a| a == "--") {
        args.next();
    }
    let (Some(dir), Some(runtime)) = (dir, args.next()) else {
        eprintln!("usage: tincan-supervisor DIR [--on-exit ARG]... [--] RUNTIME [ARGS...]");
        return ExitCode::from(2);
    };
    let rest: Vec<OsString> = args.collect();
    let dir = Path::new(&dir);
    let created = match create(dir, &runtime, &rest) {
        Ok(created) => created,
        Err(e) => {
            println!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("created {}", created.pid);
    if let Err(e) = let_go(dir) {
        // Still attached: the caller reads this as a failure to detach.
        println!("error: detach: {e}");
        return ExitCode::FAILURE;
    }
    let supervised = supervise(dir, created);
    if let Err(e) = &supervised {
        eprintln!("tincan-supervisor: {e}");
    }
    // Also when the log or the record failed: the container has ended, and
    // what it leaves must go.
    if let Some((program, args)) = on_exit.split_first() {
        let ran =
            Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).status();
        match ran {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("tincan-supervisor: the exit command {status}"),
            Err(e) => eprintln!("tincan-supervisor: run the exit command: {e}"),
        }
    }
    match supervised {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// A container set up by the runtime: its first process, the signals that
/// say a child ended, and the read ends of its output.
struct Created {
    pid: Pid,
    signals: SignalFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn create(dir: &Path, runtime: &OsString, args: &[OsString]) -> Result<Created, String> {
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
    // The write ends go with the command: once it is dropped, only the
    // container holds them, and their end is the container's.
    let status = Command::new(runtime)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout_w)
        .stderr(stderr_w)
        .status()
        .map_err(|e| format!("run {}: {e}", runtime.to_string_lossy()))?;
    if !status.success() {
        let said = [&stdout, &stderr].map(read_now).concat();
        let said = String::from_utf8_lossy(&said);
        return Err(format!("{} {status}: {}", runtime.to_string_lossy(), said.trim()));
    }
    let pid_file = dir.join(PID_FILE);
    let pid = std::fs::read_to_string(&pid_file)
        .map_err(|e| format!("{}: {e}", pid_file.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", pid_file.display()))?;
    Ok(Created { pid: Pid::from_raw(pid), signals, stdout, stderr })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// What a pipe holds now, without waiting for more.
fn read_now(fd: &OwnedFd) -> Vec<u8> {
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut all = Vec::new();
    let _ = std::fs::File::from(fd.try_clone().expect("dup a pipe")).read_to_end(&mut all);
    all
}

/// Stop being the caller's: stdin and stdout from and to `/dev/null` (the
/// caller's read of our stdout ends), stderr to our own log.
fn let_go(dir: &Path) -> std::io::Result<()> {
    std::io::stdout().flush()?;
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    let own = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(OWN_LOG_FILE))?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&own)?;
    Ok(())
}

/// Log the container's output and reap what ends, until its first process
/// has ended and its output is closed.
fn supervise(dir: &Path, created: Created) -> std::io::Result<()> {
    let Created { pid, signals, stdout, stderr } = created;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(LOG_FILE))?;
    let mut log = BufWriter::new(log);
    let mut streams =
        [(Some(stdout), Lines::new(Stream::Stdout)), (Some(stderr), Lines::new(Stream::Stderr))];
    let mut ended: Option<(Exit, Instant)> = None;
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
            Err(e) => return Err(e.into()),
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
                Ok(0) => {
                    lines.finish(&mut log)?;
                    *fd = None;
                }
                Ok(n) => lines.push(&buf[..n], &mut log)?,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        log.flush()?;
    }
    for (_, lines) in &mut streams {
        lines.finish(&mut log)?;
    }
    log.flush()?;
    let (exit, _) = ended.expect("the loop ends only after the process has");
    exit.write(dir)
}

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
