//! Creating the container's process with `clone3(2)`, and holding on to it with a
//! *pidfd*.
//!
//! `clone3` is `fork` with options. Three of them matter to a runtime:
//!
//! - the `CLONE_NEW*` flags: the child is *born* in new namespaces. A process cannot
//!   move itself into a new PID namespace (`unshare(CLONE_NEWPID)` only affects its
//!   future children), but a child cloned with `CLONE_NEWPID` is PID 1 of the new
//!   namespace from its first instruction;
//! - `CLONE_PIDFD`: the kernel also hands us a file descriptor that refers to *this*
//!   process. A PID is only a number; once the process has ended and been reaped,
//!   the kernel may give the number to a new, unrelated process, and a `kill(pid)`
//!   sent "to the container" would hit that one. A signal sent through the pidfd
//!   (`pidfd_send_signal(2)`) reaches our child or fails with `ESRCH`;
//! - `CLONE_INTO_CGROUP` (chapter 7, cgroup v2): the child is born in its cgroup,
//!   so not a single instruction of it runs unlimited.
//!
//! Like `fork`, `clone3` without a stack of its own returns twice: in the parent
//! with the child's PID, in the child with 0. `man 2 clone3`, `man 2 pidfd_open`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// What `clone3` puts the child into besides its namespaces. Steps fill it in
/// before the clone (`Step::before_clone`).
#[derive(Debug, Default)]
pub struct CloneInto {
    /// A cgroup v2 directory to be born in (chapter 7).
    pub cgroup: Option<OwnedFd>,
    /// A user namespace that exists already, to be born in, and to own the
    /// child's new namespaces (an OCI config's `user` namespace with a path):
    /// see [`clone3`].
    pub user_namespace: Option<OwnedFd>,
}

/// The container's process, as its parent holds it.
#[derive(Debug)]
pub struct Child {
    pub pid: Pid,
    /// Refers to this very process, even after its PID is someone else's.
    pub pidfd: OwnedFd,
}

/// Which side of the clone we are on.
pub enum Forked {
    Parent(Child),
    Child,
}

/// `clone3(2)`: see [`clone3_here`]; for a user namespace that exists
/// already ([`CloneInto::user_namespace`]), through a helper that joins it.
///
/// # Safety
/// As [`clone3_here`].
pub unsafe fn clone3(namespaces: CloneFlags, into: &CloneInto) -> Result<Forked, Errno> {
    match &into.user_namespace {
        // SAFETY: the caller upholds the same contract.
        Some(userns) => unsafe { clone3_in(userns, namespaces, into) },
        // SAFETY: the same.
        None => unsafe { clone3_here(namespaces, into) },
    }
}

// ANCHOR: clone3
/// `clone3(2)` with `namespaces`, `CLONE_PIDFD` and whatever `into` asks for.
///
/// # Safety
/// As with `fork(2)`: in a multi-threaded program the child starts as a copy with
/// only the calling thread, and a lock held by another thread stays locked for
/// ever. Call it from a single-threaded process (our runtime is, until after the
/// clone). And unlike `fork(3)`, a raw `clone3` runs none of the C library's
/// bookkeeping: in the child, glibc's cached thread id is the parent's, its
/// robust-mutex list is not registered again, and `pthread_atfork` handlers do
/// not run. The child must not rely on those (Rust's locks and our steps don't;
/// `--init`'s fork is glibc's own `fork`).
pub unsafe fn clone3_here(namespaces: CloneFlags, into: &CloneInto) -> Result<Forked, Errno> {
    let mut pidfd: libc::c_int = -1;
    let mut flags = namespaces.bits() as u64 | libc::CLONE_PIDFD as u64;
    let mut cgroup = 0;
    if let Some(fd) = &into.cgroup {
        flags |= CLONE_INTO_CGROUP;
        cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: all-zero is a valid `clone_args`: no stack (fork-like), no TLS.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    args.exit_signal = Signal::SIGCHLD as u64;
    args.cgroup = cgroup;
    // SAFETY: `args` is a valid clone_args of the size we pass; the caller upholds
    // the fork-like contract above.
    let ret = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut libc::clone_args, size_of_val(&args))
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor in `pidfd`.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent(Child { pid: Pid::from_raw(pid as libc::pid_t), pidfd }))
        }
    }
}
// ANCHOR_END: clone3

/// The clone for a user namespace that exists already. A namespace belongs
/// to the user namespace of the process that makes it, so the child's new
/// ones must be made from inside that one; but the runtime must stay outside,
/// with its privileges on the host. So a helper is forked, which joins the
/// user namespace (`setns(2)`) and clones the child with `CLONE_PARENT`: the
/// child is the runtime's, as if cloned here (its exit status, its pidfd,
/// which the helper hands over), and the helper exits. runc's `nsexec` forks
/// for the same reason.
///
/// Inside the namespace, its root (another container's, maybe) holds every
/// capability over the helper and the child while they are still the host's
/// root, with the host's files in reach: so first they are made
/// non-dumpable, which no capability in a user namespace gets past (`man 2
/// PR_SET_DUMPABLE`; `execve` of the command undoes it), and they become
/// the namespace's root at once (runc's CVE-2016-9962). On cgroup v2 the
/// helper moves itself into the child's cgroup before, where the child is
/// born: as the namespace's root it may no longer write the host's cgroups.
///
/// # Safety
/// As [`clone3_here`].
unsafe fn clone3_in(
    userns: &OwnedFd,
    namespaces: CloneFlags,
    into: &CloneInto,
) -> Result<Forked, Errno> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (runtime, helper_end) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
    // SAFETY: single-threaded (the caller's contract): the helper is a copy
    // that only makes system calls, and leaves with _exit.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(runtime);
            let mut pidfd: libc::c_int = -1;
            // SAFETY: the helper's own steps, each a plain system call.
            let cloned = unsafe { helper(userns, namespaces, into, &mut pidfd) };
            if let Ok(0) = cloned {
                drop(helper_end);
                return Ok(Forked::Child);
            }
            let _ = match cloned {
                Ok(_) => send_fd(&helper_end, pidfd, 0),
                Err(errno) => send_fd(&helper_end, -1, errno as i32),
            };
            // SAFETY: the helper ends here, running nothing of the runtime's.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child: helper } => {
            drop(helper_end);
            let received = receive_fd(&runtime);
            let _ = nix::sys::wait::waitpid(helper, None);
            // The PID as our namespace numbers it (the helper's may be
            // another's, when a PID namespace is joined too).
            let pidfd = received?;
            let pid = pid_of(&pidfd)?;
            Ok(Forked::Parent(Child { pid, pidfd }))
        }
    }
}

