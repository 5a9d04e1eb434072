//! The directory the command starts in: the image config's `WorkingDir`.
//!
//! A process's working directory is where its relative paths start (`man 2
//! chdir`); it survives `execve(2)`, so the runtime sets it and the command
//! simply finds itself there. The step runs after `pivot_root`, so the path
//! resolves inside the container — a symbolic link in the image that points
//! to `/srv` points to the *container's* `/srv` — and nothing it does can reach
//! the host's files.
//!
//! A Dockerfile's `WORKDIR /app` makes the directory at build time, but an
//! image built by other tools may only name it; Docker then makes it when the
//! container starts, and so do we: each missing directory of the path, mode
//! 755, owned by root (Docker's `SetupWorkingDirectory` makes it as the
//! container's root, not as its user, and so does runc). A user other than root
//! can then enter it but not write to it, as in Docker.
//!
//! The step runs before [`crate::user::SwitchUser`], as root: like runc, we
//! enter the directory even when the image's user could not; the command then
//! starts there, and finds out what it may do in it.

use std::path::{Path, PathBuf};

use ch00_process::{Context, Doing, Step, StepError};
use ch01_chroot::RootDir;
use nix::errno::Errno;
use nix::sys::stat::Mode;
use nix::unistd::fchdir;

/// Start the command in `dir`, made if it is missing.
pub struct WorkDir {
    dir: PathBuf,
}

impl WorkDir {
    /// `dir` is absolute: `config::working_dir` checks it.
    pub fn new(dir: PathBuf) -> WorkDir {
        WorkDir { dir }
    }

    /// The error for a file where the working directory needs a directory.
    fn in_the_way(&self) -> StepError {
        let hint = "the image's WorkingDir needs a directory where the image has a file";
        StepError::new(format!("enter the WorkingDir {}", self.dir.display()), Errno::ENOTDIR)
            .hint(hint)
    }
}

// ANCHOR: step
impl Step for WorkDir {
    fn name(&self) -> &'static str {
        "working directory"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // Resolved inside the container's root (it is `/` by now), and never
        // through a magic link: a WorkingDir of `/proc/self/fd/N` would
        // otherwise enter whatever directory of the host the runtime still had
        // open, and the command would start outside its root (runc's
        // CVE-2024-21626). Missing directories are made on the way, exactly
        // 755 whatever the runtime's umask, which is put back after.
        let root = RootDir::open(Path::new("/"))?;
        let inside = self.dir.strip_prefix("/").unwrap_or(&self.dir).to_string_lossy();
        // `WORKDIR /` is the root itself.
        let inside = if inside.is_empty() { ".".into() } else { inside };
        let umask = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
        let dir = root.dir(&inside);
        nix::sys::stat::umask(umask);
        let dir = dir.map_err(|e| match e.errno() {
            Errno::ENOTDIR | Errno::EEXIST => self.in_the_way(),
            _ => e,
        })?;
        fchdir(&dir).doing(|| format!("chdir to {}", self.dir.display()))
    }
}
// ANCHOR_END: step

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use nix::sys::stat::{Mode, umask};

    use super::*;
    use crate::testing::{Fixture, in_a_child};

    // The real thing runs after pivot_root; here, absolute paths in a temporary
    // directory stand for the container's, in a child (the working directory
    // is the whole process's).

    #[test]
    fn a_missing_directory_is_made_755_and_entered() {
        let (tmp, fixture) = (tempfile::tempdir().unwrap(), Fixture::new());
        let dir = tmp.path().join("srv/app");
        let step = WorkDir::new(dir.clone());
        let seen = in_a_child(|| {
            umask(Mode::from_bits_truncate(0o077)); // would make 700 directories
            match step.in_child(&fixture.cx()) {
                Ok(()) => std::env::current_dir().unwrap().display().to_string(),
                Err(e) => e.to_string(),
            }
        });
        assert_eq!(seen, dir.display().to_string());
        for made in [tmp.path().join("srv"), dir] {
            let meta = fs::metadata(&made).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o755, "{}", made.display());
            assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw(), "owned by the runtime's user");
        }
    }

    #[test]
    fn the_root_is_a_working_directory_too() {
        let fixture = Fixture::new();
        let step = WorkDir::new(PathBuf::from("/"));
        let seen = in_a_child(|| match step.in_child(&fixture.cx()) {
            Ok(()) => std::env::current_dir().unwrap().display().to_string(),
            Err(e) => e.to_string(),
        });
        assert_eq!(seen, "/");
    }

    #[test]
    fn an_existing_directory_is_entered_unchanged() {
        let (tmp, fixture) = (tempfile::tempdir().unwrap(), Fixture::new());
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o750)).unwrap();
        let step = WorkDir::new(tmp.path().to_owned());
        let seen = in_a_child(|| match step.in_child(&fixture.cx()) {
            Ok(()) => std::env::current_dir().unwrap().display().to_string(),
            Err(e) => e.to_string(),
        });
        assert_eq!(seen, tmp.path().display().to_string());
        assert_eq!(fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o7777, 0o750);
    }

    #[test]
    fn a_file_in_the_way_is_an_error_naming_the_working_directory() {
        let (tmp, fixture) = (tempfile::tempdir().unwrap(), Fixture::new());
        fs::write(tmp.path().join("app"), "").unwrap();
        let step = WorkDir::new(tmp.path().join("app/src"));
        let seen = in_a_child(|| match step.in_child(&fixture.cx()) {
            Ok(()) => "entered".to_owned(),
            Err(e) => format!("{:?} {}", e.errno(), e),
        });
        assert!(seen.starts_with("ENOTDIR"), "{seen}");
        assert!(seen.contains("WorkingDir"), "{seen}");
    }

    /// A magic link in WorkingDir could only lead out of the container, to a
    /// directory the runtime has open (runc's CVE-2024-21626): refused.
    #[test]
    fn a_working_dir_through_proc_self_fd_is_refused() {
        let (tmp, fixture) = (tempfile::tempdir().unwrap(), Fixture::new());
        let open = fs::File::open(tmp.path()).unwrap();
        let magic = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&open));
        let step = WorkDir::new(PathBuf::from(&magic));
        let seen = in_a_child(|| match step.in_child(&fixture.cx()) {
            Ok(()) => format!("entered {}", std::env::current_dir().unwrap().display()),
            Err(e) => format!("{:?}", e.errno()),
        });
        assert_eq!(seen, "ELOOP", "{magic}");
    }
}
