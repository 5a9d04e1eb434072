//! The image's layers in a user namespace: idmapped mounts.
//!
//! A layer unpacked by root keeps its files' owners as the image says: 0 for
//! `/bin/sh`, 70 for a `postgres` directory. In a container whose root is the
//! host's 100000, those files belong to nobody it knows: 0 is not in its map,
//! so `/` would show as owned by 65534 and the container's root could not
//! write where the image's root could. Three ways out:
//!
//! - **Shifted copies** (what Docker's `userns-remap` and, without kernel help,
//!   containers/storage do): unpack or copy every layer once per range with
//!   each owner moved by 100000. Simple to mount — but a copy of every image
//!   per range, and a slow first start.
//! - **Idmapped mounts** (Linux 5.12; overlayfs over them since 5.19; what
//!   runc 1.2, crun and podman use where the kernel allows): a mount that
//!   shows a file system's IDs through a user namespace's map. The layer on
//!   disk stays as it is; seen through the mount, its 0 is the container's 0,
//!   that is the host's 100000. No copy, any number of ranges.
//! - Not mapping the layers at all, and living with a root that owns nothing.
//!
//! We use idmapped mounts. Only the host's root may make one (the source's
//! file system belongs to the host's user namespace), and only once the
//! container's user namespace has its maps. So the runtime makes them, in
//! `in_parent`, and hands them to the child over a socket: `open_tree(2)`
//! clones each layer as a detached mount, `mount_setattr(2)` with
//! `MOUNT_ATTR_IDMAP` gives it the child's namespace
//! (`/proc/PID/ns/user`), and `sendmsg(2)` with `SCM_RIGHTS` passes the
//! descriptors. Descriptors and not paths: the store's `layers/` is root's
//! alone (mode 700), and the child is not the host's root any more. The child
//! attaches them in its own mount namespace, at `idmapped/N` in the
//! container's directory, and stacks the overlay on those. (Linux 6.1 wants an
//! overlay's lower directories attached in the mounter's namespace; 6.15
//! would also take detached ones.)
//!
//! The overlay itself is mounted by the child, inside the user namespace. An
//! overlay mounted there must keep its own attributes in the `user.overlay.*`
//! namespace (`userxattr`): `trusted.*` is the host root's alone. That changes
//! one thing: a directory a layer replaces whole is marked opaque by
//! `user.overlay.opaque`, which chapter 8's unpacker writes beside
//! `trusted.overlay.opaque`. Whiteouts (character devices 0/0) work as before.
//!
//! A runtime that is not root (rootless) can make no idmapped mount, and
//! needs none: its store is its own, and its layers were unpacked with the
//! owners its own user namespace gives them. Its overlay stacks `lower/N` as
//! chapter 8's does, mounted in the user namespace all the same.
//!
//! The container's directory, its `upper/` and `work/` belong to the
//! container's root (the host's 100000): what the container writes is
//! written there, as the ID it has on the host.
//!
//! Man pages: `man 2 mount_setattr` ("Idmapped mounts"), `man 2 open_tree`,
//! `man 7 unix` (`SCM_RIGHTS`); the kernel's
//! `Documentation/filesystems/idmappings.rst` and `overlayfs.rst`.

use std::cell::RefCell;
use std::fs;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use ch03_mount::detached;
use ch08_images::overlay::{self, LOWER, Overlay, UPPER, WORK};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Pid, Uid, chdir, chown, fchdir};

/// Where the idmapped layers are attached, in the container's directory.
const IDMAPPED: &str = "idmapped";

/// Chapter 8's overlay, mounted in the user namespace: on idmapped layers
/// when the runtime is root; on the layers as they are when it is not (a
/// user's own store, whose layers it unpacked as its own IDs, and who may not
/// make idmapped mounts anyway).
pub struct UserOverlay {
    /// Chapter 8's step: records, makes and removes the container's directory.
    overlay: Overlay,
    /// The layers, bottom first (none: chapter 8's empty `lower/0`).
    lowers: Vec<PathBuf>,
    /// The host's IDs of the container's root, who owns its directory.
    root: (Uid, Gid),
    /// Map the layers (the runtime is root).
    idmap: bool,
    /// The runtime's end and the child's end of the socket the layers go by.
    socket: RefCell<Option<(OwnedFd, OwnedFd)>>,
}

impl UserOverlay {
    pub fn new(overlay: Overlay, lowers: Vec<PathBuf>, root: (u32, u32), idmap: bool) -> Self {
        let root = (Uid::from_raw(root.0), Gid::from_raw(root.1));
        UserOverlay { overlay, lowers, root, idmap, socket: RefCell::new(None) }
    }

    /// The directories to map: the layers, or chapter 8's one empty directory.
    fn sources(&self, dir: &Path) -> Vec<PathBuf> {
        if self.lowers.is_empty() { vec![dir.join(LOWER).join("0")] } else { self.lowers.clone() }
    }
}

