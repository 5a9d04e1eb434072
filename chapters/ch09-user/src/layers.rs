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
//! container's directory, and stacks the overlay on those. (Until Linux 6.15,
//! overlayfs takes only lower directories attached in the mounter's mount
//! namespace; db04662e2f4f, "fs: allow detached mounts in
//! clone_private_mount()", lets it take detached ones.)
//!
//! # What the kernel must support
//!
//! Each piece came in its own release, per file system: idmapped mounts in
//! Linux 5.12 (`mount_setattr(2)`; ext4, xfs and FAT first, btrfs in 5.15),
//! overlayfs on idmapped layers in 5.19 (bc70682a497c, "ovl: support
//! idmapped layers"). tmpfs came late twice: idmapped mounts in 6.3
//! (7a80e5b8c6fa, "shmem: support idmapped mounts for tmpfs"), and the
//! `user.*` extended attributes an overlay in a user namespace keeps on its
//! `upper/` (and chapter 8 writes on opaque directories) only in 6.6
//! (2daf18a7884d, "tmpfs,xattr: enable limited user extended attributes").
//! So on Debian 12's kernel, 6.1, a store on tmpfs (the book's VM has its
//! root there) cannot run a container in a user namespace. We say so, before
//! the container starts ([`user_xattrs`]) or when the kernel refuses the
//! idmapped mount, rather than fall back to shifted copies.
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
//! The container's `upper/` and `work/` belong to the container's root (the
//! host's 100000): what the container writes is written there, as the ID it
//! has on the host. The container's directory itself stays root's, mode 710
//! with the container's root's group: the child may pass through it to its
//! `upper/`, but not rename, remove or add anything in it. Were it the
//! container's, that host ID could swap `lower/` for a symbolic link between
//! the moment the runtime made it and the moment it maps the layers, and root
//! would hand the container an idmapped clone of any host directory it
//! pointed to (and `rmi`, reading `lower/`, would be lied to). For the same
//! reason the layers are opened, not followed: the store's by their own paths,
//! chapter 8's empty `lower/0` with no symbolic link followed on the way.
//!
//! Man pages: `man 2 mount_setattr` ("Idmapped mounts"), `man 2 open_tree`,
//! `man 7 unix` (`SCM_RIGHTS`); the kernel's
//! `Documentation/filesystems/idmappings.rst` and `overlayfs.rst`.

use std::cell::RefCell;
use std::fs;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use ch03_mount::detached;
use ch08_images::overlay::{self, LOWER, Overlay, UPPER, WORK};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::stat::Mode;
use nix::sys::statfs::{TMPFS_MAGIC, fstatfs};
use nix::unistd::{Gid, Pid, Uid, chown};

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

    /// How many directories the overlay stacks: the layers, or chapter 8's
    /// one empty `lower/0`.
    fn layers(&self) -> usize {
        self.lowers.len().max(1)
    }

    // ANCHOR: open_layers
    /// The directories to map, opened (`O_PATH`): the store's layers by their
    /// own paths (root's), or chapter 8's empty `lower/0` in the container's
    /// directory `dir`, with no symbolic link followed on the way there.
    fn open_layers(&self, dir: &Path) -> Result<Vec<OwnedFd>, StepError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        if !self.lowers.is_empty() {
            let open = |layer: &PathBuf| {
                open(layer, flags, Mode::empty()).doing(|| format!("open {}", layer.display()))
            };
            return self.lowers.iter().map(open).collect();
        }
        let empty = Path::new(LOWER).join("0");
        let shown = || dir.join(&empty).display().to_string();
        let dir = open(dir, flags | OFlag::O_NOFOLLOW, Mode::empty())
            .doing(|| format!("open {}", dir.display()))?;
        let no_links = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS;
        let opened = openat2(&dir, &empty, OpenHow::new().flags(flags).resolve(no_links));
        let opened = opened.doing(|| format!("open {}", shown()));
        Ok(vec![opened.map_err(|e| match e.errno() {
            Errno::ELOOP => e.hint("it is a symbolic link, not the directory tincan made: someone changed the container's directory"),
            _ => e,
        })?])
    }
    // ANCHOR_END: open_layers
}

