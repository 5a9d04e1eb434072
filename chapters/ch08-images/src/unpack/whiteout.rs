//! Whiteouts and opaque directories, written in overlayfs' format.
//!
//! The spec's rule (`layer.md`): a whiteout deletes only from the layers
//! *below*. So when the same layer also adds the name, in either order, the
//! added entry wins — and if it is a directory, it must hide the lower layers'
//! directory of that name: it becomes opaque. `entry.rs` handles the whiteout
//! that came first (it replaces it); this file, the whiteout that comes after.
//!
//! One more overlayfs fact (umoci learned it): a whiteout inside an opaque
//! directory is not just redundant — the directory hides every lower entry
//! anyway — but visible: `ls` lists it as a file no one can open. So an opaque
//! directory drops the whiteouts this layer put below it, and none are made
//! there afterwards. To find them we keep what we made, by where it is inside
//! the layer, and check each is still there before acting on it: a later entry
//! may have replaced it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::root::{DIR, has_xattr, is_dir, is_whiteout, lstat, open_dir, set_xattr};
use super::userns::in_user_namespace;
use super::{At, Layer, UnpackError};

/// The extended attribute that makes a directory opaque. (`trusted.*` needs
/// CAP_SYS_ADMIN to read or write, which is why overlayfs trusts it.)
pub(super) const OPAQUE: &[u8] = b"trusted.overlay.opaque";

/// The same mark for an overlay mounted in a user namespace (chapter 9), with
/// `userxattr`: there overlayfs reads `user.overlay.*` and ignores
/// `trusted.*`, so without it an opaque directory would show the lower
/// layers' files again. It is safe to trust because `meta.rs` never lets a
/// layer bring its own. (Layers unpacked before this line was written lack it:
/// pull them again, after `rmi`, to run them in a user namespace.)
pub(super) const USER_OPAQUE: &[u8] = b"user.overlay.opaque";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    Whiteout,
    Opaque,
}

// ANCHOR: write_marker
/// Write `marker` for `name` in `dir` (`.` for `dir` itself), in overlayfs'
/// format.
fn write_marker(dir: &OwnedFd, name: &OsStr, marker: Marker) -> io::Result<()> {
    // EXERCISE(ch08-images): write a whiteout, or an opaque mark, as overlayfs reads them.
    // hint: a whiteout is a character device numbered 0/0: nix::sys::stat::mknodat
    // with SFlag::S_IFCHR, Mode::empty() and makedev(0, 0). An opaque directory
    // carries the extended attributes OPAQUE and USER_OPAQUE = "y": open_dir(dir,
    // name), then set_xattr on it, once for each. (`?` turns nix's Errno into io::Error.)
    match marker {
        Marker::Whiteout => Ok(mknodat(dir, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))?),
        Marker::Opaque => {
            let dir = open_dir(dir, name)?;
            set_xattr(&dir, USER_OPAQUE, b"y")?;
            set_xattr(&dir, OPAQUE, b"y").or_else(only_root_may)
        }
    }
    // END EXERCISE
}
// ANCHOR_END: write_marker

/// `trusted.*` is the host root's alone: root of a user namespace (a user's
/// pull, chapter 9) gets EPERM, and its overlay, mounted in a user namespace
/// with `userxattr`, reads only the `user.*` mark anyway. For the host's root
/// it stays an error: its overlay reads the `trusted.*` mark.
fn only_root_may(error: io::Error) -> io::Result<()> {
    if error.raw_os_error() == Some(libc::EPERM) && in_user_namespace() {
        Ok(())
    } else {
        Err(error)
    }
}

/// Is the directory `dir` opaque? Either mark counts: a layer brings neither
/// of its own (`meta.rs`), so each was written by us.
pub(super) fn is_opaque(dir: &impl std::os::fd::AsFd) -> io::Result<bool> {
    Ok(has_xattr(dir, USER_OPAQUE, b"y")? || has_xattr(dir, OPAQUE, b"y")?)
}

impl Layer<'_> {
    // ANCHOR: whiteout
    /// `.wh.NAME` in `dir`: NAME of the layers below is deleted.
    pub(super) fn whiteout(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        at: At,
    ) -> Result<(), UnpackError> {
        let here = self.root.inside(dir).map_err(at.io("find the whiteout's directory"))?;
        let here = here.join(name);
        if self.under_opaque(&here) {
            return Ok(());
        }
        match lstat(dir, name).map_err(at.io("look at what is there"))? {
            None => {
                write_marker(dir, name, Marker::Whiteout).map_err(at.io("make the whiteout"))?;
                self.markers.insert(here, Marker::Whiteout);
            }
            // The layer added a directory of that name before its whiteout:
            // the directory wins, and hides the lower one.
            Some(old) if is_dir(&old) => {
                let added = open_dir(dir, name).map_err(at.io("open the directory"))?;
                self.mark_opaque(&added, at)?;
            }
            // A whiteout already, or a file the layer added: it wins, and it
            // hides the lower one by being there.
            Some(_) => {}
        }
        Ok(())
    }
    // ANCHOR_END: whiteout

    /// The directory `dir` hides everything the layers below have in it.
    pub(super) fn mark_opaque(&mut self, dir: &OwnedFd, at: At) -> Result<(), UnpackError> {
        write_marker(dir, OsStr::new("."), Marker::Opaque).map_err(at.io("make it opaque"))?;
        let here = self.root.inside(dir).map_err(at.io("find the opaque directory"))?;
        let below: Vec<PathBuf> = (self.markers.range(here.clone()..))
            .take_while(|(path, _)| path.starts_with(&here))
            .filter(|(_, marker)| **marker == Marker::Whiteout)
            .map(|(path, _)| path.clone())
            .collect();
        for path in below {
            self.markers.remove(&path);
            self.remove_whiteout(&path, at)?;
        }
        self.markers.insert(here, Marker::Opaque);
        Ok(())
    }

    /// Remove the whiteout this layer made at `path`, if it is still there.
    fn remove_whiteout(&self, path: &Path, at: At) -> Result<(), UnpackError> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else { return Ok(()) };
        let dir = match self.root.resolve(parent, DIR) {
            Ok(dir) => dir,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
            Err(errno) => return Err(at.io("open a whiteout's directory")(errno)),
        };
        if lstat(&dir, name).map_err(at.io("look at a whiteout"))?.is_some_and(|s| is_whiteout(&s))
        {
            unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
                .map_err(at.io("remove a whiteout under an opaque directory"))?;
        }
        Ok(())
    }

    /// True if a directory above `here` is opaque in this layer.
    fn under_opaque(&self, here: &Path) -> bool {
        here.ancestors().skip(1).any(|above| {
            self.markers.get(above) == Some(&Marker::Opaque)
                && (self.root.resolve(above, OFlag::O_RDONLY | OFlag::O_DIRECTORY))
                    .is_ok_and(|fd| is_opaque(&fd).unwrap_or(false))
        })
    }
}
