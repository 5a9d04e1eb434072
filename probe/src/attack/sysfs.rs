//! `/sys`, the kernel's view of its devices, drivers and modules, holds
//! settings that belong to the whole machine: a module's parameters, power
//! states, and on some kernels `uevent_helper`, a program the kernel runs as
//! root of the host for every device event. Chapter 3 mounts it read-only;
//! root with `CAP_SYS_ADMIN` may remount it writable, or mount a fresh one.
//! A user namespace (chapter 9) leaves the files the host's root's, and chapter
//! 10 takes the capability to remount away. `man 5 sysfs`.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};

/// A host-wide setting that is harmless to change and easy to see: whether
/// the kernel's log lines carry timestamps. (A real attacker would write
/// `uevent_helper`; Debian's kernel is built without it.)
const SETTING: &str = "module/printk/parameters/time";

/// Make `/sys` writable, by whatever a root process may do, and flip
/// [`SETTING`]. The host reads the setting afterwards.
pub fn remount_sys() -> String {
    let mut tried = Vec::new();
    // No sysfs at all (a chroot)? Mount one: root of the host may.
    if !Path::new("/sys").join(SETTING).exists() {
        let _ = fs::create_dir("/sys");
        if let Err(e) = mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>)
        {
            return format!("BLOCKED: no sysfs in sight, and mounting one failed: {e}");
        }
        tried.push("mounted sysfs");
    }
    let setting = Path::new("/sys").join(SETTING);
    let mut flipped = flip(&setting);
    if flipped.is_err() {
        // Read-only? First this mount's own flag (a bind remount, as
        // `mount -o remount,bind,rw`), then the file system's.
        for flags in [MsFlags::MS_REMOUNT | MsFlags::MS_BIND, MsFlags::MS_REMOUNT] {
            if mount(None::<&str>, "/sys", None::<&str>, flags, None::<&str>).is_ok() {
                tried.push("remounted /sys read-write");
                flipped = flip(&setting);
                if flipped.is_ok() {
                    break;
                }
            }
        }
    }
    match flipped {
        Ok(value) => {
            tried.push("wrote");
            format!("TRIED: {} {value} to {}", tried.join(", "), setting.display())
        }
        Err(e) => format!("BLOCKED: write {}: {e}", setting.display()),
    }
}

/// Write the opposite of the setting's value (`Y` or `N`) and return it.
fn flip(setting: &Path) -> std::io::Result<&'static str> {
    let now = fs::read_to_string(setting)?;
    let value = if now.trim() == "Y" { "N" } else { "Y" };
    fs::write(setting, value)?;
    Ok(value)
}
