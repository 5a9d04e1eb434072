//! The report: what the process sees, one `key: value` line at a time.

use std::fmt::Write;
use std::fs;

/// Build the whole report. Sections that need `/proc` say so when it is missing.
pub fn report() -> String {
    let mut out = String::new();
    process(&mut out);
    hostname(&mut out);
    filesystem(&mut out);
    mounts(&mut out);
    ipc(&mut out);
    network(&mut out);
    user(&mut out);
    capabilities(&mut out);
    security(&mut out);
    paths(&mut out);
    out
}

const NO_PROC: &str = "unavailable (/proc is not mounted)";

fn proc_mounted() -> bool {
    fs::metadata("/proc/self").is_ok()
}

fn process(out: &mut String) {
    let pid = std::process::id();
    let ppid = nix::unistd::getppid();
    let _ = writeln!(out, "process\n  pid: {pid}\n  parent pid: {ppid}");
    if !proc_mounted() {
        let _ = writeln!(out, "  processes: {NO_PROC}");
        return;
    }
    let init =
        fs::read_to_string("/proc/1/comm").map_or_else(|_| "none".into(), |c| c.trim().to_owned());
    let _ = writeln!(out, "  pid 1 is: {init}\n  processes: {}", pids().len());
}

/// The PIDs listed in `/proc`: every process this PID namespace can see.
pub fn pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> =
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

fn hostname(out: &mut String) {
    let name = nix::unistd::gethostname()
        .map_or_else(|e| format!("error: {e}"), |h| h.to_string_lossy().into_owned());
    let _ = writeln!(out, "hostname\n  hostname: {name}");
}

fn filesystem(out: &mut String) {
    let cwd =
        std::env::current_dir().map_or_else(|e| format!("error: {e}"), |p| p.display().to_string());
    let mut names: Vec<String> = fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect()
        })
        .unwrap_or_default();
    names.sort();
    let _ = writeln!(out, "filesystem\n  cwd: {cwd}\n  / contains: {}", names.join(" "));
}

fn mounts(out: &mut String) {
    let _ = writeln!(out, "mounts");
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        let _ = writeln!(out, "  {NO_PROC}");
        return;
    };
    for line in table.lines() {
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER
        // (`man 5 proc`, /proc/pid/mountinfo). We print mount point, type and
        // per-mount options; the ID lets the tests tell the host's mounts apart.
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < 6 || dash + 1 >= fields.len() {
            continue;
        }
        let (id, mount_point, options, fstype) =
            (fields[0], fields[4], fields[5], fields[dash + 1]);
        let _ = writeln!(out, "  #{id} {mount_point} {fstype} {options}");
    }
}

/// System V IPC objects (from `/proc/sysvipc`, which shows the reader's IPC
/// namespace) and POSIX message queues (from the mqueue file system).
fn ipc(out: &mut String) {
    let _ = writeln!(out, "ipc");
    for (file, label) in
        [("shm", "shared memory"), ("sem", "semaphores"), ("msg", "message queues")]
    {
        let Ok(table) = fs::read_to_string(format!("/proc/sysvipc/{file}")) else {
            let _ = writeln!(out, "  {label}: {NO_PROC}");
            continue;
        };
        // Columns: key, id, then more; the first line names them.
        let objects: Vec<String> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut fields = l.split_whitespace();
                let (key, id) = (fields.next()?, fields.next()?);
                Some(format!("id {id} key {key}"))
            })
            .collect();
        let listed = if objects.is_empty() { "none".to_owned() } else { objects.join(", ") };
        let _ = writeln!(out, "  {label}: {listed}");
    }
    let queues = match fs::read_dir("/dev/mqueue") {
        Ok(dir) => {
            let mut names: Vec<String> =
                dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            if names.is_empty() { "none".to_owned() } else { names.join(" ") }
        }
        Err(_) => "no /dev/mqueue".to_owned(),
    };
    let _ = writeln!(out, "  posix message queues: {queues}");
}

/// The network interfaces and IPv4 addresses of this network namespace, as
/// `getifaddrs(3)` reports them (it asks the kernel over netlink: no /sys needed).
fn network(out: &mut String) {
    let _ = writeln!(out, "network");
    let (names, addresses) = interfaces();
    let _ = writeln!(out, "  interfaces: {}", names.join(" "));
    let _ = writeln!(
        out,
        "  ipv4: {}",
        if addresses.is_empty() { "none".to_owned() } else { addresses.join(", ") }
    );
}

/// Interface names, sorted, and "ADDRESS/PREFIX on NAME" for each IPv4 address.
pub fn interfaces() -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut addresses = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().into_iter().flatten() {
        if !names.contains(&ifa.interface_name) {
            names.push(ifa.interface_name.clone());
        }
        let ipv4 = |a: Option<nix::sys::socket::SockaddrStorage>| {
            a.and_then(|a| a.as_sockaddr_in().map(|s| s.ip()))
        };
        if let (Some(ip), Some(mask)) = (ipv4(ifa.address), ipv4(ifa.netmask)) {
            addresses.push(format!(
                "{ip}/{} on {}",
                mask.to_bits().count_ones(),
                ifa.interface_name
            ));
        }
    }
    names.sort();
    addresses.sort();
    (names, addresses)
}

