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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

fn c_path(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached copy of the mount at `path` (only that mount: not the ones
/// below it), closed on `execve`.
pub fn clone_mount(path: &Path) -> nix::Result<OwnedFd> {
    open_tree(libc::AT_FDCWD, &c_path(path)?, 0)
}

/// A detached copy of the mount at `path` and of every mount below it (what
/// `mount --rbind` copies).
pub fn clone_tree(path: &Path) -> nix::Result<OwnedFd> {
    open_tree(libc::AT_FDCWD, &c_path(path)?, libc::AT_RECURSIVE as u32)
}

/// Change a detached mount's attributes before it is attached: read-only,
/// `nosuid`..., or the user namespace its IDs are seen through (chapter 9).
/// `mount` may also be an `O_PATH` descriptor of an attached mount's root:
/// then that mount changes (and only it, not the ones below).
pub fn set_attributes(mount: impl AsFd, attr: &libc::mount_attr) -> nix::Result<()> {
    mount_setattr(mount.as_fd(), attr, libc::AT_EMPTY_PATH)
}

/// The same for `mount` and every mount below it (`AT_RECURSIVE`): a tree
/// cloned with [`clone_tree`] made read-only all through, where
/// [`set_attributes`] would leave the mounts below writable.
pub fn set_attributes_recursively(mount: impl AsFd, attr: &libc::mount_attr) -> nix::Result<()> {
    mount_setattr(mount.as_fd(), attr, libc::AT_EMPTY_PATH | libc::AT_RECURSIVE)
}

fn mount_setattr(
    mount: BorrowedFd,
    attr: &libc::mount_attr,
    flags: libc::c_int,
) -> nix::Result<()> {
    // SAFETY: an empty NUL-terminated path (AT_EMPTY_PATH: the descriptor
    // itself), and the attributes with their size.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if done < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// The same for the file or directory `opened` (an `O_PATH` descriptor):
/// how it was found — say, with no symbolic link followed — is the caller's
/// choice, and nothing can swap it between that and the copy.
pub fn clone_mount_of(opened: BorrowedFd) -> nix::Result<OwnedFd> {
    open_tree(opened.as_raw_fd(), c"", libc::AT_EMPTY_PATH as u32)
}

fn open_tree(dir: RawFd, path: &std::ffi::CStr, flags: u32) -> nix::Result<OwnedFd> {
    let flags = flags | libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: a NUL-terminated path; the kernel returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dir, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the descriptor is new, and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach the detached mount `mount` on the file or directory `place` (an
/// `O_PATH` descriptor: found the caller's way, say inside a rootfs).
pub fn attach_on(mount: &OwnedFd, place: BorrowedFd) -> nix::Result<()> {
    move_mount(mount, place.as_raw_fd(), c"", libc::MOVE_MOUNT_T_EMPTY_PATH)
}

/// Attach the detached mount `mount` at `target` (an existing file or directory).
pub fn attach(mount: &OwnedFd, target: &Path) -> nix::Result<()> {
    move_mount(mount, libc::AT_FDCWD, &c_path(target)?, 0)
}

/// `move_mount(2)` of the detached `mount` (the descriptor itself,
/// `MOVE_MOUNT_F_EMPTY_PATH`) to `to` from `to_dir`, with `flags` for the
/// target.
fn move_mount(mount: &OwnedFd, to_dir: RawFd, to: &std::ffi::CStr, flags: u32) -> nix::Result<()> {
    // SAFETY: NUL-terminated strings, and descriptors we hold.
    let done = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_fd().as_raw_fd(),
            c"".as_ptr(),
            to_dir,
            to.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | flags,
        )
    };
    if done < 0 { Err(Errno::last()) } else { Ok(()) }
}
