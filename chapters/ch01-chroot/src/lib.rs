//! # Chapter 1: chroot, a private root directory
//!
//! `chroot(2)` changes what `/` means for one process and its children: after
//! `chroot("./rootfs")`, the path `/bin/sh` opens `./rootfs/bin/sh`. The container
//! now runs the rootfs's own programs and libraries instead of the host's. This is
//! the oldest trick in the container book (Unix V7, 1979) and still the first thing
//! a container needs: its own files.
//!
//! What it does **not** do: isolate anything else. The process still sees every
//! process on the host (mount `/proc` and look), shares the host's mount table and
//! network, and — being root — can leave its new root again: `chroot(2)` changes the
//! root directory but not the working directory, and a root process may call it as
//! often as it likes. The escape lab's *chroot breakout* shows how; chapter 3's
//! `pivot_root` closes the hole.
//!
//! The runtime itself must learn the same lesson: when it touches a path in the
//! rootfs from outside, it must resolve it as the container would, inside the
//! root (`in_root.rs`), or a symbolic link in a hostile rootfs leads it onto the
//! host's files.
//!
//! Builds on chapter 0 ([`ch00_process::plan()`]): it replaces "start in ROOTFS" with
//! "make ROOTFS the root".
//!
//! Man pages: `man 2 chroot`, `man 2 chdir`, `man 2 openat2`.

mod in_root;

pub use in_root::{RootDir, fd_path, mount_point};

use ch00_process::{Context, Doing, Plan, Step, StepError};
use nix::unistd::{chdir, chroot};

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "chroot: a private root directory (and how to escape it)";

// ANCHOR: plan
/// Chapter 1's plan: chapter 0's, with "start in ROOTFS" replaced by `chroot`.
pub fn plan() -> Plan {
    ch00_process::plan().replace("chdir", vec![Box::new(Chroot)])
}
// ANCHOR_END: plan

/// Make the container's root filesystem the process's `/`.
pub struct Chroot;

// ANCHOR: chroot
impl Step for Chroot {
    fn name(&self) -> &'static str {
        "chroot"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        // EXERCISE(ch01-chroot): make ROOTFS the root directory, then stand in it.
        // hint: nix::unistd::chroot, then chdir("/"). Without the chdir the working
        // directory stays outside the new root: `ls ..` would list the host.
        let rootfs = &cx.container.rootfs;
        chroot(rootfs).doing(|| format!("chroot to {}", rootfs.display()))?;
        chdir("/").doing(|| "chdir to the new /".to_owned())
        // END EXERCISE
    }
}
// ANCHOR_END: chroot

#[cfg(test)]
mod tests {
    #[test]
    fn chroot_takes_the_place_of_chdir() {
        assert_eq!(super::plan().step_names(), ["chroot"]);
    }
}
