//! Chapter 7 on cgroup v2, inside a VM (our machines run hybrid v1; the VM's
//! kernel runs pure v2, with the controllers handed down from the root as
//! systemd does). The same checks as `ch07.rs`, and the v2 limits snapshot.

use crate::ch07::cpu_share;
use crate::support::{qemu_or_skip, root_or_skip, run_in_vm, try_in_vm};

/// Prints whether anything of tincan's is left in the VM's cgroup tree.
const LEFT: &str = "; echo \"exit $?\"; ls /sys/fs/cgroup | grep -c tincan";

fn can_run(test: &str) -> bool {
    root_or_skip(test) && qemu_or_skip(test)
}

#[test]
fn a_memory_hog_is_killed_at_its_limit() {
    if !can_run(module_path!()) {
        return;
    }
    let vm = run_in_vm(&format!(
        "ch07 run --net none --memory 32m /rootfs tincan-probe attack exhaust-memory 256{LEFT}"
    ));
    assert_eq!(
        vm.output,
        "ch07: out of memory: the kernel killed a process of the container at its memory limit of 32 MiB (--memory)\nexit 137\n0\n",
        "{vm:?}"
    );
}

#[test]
fn a_fork_bomb_stops_at_pids_max() {
    if !can_run(module_path!()) {
        return;
    }
    let vm = run_in_vm(&format!(
        "ch07 run --net none --pids-limit 16 /rootfs tincan-probe attack fork-bomb 200{LEFT}"
    ));
    assert_eq!(
        vm.output,
        "BLOCKED: fork refused after 15 processes: EAGAIN: Try again\nch07: the container reached its limit of 16 processes (--pids-limit): the kernel refused a fork\nexit 0\n0\n",
        "{vm:?}"
    );
}

/// As on the host; the VM has one CPU and nothing else to do, but it is emulated,
/// so the same tolerance applies.
#[test]
fn a_cpu_quota_is_honoured() {
    if !can_run(module_path!()) {
        return;
    }
    let vm =
        run_in_vm(&format!("ch07 run --net none --cpus 0.5 /rootfs tincan-probe spin 3{LEFT}"));
    let lines: Vec<&str> = vm.output.lines().collect();
    assert_eq!(lines[1..], ["exit 0", "0"], "{vm:?}");
    let share = cpu_share(lines[0]);
    assert!((0.35..=0.55).contains(&share), "--cpus 0.5 gave {share:.2} of a CPU: {vm:?}");
}

/// The limits as the container sees them on v2: one tree, its own cgroup as `/`.
#[test]
fn limits_snapshot() {
    if !can_run(module_path!()) {
        return;
    }
    let options = crate::snapshot::LIMITS.join(" ");
    let vm = run_in_vm(&format!("ch07 run --net none {options} /rootfs tincan-probe cgroup"));
    assert_eq!(vm.code, 0, "{vm:?}");
    // One file for the VM and for v2 hosts (see `snapshot::ch07_limits`).
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("ch07_limits_v2", vm.output);
    });
}

/// A VM that overruns its time is killed, and leaves nothing behind either
/// (`try_in_vm` checks: no qemu process, no file of the run).
#[test]
fn a_vm_that_overruns_is_stopped_and_leaves_nothing() {
    if !can_run(module_path!()) {
        return;
    }
    let err = try_in_vm("sleep 600", std::time::Duration::from_secs(15)).unwrap_err();
    assert!(err.to_string().contains("the VM took longer than 15s"), "{err:#}");
}
