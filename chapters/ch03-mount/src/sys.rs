//! A read-only `/sys`.

use ch00_process::{Context, Doing, Step, StepError};
use nix::mount::{MsFlags, mount};

/// Mount sysfs read-only at `/sys`. Programs read it (CPU topology, device
/// information); writing to it would reconfigure the host's kernel and devices.
pub struct MountSys;

impl Step for MountSys {
    fn name(&self) -> &'static str {
        "mount /sys"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        ch01_chroot::mount_point("/sys")?;
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("sysfs"), "/sys", Some("sysfs"), flags, None::<&str>)
            .doing(|| "mount sysfs read-only on /sys".to_owned())
    }
}
