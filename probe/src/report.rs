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
    security(&mut out);
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
    let map = fs::read_to_string("/proc/self/uid_map").map_or_else(
        |_| NO_PROC.to_owned(),
        |m| m.split_whitespace().collect::<Vec<_>>().join(" "),
    );
    let _ = writeln!(out, "  uid map: {map}");
}

fn security(out: &mut String) {
    let _ = writeln!(out, "security");
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        let _ = writeln!(out, "  {NO_PROC}");
        return;
    };
    for (key, label) in [("Seccomp", "seccomp mode"), ("NoNewPrivs", "no_new_privs")] {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map_or("unknown", str::trim);
        let _ = writeln!(out, "  {label}: {value}");
    }
}
