//! Turning a probe report into a snapshot that is the same on every machine.
//!
//! What the container sees of *its own* making is kept as is. What it sees of the
//! host (which differs between machines and runs) is replaced by a placeholder, so
//! a snapshot shows *that* the container sees the host, and never *what* host.
//! The placeholders, applied in this order:
//!
//! | placeholder        | replaces                                                  |
//! |--------------------|-----------------------------------------------------------|
//! | `[HOST MOUNTS]`    | a run of mount-table lines the host has too (by mount ID) |
//! | `[ROOTFS]`         | the test's rootfs path                                    |
//! | `[ROOTFS FS]`      | the file system type and options of the rootfs's mount    |
//! | `[LAYERS]`         | an overlay root's options (its layers and directories)    |
//! | `[STATE FS]`       | the same for the `/etc` files that chapter 6 mounts       |
//! | `[CGROUP FS]`      | chapter 7's cgroup mounts: one (v2) or one per hierarchy (v1) |
//! | `[HOST ROOT]`      | the list of names in the host's `/`                       |
//! | `[HOST INTERFACES]`, `[HOST ADDRESSES]` | the host's network interfaces and IPv4 addresses |
//! | `[HOST MQUEUES]`   | the POSIX queues, when the probe sees the host's `/`     |
//! | `[HOST CAPS]`      | a capability set the host's root has too (unless `none`): machines differ (ours lack `cap_sys_resource`) |
//! | `[HOST INIT]`      | the host's PID 1 (`systemd`, `init`, ...)                 |
//! | `[NOT ON HOST]`    | `absent` at a masked or read-only path the host's kernel lacks too (`/proc/kcore` needs `CONFIG_PROC_KCORE`): kernels differ; `ch10.rs` checks every path |
//! | `[KEY]`            | a SysV IPC key (`ipcmk` picks them at random)             |
//! | `[SHORT ID]`       | a hostname of 12 hex digits: the container's short id     |
//! | `[HOSTPID]`        | a PID of two or more digits (low PIDs belong to the kernel)|
//! | `[HOST PROCESSES]` | a count of processes of two or more digits                |
//!
//! Mount IDs (`#42`) are dropped last: they change from run to run.

use std::collections::HashSet;
use std::path::Path;

use regex::Regex;