impl Step for UserOverlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    /// Chapter 8's directory, passable for the container's root, its
    /// `upper/` and `work/` given to it; a mount point per layer; the socket.
    fn before_clone(&self, cx: &Context, into: &mut CloneInto) -> Result<(), StepError> {
        let dir = overlay::container_dir(cx.container)?;
        let (uid, gid) = self.root;
        passable(&dir, uid, gid)?;
        self.overlay.before_clone(cx, into)?;
        // Its directory: passable for the container's root (by its group),
        // and no more (see the module's comment).
        chown(&dir, None, Some(gid)).doing(|| format!("give {} its group", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o710))
            .doing(|| format!("make {} passable by its group", dir.display()))?;
        for owned in [dir.join(UPPER), dir.join(WORK)] {
            chown(&owned, Some(uid), Some(gid))
                .doing(|| format!("give {} to the container's root", owned.display()))?;
        }
        user_xattrs(&dir.join(UPPER))?;
        if !self.idmap {
            return Ok(());
        }
        let idmapped = dir.join(IDMAPPED);
        fs::create_dir(&idmapped).doing(|| format!("make {}", idmapped.display()))?;
        for n in 0..self.layers() {
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
        let Some((ours, theirs)) = self.socket.borrow_mut().take() else {
            return Err(StepError::new("send the layers", Errno::EBADF));
        };
        // The child's end is the child's: should it die, our sends fail
        // rather than wait for a reader that will never come.
        drop(theirs);
        let userns = format!("/proc/{child}/ns/user");
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let userns =
            open(userns.as_str(), flags, Mode::empty()).doing(|| format!("open {userns}"))?;
        let dir = overlay::container_dir(cx.container)?;
        let empty = [dir.join(LOWER).join("0")];
        let names = if self.lowers.is_empty() { &empty[..] } else { &self.lowers[..] };
        let mut mounts = Vec::new();
        for (layer, name) in self.open_layers(&dir)?.into_iter().zip(names) {
            let mount = detached::clone_mount_of(layer.as_fd())
                .doing(|| format!("clone the mount of {}", name.display()))?;
            idmap(&mount, &userns).doing(|| format!("idmap {}", name.display())).map_err(|e| {
                e.hint(too_old(&layer, "takes idmapped mounts", (6, 3)).unwrap_or_else(|| {
                    "its file system cannot be idmapped on this kernel (ext4, xfs: Linux 5.12; btrfs: 5.15; tmpfs: 6.3)".into()
                }))
            })?;
            mounts.push(mount);
        }
        send(ours.as_fd(), &mounts).doing(|| "send the layers to the container".to_owned())
    }
    // ANCHOR_END: in_parent

    // ANCHOR: in_child
    /// Attach the layers at `idmapped/N`, and mount the overlay on them
    /// (unmapped: on chapter 8's `lower/N`).
    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let dir = overlay::container_dir(cx.container)?;
        let layers = self.layers();
        let from = if self.idmap { dir.join(IDMAPPED) } else { dir.join(LOWER) };
        if self.idmap {
            let Some((ours, theirs)) = self.socket.borrow_mut().take() else {
                return Err(StepError::new("receive the layers", Errno::EBADF));
            };
            // Our copy of the runtime's end goes first: a runtime that dies
            // before it has sent every layer then reads as end-of-file here,
            // not as a wait for ever.
            drop(ours);
            let mounts = receive(theirs.as_fd(), layers).doing(|| "receive the layers".into())?;
            for (n, mount) in mounts.iter().enumerate() {
                let point = from.join(n.to_string());
                detached::attach(mount, &point)
                    .doing(|| format!("attach a layer at {}", point.display()))?;
            }
        }
        // As chapter 8 does, from the directory of the layers (short names),
        // with the overlay's attributes in user.overlay.*.
        let data = format!("{},userxattr", overlay::mount_data(layers));
        overlay::mount_from(&from, &cx.container.rootfs, &data)
    }
    // ANCHOR_END: in_child

    /// Chapter 8's clean-up. A user's container, though, wrote files as IDs
    /// of its user namespace — the overlay's `work/work` is even mode 000 —
    /// and some of them are not the user's outside it: then the container's
    /// root removes them, as `podman unshare rm` does (`rootless.rs`).
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        match self.overlay.cleanup(cx) {
            Err(e) if !self.idmap && matches!(e.errno(), Errno::EACCES | Errno::EPERM) => {
                let dir = overlay::container_dir(cx.container)?;
                crate::rootless::remove_as_container_root(&dir)?;
                self.overlay.cleanup(cx)
            }
            done => done,
        }
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
    ch03_mount::detached::set_attributes(mount, &attr)
}