/// The helper's part: into the cgroup, not dumpable, into the user
/// namespace as its root, then `clone3` (0 in the child).
///
/// # Safety
/// As [`clone3_here`].
unsafe fn helper(
    userns: &OwnedFd,
    namespaces: CloneFlags,
    into: &CloneInto,
    pidfd: &mut libc::c_int,
) -> Result<i64, Errno> {
    if let Some(cgroup) = &into.cgroup {
        let procs = nix::fcntl::openat(
            cgroup,
            "cgroup.procs",
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        nix::unistd::write(&procs, b"0")?;
    }
    nix::sys::prctl::set_dumpable(false)?;
    nix::sched::setns(userns, CloneFlags::CLONE_NEWUSER)?;
    let root = nix::unistd::Gid::from_raw(0);
    nix::unistd::setresgid(root, root, root)?;
    let root = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresuid(root, root, root)?;
    // SAFETY: all-zero is a valid `clone_args`: no stack, no TLS.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    // No exit signal of its own with `CLONE_PARENT` (the kernel refuses
    // one): it takes the helper's, SIGCHLD, as fork gave it.
    args.flags = namespaces.bits() as u64 | libc::CLONE_PARENT as u64 | libc::CLONE_PIDFD as u64;
    args.pidfd = pidfd as *mut libc::c_int as u64;
    // SAFETY: as in `clone3_here`.
    let ret = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut libc::clone_args, size_of_val(&args))
    };
    Errno::result(ret)
}

/// Send descriptor `fd` (none if negative) and an errno over `socket`.
fn send_fd(socket: &OwnedFd, fd: libc::c_int, errno: i32) -> Result<usize, Errno> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let word = errno.to_ne_bytes();
    let fds = [fd];
    let rights = [ControlMessage::ScmRights(&fds)];
    let message: &[ControlMessage] = if fd >= 0 { &rights } else { &[] };
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[std::io::IoSlice::new(&word)],
        message,
        MsgFlags::empty(),
        None,
    )
}

/// The child's pidfd from the helper, or the errno it failed with.
fn receive_fd(socket: &OwnedFd) -> Result<OwnedFd, Errno> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut word = [0u8; 4];
    let mut iov = [std::io::IoSliceMut::new(&mut word)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message =
        recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let fd = message.cmsgs()?.find_map(|cmsg| match cmsg {
        // SAFETY: the kernel just installed this descriptor in our table.
        ControlMessageOwned::ScmRights(fds) => {
            fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) })
        }
        _ => None,
    });
    let bytes = message.bytes;
    match fd {
        Some(fd) => Ok(fd),
        // The helper said why, or died before saying anything.
        None if bytes == 4 => Err(Errno::from_raw(i32::from_ne_bytes(word))),
        None => Err(Errno::ECHILD),
    }
}

/// The PID of the process `pidfd` refers to, as our PID namespace numbers
/// it (`Pid:` in its `/proc/self/fdinfo`).
fn pid_of(pidfd: &OwnedFd) -> Result<Pid, Errno> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|pid| pid.trim().parse().ok())
        .filter(|pid: &libc::pid_t| *pid > 0)
        .map(Pid::from_raw)
        .ok_or(Errno::ESRCH)
}

/// `CLONE_INTO_CGROUP` (Linux 5.7). The `libc` crate's constant is an `int` that
/// cannot hold it, so it is spelled out here, from `linux/sched.h`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Send `signal` to the process `pidfd` refers to. `ESRCH` once it has ended.
pub fn send_signal(pidfd: &OwnedFd, signal: Signal) -> Result<(), Errno> {
    // SAFETY: a plain system call on a descriptor we own, with no siginfo.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// A pidfd for `pid`, which must be our own child that we have not reaped yet (so
/// that the number still names it): chapter 2's init uses it for the command.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: a plain system call; on success it returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    // SAFETY: the kernel returned a descriptor that nobody else owns.
    Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    use std::os::fd::AsFd;

    /// A child cloned here exits at once; its pidfd still says so, and a signal
    /// sent through it after the child is reaped fails instead of hitting a
    /// process that took its number since.
    #[test]
    fn a_pidfd_outlives_its_process_but_reaches_no_other() {
        // SAFETY: the child only calls _exit, which is async-signal-safe.
        let forked = unsafe { clone3(CloneFlags::empty(), &CloneInto::default()) }.unwrap();
        let Forked::Parent(Child { pid, pidfd }) = forked else {
            // SAFETY: ending the child at once, without running Rust's exit path.
            unsafe { libc::_exit(7) }
        };
        let status = waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED).unwrap();
        assert_eq!(status, WaitStatus::Exited(pid, 7));
        assert_eq!(send_signal(&pidfd, Signal::SIGTERM), Err(Errno::ESRCH));
    }
}
