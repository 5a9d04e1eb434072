//! A layer directory, opened: every path below it is resolved by the kernel,
//! inside it, and every file is made relative to a directory we hold open.
//!
//! Chapter 1 taught the rule (`ch01_chroot::RootDir`): a root filesystem is
//! hostile input, so a path in it is resolved with `openat2(2)` and
//! `RESOLVE_IN_ROOT`, never by joining strings. A layer is the same, with one
//! more twist: the archive writes the tree *as we walk it*. Its first entry can
//! be a symbolic link `etc -> /etc`, its second `etc/passwd`. So we open the
//! *parent* of each entry inside the root (a link there leads where it would
//! lead in the container, never onto the host), then make the last component
//! with a `*at` system call relative to that open directory, one that does not
//! follow a link in that last place either (`mkdirat`, `mknodat`, `symlinkat`,
//! `linkat` without `AT_SYMLINK_FOLLOW`, `openat` with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`). (`RootDir` takes `&str` paths, and names
//! in a tar archive are bytes, not always UTF-8; so this file calls `openat2`
//! itself.)

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ch01_chroot::fd_path;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Flags to hold a directory to work in (not to read it).
pub(super) const DIR: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY);

/// A directory every lookup stays inside.
pub(super) struct Root {
    fd: OwnedFd,
    /// Where the kernel says it is, to tell where a resolved directory is inside.
    real: PathBuf,
}

impl Root {
    /// Open `path`, the layer's directory. (Its own path is ours, not the
    /// archive's, so a plain open is right.)
    pub(super) fn open(path: &Path) -> io::Result<Root> {
        let fd = nix::fcntl::open(path, DIR | OFlag::O_CLOEXEC, Mode::empty())?;
        let real = std::fs::read_link(fd_path(&fd))?;
        Ok(Root { fd, real })
    }

    // ANCHOR: resolve
    /// `path` (relative; empty for the root itself), every component resolved
    /// inside the root, opened with `flags`. Magic links (`/proc/self/...`) are
    /// refused: in a layer they could only lead out of it.
    pub(super) fn resolve(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // EAGAIN: a rename somewhere on the system raced our `..` lookup (one a
        // symbolic link's target can hold); the kernel asks us to try again.
        let mut result = openat2(&self.fd, path, how);
        for _ in 0..16 {
            if !matches!(result, Err(Errno::EAGAIN)) {
                break;
            }
            result = openat2(&self.fd, path, how);
        }
        result
    }
    // ANCHOR_END: resolve

    /// Where the directory `dir` (resolved in this root) is, relative to the
    /// root: the same place has one name here, whatever links led to it.
    pub(super) fn inside(&self, dir: &OwnedFd) -> io::Result<PathBuf> {
        let real = std::fs::read_link(fd_path(dir))?;
        match real.strip_prefix(&self.real) {
            Ok(inside) => Ok(inside.to_owned()),
            Err(_) => Err(io::Error::other(format!("{} is outside the layer", real.display()))),
        }
    }
}

/// What is at `name` in `dir`, without following a symbolic link; `None` if
/// nothing is.
pub(super) fn lstat(dir: &impl AsFd, name: &OsStr) -> nix::Result<Option<FileStat>> {
    match fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::ENOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

pub(super) fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

pub(super) fn is_dir(stat: &FileStat) -> bool {
    kind(stat) == SFlag::S_IFDIR
}

/// A character device numbered 0/0: overlayfs's whiteout. (So a real 0/0
/// device cannot be stored in overlayfs' format; no real device has that
/// number, and containers/storage's overlay driver has the same limit.)
pub(super) fn is_whiteout(stat: &FileStat) -> bool {
    kind(stat) == SFlag::S_IFCHR && stat.st_rdev == 0
}

/// The directory `name` in `dir`, opened to read it or set its attributes;
/// `name` itself must be a directory, not a link to one.
pub(super) fn open_dir(dir: &impl AsFd, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir.as_fd(), name, flags, Mode::empty())
}

/// Remove what is at `name` in `dir` (`stat`), a directory with everything in
/// it, following no symbolic link.
pub(super) fn remove(dir: &OwnedFd, name: &OsStr, stat: &FileStat) -> io::Result<()> {
    if !is_dir(stat) {
        return Ok(unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?);
    }
    // std's remove_dir_all opens each directory with O_NOFOLLOW and removes
    // relative to it, so a link swapped in cannot lead it out (Rust fixed that
    // race as CVE-2022-21658). We name the directory through the kernel's link
    // to `dir`, so no path of the archive's is resolved by the host.
    std::fs::remove_dir_all(fd_path(dir).join(name))
}

/// Set the extended attribute `name` on the open file `fd`.
pub(super) fn set_xattr(fd: &impl AsFd, name: &[u8], value: &[u8]) -> io::Result<()> {
    let name = CString::new(name)?;
    // SAFETY: name is NUL-terminated; value is valid for value.len() bytes.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Ok(Errno::result(ret).map(drop)?)
}

/// True if the open file `fd` has the extended attribute `name` = `value`
/// (short values only: the markers overlayfs reads).
pub(super) fn has_xattr(fd: &impl AsFd, name: &[u8], value: &[u8]) -> io::Result<bool> {
    let name = CString::new(name)?;
    let mut buffer = [0u8; 16];
    // SAFETY: name is NUL-terminated; buffer is valid for buffer.len() bytes.
    let ret = unsafe {
        libc::fgetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    match Errno::result(ret) {
        Ok(len) => Ok(buffer.get(..len as usize) == Some(value)),
        // ENODATA: not set. ERANGE: longer than any marker, so not this one.
        Err(Errno::ENODATA | Errno::ERANGE) => Ok(false),
        Err(errno) => Err(errno.into()),
    }
}
