//! Which layer a file of the merged view comes from.
//!
//! Overlayfs answers a lookup by asking its layers from the top: the first
//! that has the name provides it. A whiteout there means "deleted": the
//! layers below are not asked. So does anything that is not a directory on the
//! way (a file `a` hides every lower `a/...`), and an opaque directory on the
//! way stops the search below it. This walks unpacked layers the same way: to
//! say which layer a file came from, or to read the image's `/etc/passwd`
//! (chapter 8's user lookup) without mounting anything.
//!
//! Its limit: each layer is searched on its own, every path resolved inside
//! *that* layer. A symbolic link in one layer pointing to a directory another
//! layer provides (`lib -> usr/lib`, with `usr/lib` from a lower layer) is not
//! followed across layers, as the mounted overlay would; such a path is "not
//! found" here.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::SFlag;

use super::path::clean;
use super::root::{DIR, Root, is_whiteout, lstat};
use super::whiteout::is_opaque;
use super::{At, UnpackError};

/// Which of `layers` (bottom first, each an unpacked layer directory, see
/// [`unpack`](super::unpack)) provides `path` in the merged view, and that
/// file: opened to read if it is a regular file, else only `O_PATH` (to look
/// at, not to read). `None` if no layer does, or one above deleted it.
pub fn find_in_layers(
    layers: &[PathBuf],
    path: &Path,
) -> Result<Option<(usize, File)>, UnpackError> {
    let path = clean(path.as_os_str().as_bytes());
    let at = At(&path);
    for (index, layer) in layers.iter().enumerate().rev() {
        let root = Root::open(layer)
            .map_err(|source| UnpackError::Dest { path: layer.clone(), source })?;
        match look_up(&root, &path, at)? {
            Found::Absent => continue,
            Found::Hidden => return Ok(None),
            Found::Here => {
                // Opened O_PATH first: opening a device node can act (a
                // watchdog arms, a tape rewinds) and a FIFO blocks, and the
                // image decides what is there. Only a regular file is then
                // opened to read, through the descriptor, never the path again.
                let fd = root.resolve(&path, OFlag::O_PATH).map_err(at.io(
                    "open it in its layer (a symbolic link is followed only inside its own layer)",
                ))?;
                let regular = nix::sys::stat::fstat(&fd).map_err(at.io("look at it"))?.st_mode
                    & SFlag::S_IFMT.bits()
                    == SFlag::S_IFREG.bits();
                if !regular {
                    return Ok(Some((index, File::from(fd))));
                }
                let file = File::open(ch01_chroot::fd_path(&fd)).map_err(at.io("open it"))?;
                return Ok(Some((index, file)));
            }
        }
    }
    Ok(None)
}

/// What one layer says about a path.
enum Found {
    /// It has it.
    Here,
    /// It has nothing to say: ask the layers below.
    Absent,
    /// It deletes or hides it: the layers below are not asked.
    Hidden,
}

/// Look `path` up in one layer, a component at a time.
fn look_up(root: &Root, path: &Path, at: At) -> Result<Found, UnpackError> {
    let mut dir = root.resolve(Path::new(""), DIR).map_err(at.io("open the layer"))?;
    let mut opaque = false;
    let mut sofar = PathBuf::new();
    let last = path.iter().count();
    for (depth, name) in path.iter().enumerate() {
        let Some(stat) = lstat(&dir, name).map_err(at.io("look in the layer"))? else {
            // Not here: the layers below may have it, unless an opaque
            // directory on the way hides them.
            return Ok(if opaque { Found::Hidden } else { Found::Absent });
        };
        if is_whiteout(&stat) {
            return Ok(Found::Hidden);
        }
        if depth + 1 == last {
            return Ok(Found::Here);
        }
        sofar.push(name);
        match root.resolve(&sofar, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
            Ok(next) => {
                opaque |= is_opaque(&next).map_err(at.io("read a directory's mark"))?;
                dir = next;
            }
            // A file, or a link to no directory in this layer, hides the lower
            // layers' directory of that name.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(Found::Hidden),
            Err(errno) => return Err(at.io("open a directory in the layer")(errno)),
        }
    }
    Ok(Found::Here) // the root directory itself
}
