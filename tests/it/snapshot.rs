//! The stage probe's report for every chapter, pinned with insta.
//!
//! Read in order, the snapshots are the story of the book: ch00 sees the host's
//! processes and mounts; ch01 has its own `/` but no `/proc`; ch02 is PID 1 with
//! only its own processes; ch03 sees only its own mounts. Values that differ
//! between machines are placeholders (see `support/filters.rs`). The book includes
//! these files, so what it shows is what the code does.

use crate::support::{HostView, PROBE, Sandbox, normalise, root_or_skip};

fn snapshot(chapter: &str) {
    snapshot_with(chapter, chapter, &[]);
}

/// The report of `chapter` run with `options`, pinned as `name`.
fn snapshot_with(chapter: &str, name: &str, options: &[&str]) {
    if !root_or_skip(chapter) {
        return;
    }
    let sandbox = Sandbox::new().options(options);
    let host_table = sandbox.dir().join("host-mountinfo");
    let host_report = sandbox.dir().join("host-report");
    // The probe is a static program: it runs on the host as well, and its report
    // there is the host's view that the container's report is compared with.
    let probe_on_host = sandbox.rootfs().join(PROBE);
    let sandbox = sandbox
        .before(crate::support::MAKE_HOST_IPC)
        .before(format!("cat /proc/self/mountinfo > {}", host_table.display()))
        .before(format!("{} > {}", probe_on_host.display(), host_report.display()));
    let run = sandbox.run(chapter, &[PROBE]);
    assert_eq!(run.code, 0, "{run:?}");
    let host = HostView::new(
        &std::fs::read_to_string(&host_table).unwrap(),
        &std::fs::read_to_string(&host_report).unwrap(),
        &sandbox.rootfs(),
    );
    insta::assert_snapshot!(name, normalise(&run.stdout, &host));
}

#[test]
fn ch00() {
    snapshot("ch00");
}

#[test]
fn ch01() {
    snapshot("ch01");
}

#[test]
fn ch02() {
    snapshot("ch02");
}

#[test]
fn ch03() {
    snapshot("ch03");
}

#[test]
fn ch04() {
    snapshot("ch04");
}

#[test]
fn ch05() {
    snapshot("ch05");
}

#[test]
fn ch06() {
    snapshot("ch06");
}

#[test]
fn ch07() {
    snapshot("ch07");
}

#[test]
fn ch08() {
    snapshot("ch08");
}

/// Chapter 9 in a user namespace. Explicit maps, not `--userns`, whose range
/// is the machine's (`/etc/subuid`).
#[test]
fn ch09_userns() {
    snapshot_with("ch09", "ch09_userns", &["--uidmap", "0:100000:65536"]);
}

/// The options of the limits snapshots, here and in the VM (`vm.rs`).
pub const LIMITS: [&str; 12] = [
    "--memory",
    "64m",
    "--memory-swap",
    "96m",
    "--cpus",
    "0.5",
    "--cpu-weight",
    "300",
    "--pids-limit",
    "32",
    "--io-weight",
    "500",
];

/// Chapter 7's limits as the container sees them: its own cgroup as `/`, and the
/// files under `/sys/fs/cgroup`, in the host's cgroup version's terms. On a v2
/// host this is the same snapshot that the VM test (`vm.rs`) pins.
#[test]
fn ch07_limits() {
    if !root_or_skip("ch07_limits") {
        return;
    }
    let sandbox = Sandbox::new().options(&["--net", "none"]).options(&LIMITS);
    let run = sandbox.run("ch07", &[PROBE, "cgroup"]);
    assert_eq!(run.code, 0, "{run:?}");
    // A pure v2 host has cgroup.controllers at the top of /sys/fs/cgroup.
    let name = match std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        true => "ch07_limits_v2",
        false => "ch07_limits_v1",
    };
    // Not named after this module: the VM's v2 test pins the same file.
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, run.stdout);
    });
}