/// The most descriptors one `SCM_RIGHTS` message carries (`SCM_MAX_FD`,
/// `include/net/scm.h`).
const MAX_FDS: usize = 253;

// ANCHOR: send
/// Send `fds` over the socket `to`, [`MAX_FDS`] a message. All of them go
/// before the child reads any (it waits for "go"), so they must fit in the
/// socket's buffer: a message per layer filled it at about 280 layers, and the
/// runtime waited for ever; two messages carry overlayfs's 500.
fn send(to: BorrowedFd, fds: &[OwnedFd]) -> nix::Result<()> {
    for batch in fds.chunks(MAX_FDS) {
        let raw: Vec<RawFd> = batch.iter().map(AsRawFd::as_raw_fd).collect();
        let message = [ControlMessage::ScmRights(&raw)];
        sendmsg::<()>(to.as_raw_fd(), &[IoSlice::new(b"L")], &message, MsgFlags::empty(), None)?;
    }
    Ok(())
}

/// Receive `count` descriptors from the socket `from`, as [`send`] sent them.
fn receive(from: BorrowedFd, count: usize) -> nix::Result<Vec<OwnedFd>> {
    let mut fds = Vec::with_capacity(count);
    while fds.len() < count {
        let mut byte = [0u8; 1];
        let mut io = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        let flags = MsgFlags::MSG_CMSG_CLOEXEC;
        let message = recvmsg::<()>(from.as_raw_fd(), &mut io, Some(&mut space), flags)?;
        let before = fds.len();
        for control in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = control {
                // SAFETY: the kernel just gave us these descriptors.
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        if message.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(Errno::EMSGSIZE); // descriptors were lost
        }
        if fds.len() == before {
            // End-of-file (the runtime is gone) or a message without any.
            return Err(Errno::EPIPE);
        }
    }
    Ok(fds)
}
// ANCHOR_END: send

// ANCHOR: user_xattrs
/// Can `upper`'s file system keep `user.*` extended attributes? The overlay,
/// mounted in the user namespace, keeps its own there (`userxattr`); without
/// them it would break later, at the first directory it must mark opaque.
/// Asked by setting one, as the owner of `upper` may.
fn user_xattrs(upper: &Path) -> Result<(), StepError> {
    let action = || format!("keep user.* extended attributes in {}", upper.display());
    let path = std::ffi::CString::new(upper.as_os_str().as_encoded_bytes())
        .map_err(|_| StepError::new(action(), Errno::EINVAL))?;
    let name = c"user.tincan.probe";
    // SAFETY: NUL-terminated path and name; an empty value.
    let set = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), std::ptr::null(), 0, 0) };
    if set < 0 {
        let error = StepError::new(action(), Errno::last());
        if error.errno() != Errno::EOPNOTSUPP {
            return Err(error);
        }
        let dir = open(upper, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).ok();
        let tmpfs = dir.and_then(|dir| too_old(&dir, "keeps user.* attributes", (6, 6)));
        let hint = tmpfs.unwrap_or_else(|| {
            "an overlay in a user namespace keeps its attributes there: keep the store (--root) on ext4, xfs or btrfs".into()
        });
        return Err(error.hint(hint));
    }
    // SAFETY: as above.
    unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) };
    Ok(())
}
// ANCHOR_END: user_xattrs

/// When `fd` is on tmpfs and this kernel's tmpfs lacks `feature`, which
/// came in Linux `since` (see the module's comment): why, and what to do.
fn too_old(fd: &OwnedFd, feature: &str, since: (u32, u32)) -> Option<String> {
    let on_tmpfs = fstatfs(fd).ok()?.filesystem_type() == TMPFS_MAGIC;
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    (on_tmpfs && version(release) < since).then(|| {
        format!(
            "it is on tmpfs, which {feature} only from Linux {}.{}, and this kernel is {release}: keep the store (--root) and a rootfs on ext4, xfs or btrfs, or run without a user namespace",
            since.0, since.1
        )
    })
}