/// What the test knows about the host the container ran on.
pub struct HostView {
    mount_ids: HashSet<String>,
    root_listing: String,
    init: String,
    rootfs: String,
    /// The `network` and `capabilities` lines of the probe's report run on the
    /// host, and their placeholders.
    host_lines: Vec<(String, &'static str)>,
    /// The lines of the report's `paths` section that say `absent` on the host.
    absent_paths: Vec<String>,
}

impl HostView {
    /// `mountinfo` is the host's mount table as seen where the chapter ran, and
    /// `report` the probe's report run there.
    pub fn new(mountinfo: &str, report: &str, rootfs: &Path) -> Self {
        let mount_ids =
            mountinfo.lines().filter_map(|l| l.split(' ').next()).map(str::to_owned).collect();
        let value = |key: &str| {
            let prefix = format!("  {key}: ");
            report.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_default().to_owned()
        };
        let mut host_lines: Vec<(String, &'static str)> =
            [("interfaces", "[HOST INTERFACES]"), ("ipv4", "[HOST ADDRESSES]")]
                .map(|(key, placeholder)| (format!("  {key}: {}", value(key)), placeholder))
                .into();
        for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
            let held = value(set);
            if !held.is_empty() && held != "none" {
                host_lines.push((format!("  {set}: {held}"), "[HOST CAPS]"));
            }
        }
        let paths = report.lines().skip_while(|l| *l != "paths").skip(1);
        let paths = paths.take_while(|l| l.starts_with("  "));
        let absent_paths = paths.filter(|l| l.ends_with(": absent")).map(str::to_owned).collect();
        HostView {
            mount_ids,
            root_listing: value("/ contains"),
            init: value("pid 1 is"),
            rootfs: rootfs.display().to_string(),
            host_lines,
            absent_paths,
        }
    }
}

/// Apply the placeholders above to a probe report.
pub fn normalise(report: &str, host: &HostView) -> String {
    let mount_line = Regex::new(r"^  #(\d+) (\S+) (.*)$").unwrap();
    let mut lines: Vec<String> = Vec::new();
    for line in report.lines() {
        match mount_line.captures(line) {
            Some(c) if host.mount_ids.contains(&c[1]) => {
                if lines.last().is_none_or(|l| l != "  [HOST MOUNTS]") {
                    lines.push("  [HOST MOUNTS]".to_owned());
                }
            }
            // Chapter 8's root is an overlay of its own making: say so.
            Some(c) if &c[2] == "/" && c[3].starts_with("overlay ") => {
                lines.push("  / overlay [LAYERS]".to_owned());
            }
            Some(c) if &c[2] == "/" => lines.push("  / [ROOTFS FS]".to_owned()),
            Some(c) if c[2].starts_with("/etc/") => lines.push(format!("  {} [STATE FS]", &c[2])),
            // One cgroup2 mount, or a tmpfs with a mount per v1 hierarchy: the host's
            // cgroup version decides (the ch07_limits snapshots show both).
            Some(c) if c[2].starts_with("/sys/fs/cgroup") => {
                if lines.last().is_none_or(|l| !l.starts_with("  /sys/fs/cgroup ")) {
                    let ro = if c[3].contains(" ro,") { "ro" } else { "rw" };
                    lines.push(format!("  /sys/fs/cgroup [CGROUP FS] {ro}"));
                }
            }
            Some(c) => lines.push(format!("  {} {}", &c[2], &c[3])),
            None => lines.push(line.to_owned()),
        }
    }
    let mut text = lines.join("\n") + "\n";
    text = text.replace(&host.rootfs, "[ROOTFS]");
    let host_root = format!("/ contains: {}\n", host.root_listing);
    if text.contains(&host_root) {
        // Seen through the host's `/`, /dev/mqueue is the host's (if it has one).
        let queues = Regex::new(r"(?m)^(  posix message queues: ).*$").unwrap();
        text = queues.replace_all(&text, "${1}[HOST MQUEUES]").into_owned();
    }
    text = text.replace(&host_root, "/ contains: [HOST ROOT]\n");
    text = text.replace(&format!("pid 1 is: {}\n", host.init), "pid 1 is: [HOST INIT]\n");
    for (line, placeholder) in &host.host_lines {
        let key = line.split(':').next().unwrap_or_default();
        text = text.replace(&format!("{line}\n"), &format!("{key}: {placeholder}\n"));
    }
    for line in &host.absent_paths {
        let not_on_host = line.replace(": absent", ": [NOT ON HOST]");
        text = text.replace(&format!("{line}\n"), &format!("{not_on_host}\n"));
    }
    let key = Regex::new(r"key -?\d+").unwrap();
    text = key.replace_all(&text, "key [KEY]").into_owned();
    let short_id = Regex::new(r"(?m)^(  hostname: )[0-9a-f]{12}$").unwrap();
    text = short_id.replace_all(&text, "${1}[SHORT ID]").into_owned();
    let pid = Regex::new(r"(?m)^(  (?:parent )?pid: )\d{2,}$").unwrap();
    text = pid.replace_all(&text, "${1}[HOSTPID]").into_owned();
    let count = Regex::new(r"(?m)^(  processes: )\d{2,}$").unwrap();
    count.replace_all(&text, "${1}[HOST PROCESSES]").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lines_collapse_and_own_lines_stay() {
        let host = HostView {
            mount_ids: ["1", "2"].map(String::from).into(),
            root_listing: "bin work".into(),
            init: "systemd".into(),
            rootfs: "/t/rootfs".into(),
            host_lines: vec![("  interfaces: eth0 lo".into(), "[HOST INTERFACES]")],
            absent_paths: vec!["  /proc/kcore: absent".into()],
        };
        let report = "process\n  pid: 4711\n  parent pid: 0\n  pid 1 is: systemd\n  processes: 250\n\
                      filesystem\n  cwd: /t/rootfs\n  / contains: bin work\n\
                      mounts\n  #1 / ext4 rw\n  #2 /proc proc rw\n  #9 / xfs rw\n  #10 /proc proc rw\n\
                      ipc\n  posix message queues: q1 q2\nnetwork\n  interfaces: eth0 lo\n\
                      paths\n  /proc/kcore: absent\n  /proc/scsi: absent\n";
        assert_eq!(
            normalise(report, &host),
            "process\n  pid: [HOSTPID]\n  parent pid: 0\n  pid 1 is: [HOST INIT]\n  processes: [HOST PROCESSES]\n\
             filesystem\n  cwd: [ROOTFS]\n  / contains: [HOST ROOT]\n\
             mounts\n  [HOST MOUNTS]\n  / [ROOTFS FS]\n  /proc proc rw\n\
             ipc\n  posix message queues: [HOST MQUEUES]\nnetwork\n  interfaces: [HOST INTERFACES]\n\
             paths\n  /proc/kcore: [NOT ON HOST]\n  /proc/scsi: absent\n"
        );
    }
}
