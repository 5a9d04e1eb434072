//! `tincan-probe cgroup`: the cgroup this process is in and its limits, read the
//! way a person would: `cat /proc/self/cgroup`, then the limit files under
//! `/sys/fs/cgroup`. Each line names the file it comes from.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// The limit files worth showing, per controller, for each cgroup version.
const V2_FILES: [&str; 6] =
    ["memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "io.weight"];
const V1_FILES: [(&str, &[&str]); 4] = [
    ("memory", &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]),
    ("cpu", &["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"]),
    ("pids", &["pids.max"]),
    ("blkio", &["blkio.bfq.weight", "blkio.weight"]),
];

pub fn report() -> String {
    let mut out = String::from("cgroup\n");
    let membership = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        // v2: one line "0::PATH", one tree.
        let path = membership.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("?");
        let _ = writeln!(out, "  version: v2\n  /proc/self/cgroup: 0::{path}");
        let dir = in_tree(root, path);
        for file in V2_FILES {
            show(&mut out, &dir, file);
        }
        return out;
    }
    let mut any = false;
    for (controller, files) in V1_FILES {
        let Some(mount) = v1_mount(root, controller) else { continue };
        if !any {
            let _ = writeln!(out, "  version: v1");
            any = true;
        }
        // v1: a line "N:CONTROLLERS:PATH" per hierarchy.
        let path = membership
            .lines()
            .filter_map(|l| l.split_once(':')?.1.split_once(':'))
            .find(|(names, _)| names.split(',').any(|n| n == controller))
            .map_or("?", |(_, path)| path);
        let _ = writeln!(out, "  /proc/self/cgroup: {controller}:{path}");
        let dir = in_tree(&mount, path);
        // Only the files this kernel has (v1's IO weight depends on the scheduler).
        for file in files.iter().filter(|f| dir.join(f).exists()) {
            show(&mut out, &dir, file);
        }
    }
    if !any {
        let _ = writeln!(out, "  not mounted at /sys/fs/cgroup");
    }
    out
}

/// The directory of cgroup `path` in the tree mounted at `mount`.
fn in_tree(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

/// The v1 hierarchy holding `controller`: a directory of /sys/fs/cgroup named after
/// its controllers ("cpu,cpuacct"), which may be a symlink ("cpu").
fn v1_mount(root: &Path, controller: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(root).ok()?.flatten().map(|e| e.path()).collect();
    entries.sort();
    entries.into_iter().find(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.split(',').any(|n| n == controller) && p.join("cgroup.procs").exists()
    })
}

fn show(out: &mut String, dir: &Path, file: &str) {
    let value = fs::read_to_string(dir.join(file))
        .map_or_else(|e| format!("unreadable: {e}"), |v| v.trim().to_owned());
    let _ = writeln!(out, "  {file}: {value}");
}