fn user(out: &mut String) {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let _ = writeln!(out, "user\n  uid: {uid}\n  gid: {gid}");
    for (file, label) in [("uid_map", "uid map"), ("gid_map", "gid map")] {
        let map = fs::read_to_string(format!("/proc/self/{file}")).map_or_else(
            |_| NO_PROC.to_owned(),
            |m| m.split_whitespace().collect::<Vec<_>>().join(" "),
        );
        let _ = writeln!(out, "  {label}: {map}");
    }
}

/// The capabilities by number (`<linux/capability.h>`), as `capsh` names them.
const CAPABILITIES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The five capability sets of `/proc/self/status`, by name: `none`, `all`,
/// `all except NAMES` when most are there, or the names.
fn capabilities(out: &mut String) {
    let _ = writeln!(out, "capabilities");
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        let _ = writeln!(out, "  {NO_PROC}");
        return;
    };
    // Every capability this kernel knows: CAP_LAST_CAP and below.
    let last = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|l| l.trim().parse::<u32>().ok())
        .unwrap_or(CAPABILITIES.len() as u32 - 1);
    let known = (0..=last).collect::<Vec<u32>>();
    for (key, label) in [
        ("CapBnd", "bounding"),
        ("CapEff", "effective"),
        ("CapPrm", "permitted"),
        ("CapInh", "inheritable"),
        ("CapAmb", "ambient"),
    ] {
        let mask = status_value(&status, key).and_then(|v| u64::from_str_radix(v, 16).ok());
        let Some(mask) = mask else {
            let _ = writeln!(out, "  {label}: unknown");
            continue;
        };
        let name =
            |n: &u32| CAPABILITIES.get(*n as usize).map_or(format!("cap_{n}"), |c| (*c).to_owned());
        let (held, missing): (Vec<u32>, Vec<u32>) =
            known.iter().partition(|n| mask & (1 << **n) != 0);
        let listed = match (held.len(), missing.len()) {
            (0, _) => "none".to_owned(),
            (_, 0) => "all".to_owned(),
            (h, m) if m < h => {
                format!("all except {}", missing.iter().map(name).collect::<Vec<_>>().join(","))
            }
            _ => held.iter().map(name).collect::<Vec<_>>().join(","),
        };
        let _ = writeln!(out, "  {label}: {listed}");
    }
}

/// The value of `key:` in `/proc/self/status`.
fn status_value<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(str::trim)
}

fn security(out: &mut String) {
    let _ = writeln!(out, "security");
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        let _ = writeln!(out, "  {NO_PROC}");
        return;
    };
    let mode = match status_value(&status, "Seccomp") {
        Some("0") => "0 (disabled)",
        Some("1") => "1 (strict)",
        Some("2") => "2 (filter)",
        Some(other) => other,
        None => "unknown",
    };
    // Seccomp_filters: since Linux 5.9.
    let filters = status_value(&status, "Seccomp_filters").unwrap_or("unknown");
    let nnp = status_value(&status, "NoNewPrivs").unwrap_or("unknown");
    let _ = writeln!(
        out,
        "  seccomp mode: {mode}\n  seccomp filters: {filters}\n  no_new_privs: {nnp}"
    );
}

/// Docker's masked paths (moby's `defaultLinuxMaskedPaths`, as chapter 10's
/// `paths.rs` applies them), then the read-only ones (runc's and Docker's).
const PATHS: [&str; 17] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker masks each CPU's `thermal_throttle` too: one line for them all.
const THERMAL_THROTTLE: &str = "/sys/devices/system/cpu/cpu*/thermal_throttle";

/// What the process sees at each of Docker's masked and read-only paths:
/// `masked` (`/dev/null` over a file, an empty read-only tmpfs over a
/// directory), `read-only`, `visible` (there and writable, as far as the mount
/// goes), or `absent` (this kernel has no such file, or `/proc` is not there).
/// For the CPUs' `thermal_throttle`: the first that is not masked, if any.
fn paths(out: &mut String) {
    let _ = writeln!(out, "paths");
    for path in PATHS {
        let _ = writeln!(out, "  {path}: {}", path_state(path));
    }
    let cpus = fs::read_dir("/sys/devices/system/cpu").into_iter().flatten().flatten();
    let states: Vec<&str> = cpus
        .map(|cpu| path_state(&cpu.path().join("thermal_throttle").display().to_string()))
        .filter(|state| *state != "absent")
        .collect();
    let state = states.iter().find(|s| **s != "masked").or(states.first());
    let state = state.copied().unwrap_or("absent");
    let _ = writeln!(out, "  {THERMAL_THROTTLE}: {state}");
}

fn path_state(path: &str) -> &'static str {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match fs::metadata(path) {
        Err(_) => "absent",
        Ok(meta) if meta.file_type().is_char_device() && meta.rdev() == libc::makedev(1, 3) => {
            "masked"
        }
        Ok(meta) => {
            let read_only = nix::sys::statvfs::statvfs(path)
                .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
            let tmpfs = nix::sys::statfs::statfs(path)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
            let empty = fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
            match (meta.is_dir() && tmpfs && empty && read_only, read_only) {
                (true, _) => "masked",
                (false, true) => "read-only",
                (false, false) => "visible",
            }
        }
    }
}
