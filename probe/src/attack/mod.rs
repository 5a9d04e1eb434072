//! The escape lab's attacks. Each one is a single technique, tried the way an
//! attacker with root inside the container would, and prints one line:
//! `ESCAPED: what it did`, `BLOCKED: why`, or — where only the host can tell
//! whether it worked — `TRIED: what it did` (or a verb saying what it made:
//! `MOUNTED`, `RENAMED`, `CREATED`). The line is for people; the tests never take
//! an attack's word for it. They look from outside: did the host's file appear,
//! did its process die, did its hostname change, did its service see a client —
//! or they check what the attack reports against a fact only the host knows (a
//! process's PID, a mount's path, a disk's contents), which the attack was not
//! told.
//!
//! Some attacks would harm the machine they run on if they worked: they write
//! the kernel's settings, load a module, read its disks. Those are
//! [`Harm::HarmsHost`]: the tests run them only inside tincan's VM (`vm/`), and
//! the probe itself refuses them on a kernel that VM did not boot (its command
//! line carries `tincan.vm`), so a learner who types one by hand on a laptop gets
//! a refusal, not a changed laptop.

mod cgroups;
mod devices;
mod kernel;
mod names;
mod network;
mod privilege;
mod resources;
mod sight;
mod sysfs;

use std::fs;
use std::path::Path;
use std::time::Duration;

use nix::mount::{MsFlags, mount};
use nix::unistd::Pid;

/// What an attack would do to the machine it runs on, if nothing stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harm {
    /// Nothing that outlives the test's own sandbox (its namespaces, its files,
    /// a process it started): safe to try on a real host.
    Harmless,
    /// Changes or reads what belongs to the whole machine (kernel settings,
    /// modules, disks, keys): only inside tincan's VM.
    HarmsHost,
}
use Harm::{Harmless, HarmsHost};

/// (name, arguments, what it tries, what it would harm).
pub const ATTACKS: [(&str, &str, &str, Harm); 30] = [
    (
        "chroot-breakout",
        "HOST_FILE",
        "create HOST_FILE on the host, breaking out of chroot if needed",
        Harmless,
    ),
    ("see-host-processes", "NAME", "find a host process whose argv[0] is NAME", Harmless),
    ("kill-host-process", "PID", "send SIGKILL to the host's process PID", Harmless),
    ("read-host-mounts", "MARKER", "find a host mount whose source is MARKER", Harmless),
    ("leak-mount", "MARKER", "mount a tmpfs named MARKER on ./mnt, for the host to find", Harmless),
    ("rename-host", "NAME", "set the hostname to NAME, for the host to find", Harmless),
    ("attach-host-shm", "ID", "attach the host's shared memory segment ID", Harmless),
    ("leak-ipc", "KEY", "create SysV IPC objects with KEY, for the host to find", Harmless),
    ("reach-host-loopback", "PORT", "read from a service on the host's 127.0.0.1:PORT", Harmless),
    (
        "exhaust-memory",
        "MIB",
        "take and touch MIB MiB of memory, for the host to pay for",
        Harmless,
    ),
    ("fork-bomb", "N [MARKER]", "start N processes, hold them a moment, then end them", Harmless),
    ("ptrace-host", "PID", "attach to the host's process PID with ptrace, for a moment", Harmless),
    ("keyctl", "DESCRIPTION", "read the key DESCRIPTION from root's user keyring", Harmless),
    (
        "unshare-user",
        "MARKER",
        "regain every capability in a new user namespace, and mount",
        Harmless,
    ),
    ("read-kcore", "", "read the kernel's memory through /proc/kcore", Harmless),
    (
        "fd-leak",
        "HOST_FILE",
        "create HOST_FILE through a directory the runtime left open",
        Harmless,
    ),
    ("mknod-disk", "", "make the host's disks' device nodes and read them", HarmsHost),
    ("shocker", "FILE", "open the host's FILE by its file handle (open_by_handle_at)", HarmsHost),
    ("core-pattern", "MARKER", "point the kernel's core_pattern at a program of ours", HarmsHost),
    ("sysrq", "", "send the kernel a SysRq command (w: list blocked tasks)", HarmsHost),
    ("reboot", "", "call reboot(2) (CAD_OFF: switch off Ctrl-Alt-Del rebooting)", HarmsHost),
    ("load-module", "PATH", "load the kernel module PATH", HarmsHost),
    ("perf-event", "", "open a system-wide perf event and hold it", HarmsHost),
    ("bpf-load", "", "load a BPF program into the kernel and hold it", HarmsHost),
    ("remount-sys", "", "make /sys writable and change a kernel setting there", HarmsHost),
    ("raise-limits", "", "remount the cgroup file system writable; lift its own limits", HarmsHost),
    (
        "release-agent",
        "MARKER",
        "make the host run our program as a cgroup release agent",
        HarmsHost,
    ),
    ("tiocsti", "TEXT", "type TEXT into the terminal the runtime runs on", HarmsHost),
    ("arp-spoof", "IP", "claim IP on the local network with forged ARP replies", HarmsHost),
    (
        "route-localnet",
        "PORT MARKER",
        "send MARKER to the host's 127.0.0.1:PORT through the gateway",
        HarmsHost,
    ),
];

