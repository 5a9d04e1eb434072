//! One entry of the archive, written: one match over what kind it is.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat};
use tar::EntryType;

use super::meta::Meta;
use super::path::{Name, classify, clean, in_aufs_metadata, shown};
use super::root::{self, DIR, is_dir, is_whiteout, kind, lstat, open_dir};
use super::userns::in_user_namespace;
use super::{At, Layer, UnpackError};

impl Layer<'_> {
    /// Write one entry of the archive into the layer.
    pub(super) fn write<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        at: At,
    ) -> Result<(), UnpackError> {
        // PAX defaults for the entries that follow: image tools write none, and
        // we apply none. (Long names and links, and per-entry PAX records, never
        // get here: the tar crate folds them into the entry they describe.)
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            return Ok(());
        }
        let path = clean(&entry.path_bytes());
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            // The layer's root itself (`./`): that is `dest`, which is ours. An
            // archive does not get to make it a link or change its owner.
            return Ok(());
        };
        if in_aufs_metadata(parent) {
            return Ok(()); // inside AUFS's bookkeeping directories: see path.rs
        }
        match classify(name) {
            Name::Aufs => Ok(()),
            Name::Invalid => Err(at.refused("a whiteout must name what it deletes: .wh.NAME")),
            // The entry's own header (a whiteout is an empty file) says nothing more.
            Name::Whiteout(deleted) => match self.dirs(parent, true, at)? {
                Some(dir) => self.whiteout(&dir, deleted, at),
                None => Ok(()),
            },
            Name::Opaque => match self.dirs(parent, true, at)? {
                Some(dir) => self.mark_opaque(&dir, at),
                None => Ok(()),
            },
            Name::Plain => match self.dirs(parent, false, at)? {
                Some(dir) => self.write_plain(entry, &dir, name, &path, at),
                None => Ok(()),
            },
        }
    }

    // ANCHOR: write_plain
    fn write_plain<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        dir: &OwnedFd,
        name: &OsStr,
        path: &Path,
        at: At,
    ) -> Result<(), UnpackError> {
        let header = entry.header();
        let make = match header.entry_type() {
            EntryType::Directory => Make::Dir,
            EntryType::Symlink => Make::Symlink(OsString::from_vec(
                entry.link_name_bytes().unwrap_or_default().into(),
            )),
            // A hard link names a file the layer holds already: find it before
            // anything is removed.
            EntryType::Link => Make::HardLink(self.link_target(entry, at)?),
            EntryType::Char => Make::Node(SFlag::S_IFCHR, device(header)),
            EntryType::Block => Make::Node(SFlag::S_IFBLK, device(header)),
            EntryType::Fifo => Make::Node(SFlag::S_IFIFO, 0),
            // The old kinds of regular file, too.
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Make::File,
            other => {
                return Err(at.refused(format!("entry type {other:?} has no place in a layer")));
            }
        };
        let meta = Meta::of(entry).map_err(at.io("read the entry's header"))?;
        let mut opaque = false;
        match lstat(dir, name).map_err(at.io("look at what is there"))? {
            // A directory over a directory: they merge, as in any tar.
            Some(old) if is_dir(&old) && matches!(make, Make::Dir) => {}
            Some(old) if matches!(&make, Make::HardLink((_, _, t)) if same_file(t, &old)) => {
                return Ok(()); // a hard link to what is already there
            }
            Some(old) => {
                // A directory the layer whited out, re-added: it must hide the
                // lower layers' directory of that name (layer.md), or their
                // files would show through it.
                opaque = matches!(make, Make::Dir) && is_whiteout(&old);
                root::remove(dir, name, &old).map_err(at.io("remove what was there"))?;
            }
            None => {}
        }
        let nofollow = AtFlags::AT_SYMLINK_NOFOLLOW;
        let created = |result: nix::Result<()>| result.map_err(at.io("create it"));
        match make {
            Make::Dir => {
                match mkdirat(dir, name, Mode::from_bits_truncate(0o700)) {
                    Err(Errno::EEXIST) => {} // the directory we merge into
                    other => created(other)?,
                }
                let fd = open_dir(dir, name).map_err(at.io("open the directory"))?;
                meta.apply(&fd, at)?;
                if opaque {
                    self.mark_opaque(&fd, at)?;
                }
                self.dir_times.push((path.to_owned(), meta.mtime));
            }
            Make::Symlink(link) => {
                // The target is text, stored as the archive says: whoever
                // follows it resolves it (the container, in its root; we, in
                // the layer's). A link has no mode of its own (chmod would
                // follow it), only an owner and times.
                created(symlinkat(&*link, dir, name))?;
                fchownat(dir, name, Some(meta.uid), Some(meta.gid), nofollow)
                    .map_err(at.io("set the owner"))?;
                set_time(dir, name, meta.mtime, at)?;
            }
            Make::HardLink((target_dir, target_name, _)) => {
                // No AT_SYMLINK_FOLLOW: a hard link to a symbolic link links
                // the link itself, as `ln` does. The file keeps its metadata.
                created(linkat(&target_dir, &*target_name, dir, name, AtFlags::empty()))?;
            }
            Make::Node(node, device) => {
                // A block device in an image is a device *of the host*: the
                // image names it by number. It is kept as the image has it, and
                // nothing in this chapter stops root in the container (root on
                // the host) from opening it; chapters 9 and 10, to come, will
                // (user namespaces; the device cgroup).
                let mode = Mode::from_bits_truncate(0o600);
                match mknodat(dir, name, node, mode, device) {
                    // Root of a user namespace may make no device (a FIFO it
                    // may): left out, and counted for the one warning the
                    // caller prints per layer (`userns.rs`).
                    Err(Errno::EPERM) if node != SFlag::S_IFIFO && in_user_namespace() => {
                        self.done.devices_skipped += 1;
                        return Ok(());
                    }
                    other => created(other)?,
                }
                fchownat(dir, name, Some(meta.uid), Some(meta.gid), nofollow)
                    .map_err(at.io("set the owner"))?;
                fchmodat(dir, name, meta.mode, FchmodatFlags::NoFollowSymlink)
                    .map_err(at.io("set the mode"))?;
                set_time(dir, name, meta.mtime, at)?;
            }
            Make::File => {
                // O_EXCL: fail rather than open whatever got there since we
                // removed the old entry; O_NOFOLLOW: never through a link.
                let flags = OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let fd = openat(dir, name, flags, Mode::from_bits_truncate(0o600));
                let mut file = File::from(fd.map_err(at.io("create it"))?);
                self.copy_content(entry, &mut file, at)?;
                meta.apply(&file, at)?;
                futimens(&file, &meta.mtime, &meta.mtime).map_err(at.io("set the time"))?;
            }
        }
        Ok(())
    }
    // ANCHOR_END: write_plain

    /// The file a hard link names: its directory, its name, what it is. It is
    /// cleaned and resolved inside the layer like any name, and must be a file
    /// the layer already holds: a hard link is one file under two names, so
    /// it can only name a file of its own layer.
    fn link_target<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        at: At,
    ) -> Result<(OwnedFd, OsString, FileStat), UnpackError> {
        let raw = entry.link_name_bytes().unwrap_or_default();
        let target = clean(&raw);
        let missing = || {
            at.refused(format!(
                "a hard link to {}, which is not a file of this layer (a hard link can only name a file its own layer holds)",
                shown(&raw).display()
            ))
        };
        let (Some(name), Some(parent)) = (target.file_name(), target.parent()) else {
            return Err(missing());
        };
        let dir = match self.root.resolve(parent, DIR) {
            Ok(dir) => dir,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(errno) => return Err(at.io("open the hard link's target directory")(errno)),
        };
        match lstat(&dir, name).map_err(at.io("look at the hard link's target"))? {
            Some(stat) if !is_dir(&stat) && !is_whiteout(&stat) => Ok((dir, name.to_owned(), stat)),
            _ => Err(missing()),
        }
    }

    /// The directory `path`, every component resolved inside the layer, made
    /// (root's, mode 755) where it is missing: an archive need not list every
    /// parent. On the way, a whiteout is a directory the layer deleted and now
    /// re-adds, for an entry: made, and opaque. For a whiteout or opaque
    /// marker (`marker`), anything but a directory on the way already hides
    /// the lower layers' directory, so the marker has nothing to do: `None`.
    pub(super) fn dirs(
        &mut self,
        path: &Path,
        marker: bool,
        at: At,
    ) -> Result<Option<OwnedFd>, UnpackError> {
        let mut dir = self.root.resolve(Path::new(""), DIR).map_err(at.io("open the layer"))?;
        let mut sofar = PathBuf::new();
        for name in path.iter() {
            sofar.push(name);
            match self.root.resolve(&sofar, DIR) {
                Ok(next) => {
                    dir = next;
                    continue;
                }
                Err(Errno::ENOENT | Errno::ENOTDIR) => {}
                Err(errno) => return Err(at.io("open a parent directory")(errno)),
            }
            // Missing, or not a directory: what is there?
            let old = lstat(&dir, name).map_err(at.io("look at a parent directory"))?;
            match &old {
                None => {}
                Some(_) if marker => return Ok(None),
                Some(old) if is_whiteout(old) => {
                    root::remove(&dir, name, old).map_err(at.io("remove a whiteout"))?;
                }
                Some(old) if kind(old) == SFlag::S_IFLNK => {
                    let target = readlinkat(&dir, name).unwrap_or_default();
                    return Err(at.refused(format!(
                        "{} is a symbolic link to {}, which leads to no directory inside the layer",
                        sofar.display(),
                        Path::new(&target).display()
                    )));
                }
                Some(_) => {
                    return Err(at.refused(format!("{} is not a directory", sofar.display())));
                }
            }
            mkdirat(&dir, name, Mode::from_bits_truncate(0o755))
                .map_err(at.io("create a parent directory"))?;
            dir = open_dir(&dir, name).map_err(at.io("open a parent directory"))?;
            // Explicitly: mkdir's mode is filtered by our umask.
            fchmod(&dir, Mode::from_bits_truncate(0o755)).map_err(at.io("set the mode"))?;
            if old.is_some() {
                self.mark_opaque(&dir, at)?; // it was a whiteout
            }
        }
        Ok(Some(dir))
    }

    /// Last, the directories' times (see `Layer::dir_times`). A directory a
    /// later entry replaced has none to set.
    pub(super) fn finish(&self) -> Result<(), UnpackError> {
        for (path, mtime) in &self.dir_times {
            let at = At(path);
            let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else { continue };
            let dir = match self.root.resolve(parent, DIR) {
                Ok(dir) => dir,
                Err(Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(errno) => return Err(at.io("open the directory's parent")(errno)),
            };
            if lstat(&dir, name).map_err(at.io("look at it"))?.is_some_and(|s| is_dir(&s)) {
                set_time(&dir, name, *mtime, at)?;
            }
        }
        Ok(())
    }
}

/// `name` in `dir` gets the time `mtime` (as its access time too: when the
/// image's files were last read is no part of the image), link not followed.
fn set_time(dir: &OwnedFd, name: &OsStr, mtime: TimeSpec, at: At) -> Result<(), UnpackError> {
    utimensat(dir, name, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(at.io("set the time"))
}

/// What an entry makes.
enum Make {
    Dir,
    Symlink(OsString),
    /// The target's directory, name, and what it is.
    HardLink((OwnedFd, OsString, FileStat)),
    Node(SFlag, u64),
    File,
}

/// A device's number, from its header (0 where the header has none).
fn device(header: &tar::Header) -> u64 {
    let number = |n: io::Result<Option<u32>>| n.ok().flatten().map_or(0, u64::from);
    makedev(number(header.device_major()), number(header.device_minor()))
}

fn same_file(a: &FileStat, b: &FileStat) -> bool {
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
}
