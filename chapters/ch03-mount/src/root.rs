//! Private propagation and `pivot_root(2)`.

use ch00_process::{Context, Doing, Step, StepError};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

/// Stop mount events from flowing between the container and the host.
pub struct PrivateMounts;

// ANCHOR: private
impl Step for PrivateMounts {
    fn name(&self) -> &'static str {
        "make mounts private"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // MS_REC: every mount in the tree, not just `/`. (`man 7 mount_namespaces`,
        // "Shared subtrees".) This changes only our copy of the mount table.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .doing(|| "make / and every mount below it private".to_owned())
    }
}
// ANCHOR_END: private

/// Make ROOTFS the root of the container's mount namespace and detach the host's root.
pub struct PivotRoot;

// ANCHOR: pivot_root
impl Step for PivotRoot {
    fn name(&self) -> &'static str {
        "pivot_root"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let rootfs = &cx.container.rootfs;
        // pivot_root(2) wants the new root to be a mount point. A plain directory is
        // not, so we bind-mount it onto itself.
        mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .doing(|| format!("bind-mount {} onto itself", rootfs.display()))?;
        chdir(rootfs).doing(|| format!("chdir to {}", rootfs.display()))?;
        // EXERCISE(ch03-mount): swap the roots, then detach the old one.
        // hint: pivot_root(".", ".") stacks the old root on top of the new one
        // (`man 2 pivot_root`, NOTES); umount2(".", MNT_DETACH) then removes it, and
        // chdir("/") leaves no path that leads back to the host.
        pivot_root(".", ".").doing(|| "pivot_root to the new root".to_owned())?;
        umount2(".", MntFlags::MNT_DETACH).doing(|| "detach the old root".to_owned())?;
        chdir("/").doing(|| "chdir to the new /".to_owned())
        // END EXERCISE
    }
}
// ANCHOR_END: pivot_root
