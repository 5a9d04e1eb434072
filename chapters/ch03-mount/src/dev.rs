//! A minimal `/dev`, built from scratch on a tmpfs.
//!
//! The host's `/dev` holds its disks (`/dev/sda`), its memory (`/dev/mem`) and
//! every other device: a container must not get it. Programs do need a few
//! harmless devices, so we create exactly the set the OCI runtime spec lists:
//! `null`, `zero`, `full`, `random`, `urandom`, `tty`, plus `/dev/pts` (a private
//! devpts instance for terminals), `/dev/shm` (POSIX shared memory) and the
//! `/dev/fd`, `stdin`, `stdout`, `stderr` links. Man pages: `man 2 mknod`,
//! `man 4 null`, `man 4 pts`.
//!
//! In a user namespace (chapter 9) `mknod` is refused, even to the
//! container's root: a device node is a door into the host's kernel, and the
//! kernel lets only the host's root make one. There, [`BindDev`] binds the
//! host's own nodes instead (as rootless runc does): the same devices, with
//! the host's permissions. They are cloned before `pivot_root`, while the
//! host's `/dev` is in reach ([`CloneHostDevices`]), and attached after it.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;

use ch00_process::{Context, Doing, Step, StepError};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::detached;

// ANCHOR: devices
/// The character devices every container gets: (name, major, minor), from
/// the kernel's `Documentation/admin-guide/devices.txt`.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: [(&str, &str); 5] = [
    ("/dev/ptmx", "pts/ptmx"),
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

// ANCHOR_END: devices

/// Mount a tmpfs on `/dev` and fill it with the devices a program expects.
pub struct MountDev;

impl Step for MountDev {
    fn name(&self) -> &'static str {
        "mount /dev"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        fill_dev(|path, major, minor| {
            let rw_all = Mode::from_bits_truncate(0o666);
            mknod(path, SFlag::S_IFCHR, rw_all, makedev(major, minor))
                .doing(|| format!("mknod {path}"))?;
            // mknod(2) applies the umask; the devices must be usable by everyone.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                path,
                rw_all,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .doing(|| format!("chmod {path}"))
        })
    }
}

/// A tmpfs on `/dev`, its devices made by `device(path, major, minor)`, then
/// `/dev/pts`, `/dev/shm` and the links.
fn fill_dev(
    mut device: impl FnMut(&str, u64, u64) -> Result<(), StepError>,
) -> Result<(), StepError> {
    ch01_chroot::mount_point("/dev")?;
    // No MS_NODEV here: device nodes on this tmpfs must work.
    tmpfs("/dev", MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, "mode=755,size=65536k")?;
    for (name, major, minor) in DEVICES {
        device(&format!("/dev/{name}"), major, minor)?;
    }
    for dir in ["/dev/pts", "/dev/shm"] {
        std::fs::create_dir(dir).doing(|| format!("create {dir}"))?;
    }
    // `newinstance`: a devpts of our own, so the container cannot open the
    // host's terminals in /dev/pts.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        flags,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .doing(|| "mount devpts on /dev/pts".to_owned())?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    tmpfs("/dev/shm", flags, "mode=1777,size=65536k")?;
    for (link, target) in LINKS {
        std::os::unix::fs::symlink(target, link).doing(|| format!("link {link} to {target}"))?;
    }
    Ok(())
}

/// The host's device nodes, as detached mounts: cloned by [`CloneHostDevices`]
/// before `pivot_root`, attached by [`BindDev`] after it.
#[derive(Default)]
pub struct HostDevices {
    mounts: RefCell<Vec<OwnedFd>>,
}

/// Clone the host's nodes of `DEVICES` while the host's `/dev` is in reach.
pub struct CloneHostDevices(pub Rc<HostDevices>);

impl Step for CloneHostDevices {
    fn name(&self) -> &'static str {
        "clone the host's devices"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let mut mounts = self.0.mounts.borrow_mut();
        for (name, _, _) in DEVICES {
            let path = format!("/dev/{name}");
            mounts.push(detached::clone_mount(Path::new(&path)).doing(|| format!("clone {path}"))?);
        }
        Ok(())
    }
}

// ANCHOR: bind_dev
/// Chapter 3's `/dev`, with the host's device nodes bound onto empty files
/// instead of made by `mknod`: for a user namespace.
pub struct BindDev(pub Rc<HostDevices>);

impl Step for BindDev {
    fn name(&self) -> &'static str {
        "mount /dev"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // Taken, so that the descriptors close once attached.
        let mounts = std::mem::take(&mut *self.0.mounts.borrow_mut());
        let mut mounts = mounts.into_iter();
        fill_dev(|path, _, _| {
            let mount = mounts.next().ok_or_else(|| {
                StepError::new(format!("bind the host's {path}"), nix::errno::Errno::ENOENT)
                    .hint("the host's devices were not cloned before pivot_root")
            })?;
            std::fs::File::create(path).doing(|| format!("create {path}"))?;
            detached::attach(&mount, Path::new(path)).doing(|| format!("bind the host's {path}"))
        })
    }
}
// ANCHOR_END: bind_dev

fn tmpfs(target: &str, flags: MsFlags, options: &str) -> Result<(), StepError> {
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
        .doing(|| format!("mount tmpfs on {target}"))
}