impl Step for UserOverlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    /// Chapter 8's directory, given to the container's root, with a mount
    /// point per layer; and the socket.
    fn before_clone(&self, cx: &Context, into: &mut CloneInto) -> Result<(), StepError> {
        let dir = overlay::container_dir(cx.container)?;
        let (uid, gid) = self.root;
        passable(&dir, uid, gid)?;
        self.overlay.before_clone(cx, into)?;
        for owned in [dir.clone(), dir.join(UPPER), dir.join(WORK)] {
            chown(&owned, Some(uid), Some(gid))
                .doing(|| format!("give {} to the container's root", owned.display()))?;
        }
        if !self.idmap {
            return Ok(());
        }
        let idmapped = dir.join(IDMAPPED);
        fs::create_dir(&idmapped).doing(|| format!("make {}", idmapped.display()))?;
        for n in 0..self.sources(&dir).len() {
            let point = idmapped.join(n.to_string());
            fs::create_dir(&point).doing(|| format!("make {}", point.display()))?;
        }
        let flags = SockFlag::SOCK_CLOEXEC;
        let pair = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, flags)
            .doing(|| "make a socket for the layers".to_owned())?;
        *self.socket.borrow_mut() = Some(pair);
        Ok(())
    }

    // ANCHOR: in_parent
    /// Map each layer through the child's user namespace, and send it.
    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        if !self.idmap {
            return Ok(());
        }
        let Some((ours, _theirs)) = self.socket.borrow_mut().take() else {
            return Err(StepError::new("send the layers", Errno::EBADF));
        };
        let userns = format!("/proc/{child}/ns/user");
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let userns =
            open(userns.as_str(), flags, Mode::empty()).doing(|| format!("open {userns}"))?;
        let dir = overlay::container_dir(cx.container)?;
        for layer in self.sources(&dir) {
            let mount = detached::clone_mount(&layer)
                .doing(|| format!("clone the mount of {}", layer.display()))?;
            idmap(&mount, &userns).doing(|| format!("idmap {}", layer.display())).map_err(|e| {
                e.hint("the layer's file system cannot be idmapped on this kernel (ext4, xfs, btrfs: 5.12; tmpfs: 6.3)")
            })?;
            let fds = [mount.as_raw_fd()];
            let message = [ControlMessage::ScmRights(&fds)];
            sendmsg::<()>(
                ours.as_raw_fd(),
                &[IoSlice::new(b"L")],
                &message,
                MsgFlags::empty(),
                None,
            )
            .doing(|| "send a layer to the container".to_owned())?;
        }
        Ok(())
    }
    // ANCHOR_END: in_parent

    // ANCHOR: in_child
    /// Attach the layers at `idmapped/N`, and mount the overlay on them
    /// (unmapped: on chapter 8's `lower/N`).
    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let dir = overlay::container_dir(cx.container)?;
        let layers = self.sources(&dir).len();
        let from = if self.idmap { dir.join(IDMAPPED) } else { dir.join(LOWER) };
        if self.idmap {
            let Some((_ours, theirs)) = self.socket.borrow_mut().take() else {
                return Err(StepError::new("receive the layers", Errno::EBADF));
            };
            for n in 0..layers {
                let mount = receive(theirs.as_raw_fd()).doing(|| "receive a layer".to_owned())?;
                let point = from.join(n.to_string());
                detached::attach(&mount, &point)
                    .doing(|| format!("attach a layer at {}", point.display()))?;
            }
        }
        // As chapter 8 does, from the directory of the layers (short names),
        // with the overlay's attributes in user.overlay.*.
        let data = format!("{},userxattr", overlay::mount_data(layers));
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let back = open(".", flags, Mode::empty()).doing(|| "open the current directory".into())?;
        chdir(&from).doing(|| format!("chdir to {}", from.display()))?;
        let rootfs = &cx.container.rootfs;
        let mounted =
            mount(Some("overlay"), rootfs, Some("overlay"), MsFlags::empty(), Some(data.as_str()));
        fchdir(&back).doing(|| "go back to the directory we were in".into())?;
        mounted
            .doing(|| format!("mount the overlay ({data}) on {}", rootfs.display()))
            .map_err(|e| e.hint("overlayfs says why in the kernel's log: see `dmesg | tail`"))
    }
    // ANCHOR_END: in_child

    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        self.overlay.cleanup(cx)
    }
}

/// Can the container's root (`uid`, `gid` on the host) pass through every
/// directory above the container's `dir`? It must, to reach its own: it is
/// not the host's root any more. (Said here, with what to do, rather than as
/// "Permission denied" from the child.)
fn passable(dir: &Path, uid: Uid, gid: Gid) -> Result<(), StepError> {
    for above in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(above) else { continue }; // made by chapter 8, 711
        let mode = meta.permissions().mode();
        let bit = if meta.uid() == uid.as_raw() {
            0o100
        } else if meta.gid() == gid.as_raw() {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(StepError::new(format!("reach {}", dir.display()), Errno::EACCES).hint(format!(
                "the container's root is {uid} on the host, and {} (mode {:o}) does not let it pass: `chmod o+x` it, or keep the store elsewhere (--root)",
                above.display(),
                mode & 0o7777
            )));
        }
    }
    Ok(())
}

/// Make the detached `mount` show its IDs through the user namespace `userns`.
fn idmap(mount: &OwnedFd, userns: &OwnedFd) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: an empty NUL-terminated path (AT_EMPTY_PATH: the descriptor
    // itself), and the attributes with their size.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if done < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// One descriptor from the socket `fd`.
fn receive(fd: RawFd) -> nix::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut io = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(fd, &mut io, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = control
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just gave us this descriptor.
            return Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) });
        }
    }
    Err(Errno::EBADMSG)
}