/// Run attack `name`; `None` if there is no such attack or its arguments are wrong.
pub fn run(name: &str, args: &[&str]) -> Option<String> {
    let (_, _, _, harm) = ATTACKS.into_iter().find(|a| a.0 == name)?;
    if harm == HarmsHost
        && let Err(why) = in_tincans_vm()
    {
        return Some(format!("REFUSED: {name} would harm this machine, and {why}"));
    }
    let line = match (name, args) {
        ("chroot-breakout", [file]) => sight::chroot_breakout(Path::new(file)),
        ("see-host-processes", [marker]) => sight::see_host_processes(marker),
        ("kill-host-process", [pid]) => sight::kill_host_process(pid_arg(pid)?),
        ("read-host-mounts", [marker]) => sight::read_host_mounts(marker),
        ("leak-mount", [marker]) => sight::leak_mount(marker),
        ("rename-host", [name]) => names::rename_host(name),
        ("attach-host-shm", [id]) => names::attach_host_shm(id.parse().ok()?),
        ("leak-ipc", [key]) => names::leak_ipc(key.parse().ok()?),
        ("reach-host-loopback", [port]) => network::reach_host_loopback(port.parse().ok()?),
        ("exhaust-memory", [mib]) => resources::exhaust_memory(mib.parse().ok()?),
        // MARKER only names this bomb in the host's process table, for its observer.
        ("fork-bomb", [n, ..]) => resources::fork_bomb(n.parse().ok()?),
        ("ptrace-host", [pid]) => privilege::ptrace_host(pid_arg(pid)?),
        ("keyctl", [description]) => privilege::keyctl(description),
        ("unshare-user", [marker]) => privilege::unshare_user(marker),
        ("read-kcore", []) => devices::read_kcore(),
        ("fd-leak", [file]) => devices::fd_leak(Path::new(file)),
        ("mknod-disk", []) => devices::mknod_disk(),
        ("shocker", [file]) => devices::shocker(file),
        ("core-pattern", [marker]) => kernel::core_pattern(marker),
        ("sysrq", []) => kernel::sysrq(),
        ("reboot", []) => kernel::reboot(),
        ("load-module", [path]) => kernel::load_module(Path::new(path)),
        ("perf-event", []) => kernel::perf_event(),
        ("bpf-load", []) => kernel::bpf_load(),
        ("remount-sys", []) => sysfs::remount_sys(),
        ("raise-limits", []) => cgroups::raise_limits(),
        ("release-agent", [marker]) => cgroups::release_agent(marker),
        ("tiocsti", [text]) => privilege::tiocsti(text),
        ("arp-spoof", [ip]) => network::arp_spoof(ip.parse().ok()?),
        ("route-localnet", [port, marker]) => network::route_localnet(port.parse().ok()?, marker),
        _ => return None,
    };
    Some(line)
}

fn pid_arg(pid: &str) -> Option<Pid> {
    Some(Pid::from_raw(pid.parse().ok()?))
}

/// Whether this kernel was booted by tincan's VM: its command line says
/// `tincan.vm`. (Inside a container, `/proc/cmdline` is still the kernel's.)
fn in_tincans_vm() -> Result<(), String> {
    ensure_proc().map_err(|e| format!("without /proc it cannot tell where it runs ({e})"))?;
    let cmdline = fs::read_to_string("/proc/cmdline")
        .map_err(|e| format!("it cannot read /proc/cmdline to tell where it runs ({e})"))?;
    if booted_by_tincans_vm(&cmdline) {
        Ok(())
    } else {
        Err("this kernel was not booted by tincan's VM (no tincan.vm in /proc/cmdline): try it there, with `cargo xtask vm`".into())
    }
}

/// Whether a kernel command line carries tincan's VM's mark, as a word of its own.
fn booted_by_tincans_vm(cmdline: &str) -> bool {
    cmdline.split_whitespace().any(|word| word == "tincan.vm")
}

/// Mount `/proc` if the runtime did not: a root process inside a chroot may.
fn ensure_proc() -> nix::Result<()> {
    if Path::new("/proc/self").exists() {
        return Ok(());
    }
    let _ = fs::create_dir("/proc");
    mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), None::<&str>)
}

/// How long an attack holds what it took (a ptrace attachment, a namespace, a
/// kernel object) for the observer outside to see it.
const HOLD: Duration = Duration::from_millis(1500);

/// The printable start of `bytes` (up to the first byte that is not), as text.
fn printable(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| !b.is_ascii_graphic()).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The last OS error, as `ERRNO: description` (nix's spelling).
fn errno() -> nix::errno::Errno {
    nix::errno::Errno::last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tincans_vm_is_marked() {
        let vm = "console=ttyS0 quiet loglevel=1 panic=-1 tincan.vm tsc_early_khz=2000000\n";
        assert!(booted_by_tincans_vm(vm));
        assert!(!booted_by_tincans_vm("BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n"));
        assert!(!booted_by_tincans_vm("root=/dev/sda1 tincan.vm=0x tincan.vmx\n"));
    }

    #[test]
    fn every_attack_has_one_entry() {
        let mut names: Vec<&str> = ATTACKS.iter().map(|a| a.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ATTACKS.len());
    }
}
