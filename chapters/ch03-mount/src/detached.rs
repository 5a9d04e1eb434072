//! Detached mounts: a mount held by a file descriptor, in no mount table.
//!
//! The "new mount API" (Linux 5.2) splits `mount(2)` into steps.
//! `open_tree(2)` with `OPEN_TREE_CLONE` makes a copy of a mount (like a
//! bind mount) that is attached nowhere: a descriptor is all there is of it.
//! `move_mount(2)` then attaches it wherever we like — possibly much later, in
//! another mount namespace, after the place it came from has gone out of
//! reach. That is what chapter 9 needs it for: the host's `/dev/null` is
//! cloned before `pivot_root` and attached in the container's `/dev` after.
//! (Chapter 9 also changes a detached mount before attaching it: see its
//! `idmap.rs`.)
//!
//! Man pages: `man 2 open_tree`, `man 2 move_mount` (Linux 6.x man-pages; on
//! older systems, the kernel's `Documentation/filesystems/mount_api.rst`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

fn c_path(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached copy of the mount at `path` (only that mount: not the ones
/// below it), closed on `execve`.
pub fn clone_mount(path: &Path) -> nix::Result<OwnedFd> {
    let path = c_path(path)?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: a NUL-terminated path; the kernel returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the descriptor is new, and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach the detached mount `mount` at `target` (an existing file or directory).
pub fn attach(mount: &OwnedFd, target: &Path) -> nix::Result<()> {
    let target = c_path(target)?;
    let empty = c"";
    // SAFETY: NUL-terminated strings; MOVE_MOUNT_F_EMPTY_PATH: the source is
    // the descriptor itself.
    let done = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if done < 0 { Err(Errno::last()) } else { Ok(()) }
}
