//! The container's own `/proc`, and — until chapter 3 — taking it off the host.

use std::os::fd::AsFd;

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use ch01_chroot::{RootDir, fd_path, mount_point};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;

/// Mount a procfs for the container's PID namespace at `/proc`.
pub struct MountProc;

/// The record of where, inside the rootfs, the container's procfs sits on the
/// host's mount table (only without a mount namespace).
const RECORD: &str = "proc-mount";

// ANCHOR: mount_proc
impl Step for MountProc {
    fn name(&self) -> &'static str {
        "mount /proc"
    }

    // ANCHOR: proc_record
    /// Without a mount namespace, the mount will be in the host's table: write
    /// down where, as the container will resolve `/proc` once it is chrooted.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        if cx.namespaces.contains(CloneFlags::CLONE_NEWNS) {
            return Ok(()); // it will die with the container's own mount table
        }
        let rootfs = RootDir::open(&cx.container.rootfs)?;
        let at = rootfs.resolved("proc").unwrap_or_else(|| "proc".into());
        cx.state.record(RECORD, &at).doing(|| "record the /proc mount".to_owned())
    }
    // ANCHOR_END: proc_record

    // ANCHOR: proc_mount
    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // After the chroot, "/proc" is resolved inside the root by the kernel.
        // A runtime creates the mount point if the image lacks it, as runc does.
        mount_point("/proc")?;
        // EXERCISE(ch02-pid): mount a procfs at /proc.
        // hint: nix::mount::mount with source "proc", fstype "proc" and the flags
        // MS_NOSUID | MS_NODEV | MS_NOEXEC: nothing in /proc should be run or setuid.
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
            .doing(|| "mount proc on /proc".to_owned())
        // END EXERCISE
    }
    // ANCHOR_END: proc_mount

    // ANCHOR: proc_cleanup
    /// Take the container's procfs off the host's mount table. The path is
    /// resolved inside the rootfs again, and only the root of a procfs there is
    /// unmounted: whatever the container did to its files meanwhile (it may have
    /// made `proc` a link to a host path), this never unmounts anything else.
    /// (`MNT_DETACH`, because a process the container left behind may still hold
    /// it open.)
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let Some(at) = cx.state.recorded::<String>(RECORD).doing(|| "read a record".into())? else {
            return Ok(());
        };
        let rootfs = match RootDir::open(&cx.container.rootfs) {
            Ok(rootfs) => rootfs,
            // Gone, and its mounts with it (a mounted directory cannot be removed).
            Err(e) if e.errno() == Errno::ENOENT => {
                return cx.state.forget(RECORD).doing(|| "forget the /proc mount".to_owned());
            }
            Err(e) => return Err(e),
        };
        // Several may be stacked there (two containers on one rootfs): take off
        // each whose namespace has ended, and never one that is still in use.
        for _ in 0..16 {
            let Ok(mounted) = rootfs.open_in(&at, OFlag::O_PATH | OFlag::O_DIRECTORY) else {
                break;
            };
            if !is_procfs_root(&mounted) {
                break;
            }
            if still_in_use(&mounted) {
                return Err(StepError::new(format!("unmount {}", rootfs.shown(&at)), Errno::EBUSY)
                    .hint(
                        "a running container's /proc is mounted there: `cleanup` once it has ended",
                    ));
            }
            umount2(&fd_path(&mounted), MntFlags::MNT_DETACH)
                .doing(|| format!("unmount {}", rootfs.shown(&at)))?;
        }
        cx.state.forget(RECORD).doing(|| "forget the /proc mount".to_owned())
    }
    // ANCHOR_END: proc_cleanup
}
// ANCHOR_END: mount_proc

/// Does the procfs at `fd` still show a PID 1, that is: does its PID namespace
/// still have processes? (A procfs shows the namespace of whoever mounted it.)
/// A container whose runtime was just killed is still dying (`PR_SET_PDEATHSIG`):
/// give it a moment.
fn still_in_use(fd: &impl AsFd) -> bool {
    use nix::unistd::{AccessFlags, faccessat};
    let has_a_pid_1 =
        || faccessat(fd, "1", AccessFlags::F_OK, nix::fcntl::AtFlags::empty()).is_ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while has_a_pid_1() {
        if std::time::Instant::now() >= deadline {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Is `fd` the top directory of a procfs? (Its file system is procfs, and its
/// inode is procfs's root, number 1.)
fn is_procfs_root(fd: &impl AsFd) -> bool {
    const PROC_ROOT_INO: u64 = 1;
    let procfs = nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC);
    procfs && nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_ino == PROC_ROOT_INO)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_procfs_root_counts() {
        let proc = std::fs::File::open("/proc").unwrap();
        let not_root = std::fs::File::open("/proc/self").unwrap();
        let elsewhere = std::fs::File::open(std::path::Path::new("/")).unwrap();
        assert!(super::is_procfs_root(&proc));
        assert!(!super::is_procfs_root(&not_root));
        assert!(!super::is_procfs_root(&elsewhere));
    }
}