/// The major and minor numbers of a kernel `release` (`6.1.0-28-amd64`).
fn version(release: &str) -> (u32, u32) {
    let mut numbers = release.split(['.', '-']).map(|n| n.parse::<u32>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use ch00_process::{Container, State};
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    use nix::unistd::{ForkResult, fork, pipe, setgroups, setresgid, setresuid};
    use tempfile::TempDir;

    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        // Non-blocking: a full buffer shows as EAGAIN, not as a test that hangs.
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, flags).unwrap()
    }

    fn opened(count: usize) -> Vec<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        (0..count).map(|_| open("/", flags, Mode::empty()).unwrap()).collect()
    }

    #[test]
    fn overlayfs_s_500_layers_fit_in_the_socket_before_the_child_reads() {
        let (ours, theirs) = pair();
        let fds = opened(overlay::MAX_LAYERS);
        send(ours.as_fd(), &fds).expect("all sent, none read yet");
        let received = receive(theirs.as_fd(), overlay::MAX_LAYERS).unwrap();
        assert_eq!(received.len(), overlay::MAX_LAYERS);
        let same = |a: &OwnedFd, b: &OwnedFd| {
            let (a, b) = (nix::sys::stat::fstat(a).unwrap(), nix::sys::stat::fstat(b).unwrap());
            (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        };
        assert!(fds.iter().zip(&received).all(|(a, b)| same(a, b)));
    }

    #[test]
    fn a_kernel_s_version_is_its_first_two_numbers() {
        assert_eq!(version("6.1.0-28-amd64"), (6, 1));
        assert!(version("6.1.0-28-amd64") < (6, 3));
        assert!(version("5.19") < (6, 6));
        assert!(version("6.18.1-custom") >= (6, 6));
        assert!(version("7.0") >= (6, 6));
    }

    #[test]
    fn a_sender_gone_before_the_last_layer_is_an_error_not_a_wait() {
        let (ours, theirs) = pair();
        send(ours.as_fd(), &opened(3)).unwrap();
        drop(ours);
        // Blocking, as in the child: end-of-file must end the wait.
        let flags =
            OFlag::from_bits_truncate(nix::fcntl::fcntl(&theirs, nix::fcntl::F_GETFL).unwrap());
        nix::fcntl::fcntl(&theirs, nix::fcntl::F_SETFL(flags - OFlag::O_NONBLOCK)).unwrap();
        assert_eq!(receive(theirs.as_fd(), 5).err(), Some(Errno::EPIPE));
    }

    /// A store with `layers` layers (`top` says which is on top; each has a
    /// file of its own) and a container in it, as ch08's store lays them out.
    struct Fixture {
        store: TempDir,
        _states: TempDir,
        container: Container,
        state: State,
        lowers: Vec<PathBuf>,
    }

    impl Fixture {
        fn new(layers: usize) -> Fixture {
            let (store, states) = (TempDir::new().unwrap(), TempDir::new().unwrap());
            let passable = |dir: &Path| {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
            };
            passable(store.path());
            fs::create_dir(store.path().join("containers")).unwrap();
            passable(&store.path().join("containers"));
            let lowers: Vec<PathBuf> = (0..layers)
                .map(|n| {
                    let layer = store.path().join(format!("layers/sha256/{n:064x}"));
                    fs::create_dir_all(&layer).unwrap();
                    fs::write(layer.join("top"), n.to_string()).unwrap();
                    fs::write(layer.join(format!("only-{n}")), "").unwrap();
                    layer
                })
                .collect();
            if layers > 0 {
                let root_s = fs::Permissions::from_mode(0o700);
                fs::set_permissions(store.path().join("layers"), root_s).unwrap();
            }
            let mut container = Container::new("/", vec![]);
            container.rootfs = store.path().join("containers").join(&container.id).join("rootfs");
            let state = State::create(states.path(), &container).unwrap();
            Fixture { store, _states: states, container, state, lowers }
        }

        fn cx(&self) -> Context<'_> {
            let (container, state) = (&self.container, &self.state);
            Context { container, namespaces: CloneFlags::empty(), state, console: None }
        }

        fn step(&self) -> UserOverlay {
            let overlay = Overlay::new(self.lowers.clone(), false);
            UserOverlay::new(overlay, self.lowers.clone(), (100000, 100000), true)
        }
    }

    fn root_or_skip() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        assert!(std::env::var("CI").as_deref() != Ok("true"), "needs root, and CI=true");
        let _ = writeln!(std::io::stderr(), "SKIPPED layers::tests: needs root");
        false
    }

    #[test]
    fn the_container_s_directory_stays_root_s_and_only_upper_and_work_are_its_root_s() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new(1);
        let step = fixture.step();
        step.before_clone(&fixture.cx(), &mut CloneInto::default()).unwrap();
        let dir = overlay::container_dir(&fixture.container).unwrap();
        let seen = |part: &str| {
            let meta = fs::symlink_metadata(dir.join(part)).unwrap();
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777)
        };
        assert_eq!(seen("."), (0, 100000, 0o710));
        assert_eq!(seen("upper").0, 100000);
        assert_eq!(seen("work").0, 100000);
        for part in ["lower", "lower/0", "rootfs", IDMAPPED, "idmapped/0"] {
            assert_eq!(seen(part).0, 0, "{part}");
        }
        step.cleanup(&fixture.cx()).unwrap();
    }

    #[test]
    fn a_symbolic_link_in_place_of_the_empty_lower_is_not_followed() {
        let fixture = Fixture::new(0);
        let dir = fixture.store.path().join("containers/somebody");
        fs::create_dir_all(dir.join(LOWER)).unwrap();
        symlink("/", dir.join("lower/0")).unwrap();
        let error = fixture.step().open_layers(&dir).unwrap_err();
        assert_eq!(error.errno(), Errno::ELOOP, "{error}");
        assert!(error.to_string().contains("not the directory tincan made"), "{error}");
        // Nor a link to lower/ itself.
        fs::rename(dir.join(LOWER), dir.join("elsewhere")).unwrap();
        symlink("elsewhere", dir.join(LOWER)).unwrap();
        let error = fixture.step().open_layers(&dir).unwrap_err();
        assert_eq!(error.errno(), Errno::ELOOP, "{error}");
    }

    /// The whole step, with 300 layers (more than one message a layer
    /// fitted): a forked child in a user namespace whose root is the host's
    /// 100000 receives the idmapped layers and mounts the overlay on them.
    #[test]
    fn three_hundred_idmapped_layers_reach_the_child_and_stack() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new(300);
        let step = fixture.step();
        step.before_clone(&fixture.cx(), &mut CloneInto::default()).unwrap();
        let (ready_r, ready_w) = pipe().unwrap();
        let (go_r, go_w) = pipe().unwrap();
        let (report_r, report_w) = pipe().unwrap();
        // SAFETY: the child reads, writes, mounts and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                drop((ready_r, go_w, report_r));
                let report = catch_unwind(AssertUnwindSafe(|| {
                    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).unwrap();
                    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
                    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).unwrap();
                    File::from(ready_w).write_all(b"r").unwrap();
                    File::from(go_r).read_exact(&mut [0]).unwrap();
                    setgroups(&[]).unwrap();
                    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).unwrap();
                    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).unwrap();
                    match step.in_child(&fixture.cx()) {
                        Err(e) => format!("in_child: {e}"),
                        Ok(()) => {
                            let root = &fixture.container.rootfs;
                            let top = fs::read_to_string(root.join("top")).unwrap();
                            let owner = fs::metadata(root.join("only-0")).unwrap().uid();
                            let files = fs::read_dir(root).unwrap().count();
                            format!("top={top} owner={owner} files={files}")
                        }
                    }
                }))
                .unwrap_or_else(|_| "the child panicked".into());
                let _ = File::from(report_w).write_all(report.as_bytes());
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                drop((ready_w, go_r, report_w));
                File::from(ready_r).read_exact(&mut [0]).unwrap();
                for map in ["uid_map", "gid_map"] {
                    fs::write(format!("/proc/{child}/{map}"), "0 100000 65536\n").unwrap();
                }
                let sent = step.in_parent(&fixture.cx(), child);
                File::from(go_w).write_all(b"g").unwrap();
                let mut report = String::new();
                File::from(report_r).read_to_string(&mut report).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                step.cleanup(&fixture.cx()).unwrap();
                sent.unwrap();
                // The layers' files are the host's root's: 0 inside, through the maps.
                assert_eq!(report, "top=299 owner=0 files=301");
            }
        }
    }
}
