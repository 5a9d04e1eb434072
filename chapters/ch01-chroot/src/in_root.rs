//! Paths inside a root filesystem, resolved as the container would resolve them.
//!
//! After `chroot(2)` the kernel resolves every path *of the container's process*
//! inside the new root: `/etc/hosts` is `ROOTFS/etc/hosts`, an absolute symbolic
//! link starts from ROOTFS, and `..` stops there. But the runtime also works on
//! the rootfs from *outside*, as the host, before the chroot (chapter 6 puts its
//! `/etc` files in place) or after the container is gone (chapter 2 unmounts its
//! `/proc`). A path it builds by joining strings, `ROOTFS + "/etc/hosts"`, is
//! resolved by the host's rules — and a root filesystem is hostile input: if its
//! `etc/hosts` is a symbolic link to `/etc/hosts`, that path is the *host's*
//! file, and the runtime would write to it, or mount over it.
//!
//! `openat2(2)` with `RESOLVE_IN_ROOT` resolves one path as if a directory were
//! the root: a chroot for a single lookup, without changing the process's root.
//! We then act on the file descriptor it returns, never on the path again, so
//! nothing can swap the file between our check and our use (a race called
//! TOCTOU: time of check, time of use). A mount(2) target is given as
//! `/proc/self/fd/N`, which names exactly that open file.
//! (`man 2 openat2`; runc and crun do the same.)

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ch00_process::{Doing, StepError};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, readlinkat};
use nix::sys::stat::{Mode, SFlag};

/// A root filesystem, opened, for lookups that never leave it.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RootDir {
    pub fn open(path: &Path) -> Result<RootDir, StepError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty())
            .doing(|| format!("open the root filesystem {}", path.display()))?;
        Ok(RootDir { fd, path: path.to_owned() })
    }

    // ANCHOR: open_in
    /// Open `path` (relative to the root, like `etc/hosts`) with `flags`, every
    /// component resolved inside the root. Magic links (`/proc/self/...`) are
    /// refused: inside a rootfs they could only lead out of it.
    pub fn open_in(&self, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
        let mut how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        if flags.contains(OFlag::O_CREAT) {
            how = how.mode(Mode::from_bits_truncate(0o644)); // openat2 wants none otherwise
        }
        openat2(&self.fd, path, how)
    }
    // ANCHOR_END: open_in

    /// The directory `path`, made (as a plain `mkdir`, mode 755) if it is missing.
    /// A symbolic link that leads nowhere in the root is an error that says so.
    pub fn dir(&self, path: &str) -> Result<OwnedFd, StepError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.open_in(path, flags) {
            Err(Errno::ENOENT) if self.link_target(path).is_none() => {
                let (parent, name) = split(path);
                let parent = self.dir(parent)?;
                nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o755))
                    .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
                    .doing(|| format!("create {}", self.shown(path)))?;
                self.open_in(path, flags).doing(|| format!("open {}", self.shown(path)))
            }
            other => other.map_err(|errno| self.error(path, errno)),
        }
    }

    /// The regular file `path` (as a mount target: opened `O_PATH`, so opening
    /// it has no effect of its own), created empty if it is missing. Anything
    /// else there — a directory, a FIFO that would block an `open`, a device
    /// whose `open` would do something, a link to nowhere — is an error that
    /// says what it is.
    pub fn file(&self, path: &str) -> Result<OwnedFd, StepError> {
        match self.open_in(path, OFlag::O_PATH) {
            Ok(fd) => {
                let stat =
                    nix::sys::stat::fstat(&fd).doing(|| format!("stat {}", self.shown(path)))?;
                let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
                if kind == SFlag::S_IFREG {
                    return Ok(fd);
                }
                Err(StepError::new(format!("use {}", self.shown(path)), Errno::EINVAL)
                    .hint("it is not a regular file".to_owned()))
            }
            Err(Errno::ENOENT) if self.link_target(path).is_none() => {
                // Missing: make it, and only it (O_EXCL follows no link).
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOCTTY;
                self.open_in(path, flags).map_err(|errno| self.error(path, errno))?;
                self.open_in(path, OFlag::O_PATH).map_err(|errno| self.error(path, errno))
            }
            Err(errno) => Err(self.error(path, errno)),
        }
    }

    /// Where `path` leads inside the root, relative to it (`proc` is `mnt/x` if
    /// it is a link to `/mnt/x`), when it exists.
    pub fn resolved(&self, path: &str) -> Option<String> {
        let fd = self.open_in(path, OFlag::O_PATH).ok()?;
        let real = std::fs::read_link(fd_path(&fd)).ok()?;
        let root = std::fs::read_link(fd_path(&self.fd)).ok()?;
        let inside = real.strip_prefix(&root).ok()?;
        Some(if inside.as_os_str().is_empty() { ".".into() } else { inside.to_str()?.to_owned() })
    }

    /// Where `path` is on the host, for messages: `ROOTFS/etc/hosts`.
    pub fn shown(&self, path: &str) -> String {
        self.path.join(path).display().to_string()
    }

    /// What the symbolic link `path` points to, if it is one.
    fn link_target(&self, path: &str) -> Option<OsString> {
        let (parent, name) = split(path);
        let parent = self.open_in(parent, OFlag::O_PATH | OFlag::O_DIRECTORY).ok()?;
        readlinkat(&parent, name).ok()
    }

    /// An error about `path` that says where a symbolic link on the way led.
    fn error(&self, path: &str, errno: Errno) -> StepError {
        let error = StepError::new(format!("open {}", self.shown(path)), errno);
        match self.link_target(path) {
            Some(target) => error.hint(format!(
                "it is a symbolic link to {}, resolved inside the root filesystem as the container would",
                Path::new(&target).display()
            )),
            None => error,
        }
    }
}

