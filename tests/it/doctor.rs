//! `tincan doctor` on this host: as root, every check passes on a machine
//! that runs the rest of these tests; as a user, what root does not lack is
//! told (no cgroups of tincan's delegated, nftables out of reach).

use std::process::Command;

use crate::support::root_or_skip;
use crate::support::unprivileged::TestUser;

const CHECKS: [&str; 10] = [
    "kernel",
    "namespaces",
    "user namespaces",
    "cgroups",
    "cgroup delegation",
    "overlayfs",
    "nftables",
    "subordinate ids",
    "ip forwarding",
    "forwarding policy",
];

/// The verdict the doctor printed for `check`.
fn verdict<'a>(report: &'a str, check: &str) -> &'a str {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ").starts_with(check))
        .unwrap_or_else(|| panic!("no line for {check}:\n{report}"));
    line.split_whitespace().next().unwrap_or_default()
}

#[test]
fn the_doctor_passes_this_host_and_tells_a_user_what_it_lacks() {
    if !root_or_skip("doctor::the_doctor_passes_this_host_and_tells_a_user_what_it_lacks") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tincan")).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    for check in CHECKS {
        assert!(["ok", "warn"].contains(&verdict(&report, check)), "{check}:\n{report}");
    }
    assert_eq!(verdict(&report, "cgroup delegation"), "ok", "{report}");
    let user = TestUser::create(true);
    let tincan = user.rootfs().with_file_name("tincan");
    std::fs::copy(env!("CARGO_BIN_EXE_tincan"), &tincan).expect("the user's copy of tincan");
    let out = user.command(tincan.to_str().unwrap()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(verdict(&report, "cgroup delegation"), "warn", "{report}");
    assert!(report.contains("fix: as root, once: ch09 delegate $USER"), "{report}");
    assert_eq!(verdict(&report, "subordinate ids"), "ok", "its ranges:\n{report}");
}
