//! `--init`: a tiny init of ours as the container's PID 1.
//!
//! Most programs were not written to be PID 1. They install no handlers for
//! `SIGTERM` or `SIGINT` (the default action, "terminate", was always enough), so
//! as PID 1 they ignore both; and they never wait for children they did not
//! start, so the orphans the kernel hands to PID 1 stay zombies for ever,
//! filling the process table. An init fixes both, and that is all it does:
//!
//! - it runs the command as its child (PID 2), so the command gets signals as
//!   any process does;
//! - it passes on every signal it receives to the command;
//! - it reaps every child that ends — the command, and every orphan;
//! - when the command ends, it exits with the command's status (128 + N for a
//!   death by signal N), and the kernel ends the rest of the namespace.
//!
//! This is what `tini`, `catatonit` and `docker run --init` do. Ours is the
//! runtime's own code, still running in the process `clone` made (the runner
//! forks it after the plan's steps; `ch00_process::Plan::init`).
//!
//! How it waits: it *blocks* every signal and takes them one at a time with
//! `sigwaitinfo(2)`. A blocked signal is never discarded, not even at PID 1 (the
//! kernel only drops the unhandled signals it would deliver), so nothing is lost
//! between two waits. `SIGCHLD` means "a child ended": reap. A signal the
//! *terminal* sends (Ctrl-C) reaches the command by itself, as a member of the
//! terminal's foreground group like us: passing it on would deliver it twice.
//! Nor are the job-control stops passed on: nothing here would resume it.
//!
//! One more thing: this PID 1 is a copy of the runtime, so its memory still
//! holds the runtime's command line and environment, which `/proc/1/cmdline` and
//! `/proc/1/environ` show to the container — a `sudo` user's variables, a CI
//! job's tokens. It blanks them first (`scrub`).

use ch00_process::clone::{pidfd_open, send_signal};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

// ANCHOR: init
/// PID 1's life: forward signals to `command`, reap every child, and return the
/// command's exit status once it has ended.
pub fn init(command: Pid) -> i32 {
    // So that `ps` inside shows what PID 1 is (it is still our runtime's code).
    let _ = nix::sys::prctl::set_name(c"tincan-init");
    scrub();
    let every = SigSet::all();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&every), None);
    // The command is our child and not reaped yet, so its PID still names it.
    let pidfd = pidfd_open(command).ok();
    loop {
        // Reap first: the command may have ended before we blocked SIGCHLD.
        if let Some(status) = reap_all(command) {
            return status;
        }
        let Some((signal, from_terminal)) = next_signal(&every) else { continue };
        let job_control = matches!(signal, Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU);
        if signal == Signal::SIGCHLD || from_terminal || job_control {
            continue;
        }
        let _ = match &pidfd {
            Some(pidfd) => send_signal(pidfd, signal),
            None => kill(command, signal),
        };
    }
}
// ANCHOR_END: init

/// The next signal, and whether the kernel sent it for the terminal
/// (`si_code` `SI_KERNEL`) rather than a process (`kill(2)`: `SI_USER` and kin).
fn next_signal(set: &SigSet) -> Option<(Signal, bool)> {
    // SAFETY: an all-zero siginfo is valid; sigwaitinfo fills it in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waits for one of the blocked signals in `set`.
    let number = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
    let signal = Signal::try_from(number).ok()?;
    Some((signal, info.si_code == libc::SI_KERNEL))
}

/// Blank the runtime's command line and environment in this process's memory,
/// and name it `tincan-init` there too. (`/proc/PID/stat` says where they are:
/// fields 48 to 51, `man 5 proc`.)
fn scrub() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // The command name may hold spaces: the fields start after its last ')'.
    let Some((_, fields)) = stat.rsplit_once(") ") else { return };
    let field = |n: usize| fields.split(' ').nth(n - 3).and_then(|f| f.parse::<usize>().ok());
    let (Some(args), Some(args_end), Some(env), Some(env_end)) =
        (field(48), field(49), field(50), field(51))
    else {
        return;
    };
    for (start, end) in [(args, args_end), (env, env_end)] {
        if start < end {
            // SAFETY: the kernel laid these strings out in this process's own
            // writable memory (the top of the main thread's stack), and no one
            // uses them any more: this is PID 1's code alone from here on.
            unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
        }
    }
    let name = b"tincan-init";
    if args_end - args > name.len() {
        // SAFETY: as above; it fits, with the zero after it.
        unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), args as *mut u8, name.len()) };
    }
}

/// Collect every child that has ended; the command's exit status if it is one of them.
fn reap_all(command: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                return Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(_) | Err(Errno::EINTR) => continue, // an orphan, reaped
            Err(_) => return None,
        }
    }
}