impl AsFd for RootDir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// In the container, after `chroot` or `pivot_root` (where the kernel keeps every
/// path inside the root): the directory `path`, to mount on, made if missing. A
/// symbolic link that leads nowhere, or a file, is an error that says so.
pub fn mount_point(path: &str) -> Result<(), StepError> {
    let action = || format!("use {path} as a mount point");
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path).doing(|| format!("create {path}"))
        }
        Err(e) => Err(e).doing(action),
        Ok(_) if Path::new(path).is_dir() => Ok(()),
        Ok(meta) if meta.is_symlink() => {
            let target = std::fs::read_link(path).unwrap_or_default();
            Err(StepError::new(action(), Errno::ENOTDIR).hint(format!(
                "it is a symbolic link to {}, which is not a directory in the container",
                target.display()
            )))
        }
        Ok(_) => Err(StepError::new(action(), Errno::ENOTDIR).hint("it is a file".to_owned())),
    }
}

/// A path that names exactly the open file `fd`, for system calls that take a
/// path (`mount(2)`'s target): the kernel's own link, not one in the rootfs.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `a/b/c` -> (`a/b`, `c`); `c` -> (`.`, `c`).
fn split(path: &str) -> (&str, &str) {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => (".", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A rootfs whose `etc/hosts` points at a file *outside* it, absolutely and
    /// with `..`: both resolve inside the rootfs, as they would in the container.
    #[test]
    fn symlinks_never_lead_out_of_the_root() {
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("secret");
        fs::write(&secret, "host\n").unwrap();
        let root = host.path().join("rootfs");
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink(&secret, root.join("etc/absolute")).unwrap();
        symlink("../../secret", root.join("etc/relative")).unwrap();
        let rootfs = RootDir::open(&root).unwrap();
        for link in ["etc/absolute", "etc/relative"] {
            assert_eq!(rootfs.open_in(link, OFlag::O_RDONLY).unwrap_err(), Errno::ENOENT, "{link}");
        }
        // A link to nowhere (inside) is not made into a file: it is an error.
        let err = rootfs.file("etc/absolute").unwrap_err().to_string();
        assert!(err.contains("it is a symbolic link to"), "{err}");
        assert_eq!(fs::read_to_string(&secret).unwrap(), "host\n", "the host's file is untouched");
    }

    #[test]
    fn a_dangling_link_is_named_in_the_error_and_a_missing_dir_is_made() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/nowhere/etc", dir.path().join("etc")).unwrap();
        let rootfs = RootDir::open(dir.path()).unwrap();
        let err = rootfs.dir("etc").unwrap_err().to_string();
        assert!(err.contains("/etc: No such file or directory"), "{err}");
        assert!(err.contains("it is a symbolic link to /nowhere/etc"), "{err}");
        rootfs.dir("var/lib").unwrap();
        assert!(dir.path().join("var/lib").is_dir());
    }

    #[test]
    fn a_link_is_resolved_to_where_it_leads_inside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("mnt/x")).unwrap();
        symlink("/mnt/x", dir.path().join("proc")).unwrap();
        let rootfs = RootDir::open(dir.path()).unwrap();
        assert_eq!(rootfs.resolved("proc").as_deref(), Some("mnt/x"));
        assert_eq!(rootfs.resolved("missing"), None);
    }

    /// A FIFO would block an `open`, a device's `open` could do anything: a
    /// mount target must be a regular file, checked without opening it.
    #[test]
    fn only_a_regular_file_is_a_file_target() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        fs::create_dir(dir.path().join("dir")).unwrap();
        let rootfs = RootDir::open(dir.path()).unwrap();
        for not_a_file in ["fifo", "dir"] {
            let err = rootfs.file(not_a_file).unwrap_err().to_string();
            assert!(err.ends_with("(it is not a regular file)"), "{err}");
        }
        rootfs.file("new").unwrap();
        assert!(dir.path().join("new").is_file());
    }

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(split("etc/hosts"), ("etc", "hosts"));
        assert_eq!(split("etc"), (".", "etc"));
        assert_eq!(split("/etc"), ("/", "etc"));
    }
}
