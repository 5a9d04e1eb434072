//! `tincan-probe fds` and `tincan-probe zombies N`: what a process inherited,
//! and who reaps orphans.

use std::fs;
use std::time::Duration;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

/// The file descriptors open in this process, found without `/proc` (chapter 1
/// has none): a descriptor is open if `fcntl(F_GETFD)` succeeds on it.
pub fn fds() -> String {
    // SAFETY: F_GETFD only reads a descriptor's flags; on a number that is not
    // open it fails with EBADF.
    let open: Vec<String> = (0..4096)
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .map(|fd| fd.to_string())
        .collect();
    format!("open descriptors: {}", open.join(" "))
}

/// Make `n` orphans that end soon after: each of `n` children starts a grandchild
/// and exits at once, so the grandchild is re-parented to PID 1. Wait until they
/// have ended, then count the zombies in `/proc`: the orphans PID 1 did not reap.
pub fn zombies(n: usize) -> String {
    for _ in 0..n {
        // SAFETY: the probe is single-threaded; the children only sleep and exit.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // SAFETY: as above.
                if let Ok(ForkResult::Child) = unsafe { fork() } {
                    std::thread::sleep(Duration::from_millis(100));
                }
                // SAFETY: leave at once, without running the parent's exit handlers.
                unsafe { libc::_exit(0) }
            }
            Ok(ForkResult::Parent { child }) => {
                let _ = waitpid(child, None);
            }
            Err(e) => return format!("fork failed: {e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let zombies = crate::report::pids()
        .into_iter()
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "PID (COMM) STATE ...": the state follows the last ')'.
            stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .count();
    format!("zombies: {zombies}")
}

/// `tincan-probe peak-rss FILE COMMAND...`, for the tests' observer on the
/// host: run COMMAND, wait for it, and write into FILE the most resident
/// memory (KiB) any process of its tree held — the largest of those this
/// process reaped, directly or through their own waits. Its exit code is
/// COMMAND's (128 + the signal that killed it).
///
/// Why not `wait4`'s figure in the test itself: a process's peak starts from
/// the memory of the program it was forked from, and a test binary holding
/// hundreds of MiB would lend its size to every child it starts. A child of
/// this small program starts small.
pub fn peak_rss(file: &str, command: &[&str]) -> std::process::ExitCode {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::wait::{WaitPidFlag, WaitStatus};
    // The tree's orphans come to us, so that their peaks count too; and we
    // reap them as they end, as init would, so that none lingers as a zombie
    // the test would take for a process left running.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let child = match std::process::Command::new(command[0]).args(&command[1..]).spawn() {
        Ok(child) => nix::unistd::Pid::from_raw(child.id() as i32),
        Err(e) => {
            eprintln!("tincan-probe: run {}: {e}", command[0]);
            return std::process::ExitCode::from(127);
        }
    };
    let code = loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => break code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => break 128 + signal as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                eprintln!("tincan-probe: wait for {}: {e}", command[0]);
                break 1;
            }
        }
    };
    // What ended meanwhile; what still runs is not waited for.
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
    let peak = getrusage(UsageWho::RUSAGE_CHILDREN).map(|u| u.max_rss()).unwrap_or(0);
    if let Err(e) = fs::write(file, peak.to_string()) {
        eprintln!("tincan-probe: write {file}: {e}");
    }
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
