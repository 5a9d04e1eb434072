//! Chapter 7: cgroups. Limits the kernel enforces, on the host's real cgroups
//! (v1 on our CI machines; the cgroup v2 runs are in `vm.rs`, inside a VM).
//!
//! Each sandbox puts its containers' cgroups below a parent of its own
//! (`Sandbox::cgroup_parent`), so every test can check that nothing is left.

crate::every_chapter_checks!("ch07");
crate::terminal_checks!("ch07", "/dev/pts/0");

use crate::support::{Sleeper, cgroups_named};

/// Run ch07 with `options` in a fresh sandbox, without a network (none is needed).
fn run(options: &[&str], args: &[&str]) -> (crate::support::Run, Vec<std::path::PathBuf>) {
    let sandbox = Sandbox::new().options(&["--net", "none"]).options(options);
    let run = sandbox.run("ch07", args);
    (run, cgroups_named(&sandbox.cgroup_parent()))
}

#[test]
fn a_memory_hog_is_killed_at_its_limit_and_the_user_is_told() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let mut bystander = Sleeper::start();
    let (run, left) = run(&["--memory", "32m"], &[PROBE, "attack", "exhaust-memory", "256"]);
    assert_eq!(run.code, 137, "128 + SIGKILL, as Docker reports an OOM kill: {run:?}");
    assert_eq!(run.stdout, "", "the hog never got its 256 MiB: {run:?}");
    assert_eq!(
        run.stderr,
        "ch07: out of memory: the kernel killed a process of the container at its memory limit of 32 MiB (--memory)\n"
    );
    let bystander_killed = bystander.dies_within(std::time::Duration::ZERO);
    assert!(!bystander_killed, "the OOM killer chose only inside the container");
    assert_eq!(left, Vec::<std::path::PathBuf>::new(), "cgroups left behind");
}

#[test]
fn without_a_limit_nothing_is_reported() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, left) = run(&[], &[PROBE, "attack", "exhaust-memory", "64"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("ESCAPED: held 64 MiB"), "{run:?}");
    assert_eq!(run.stderr, "");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_fork_bomb_stops_at_pids_max_and_leaves_nothing() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, left) = run(&["--pids-limit", "16"], &[PROBE, "attack", "fork-bomb", "200"]);
    assert_eq!(run.code, 0, "{run:?}");
    // PID 1 (the probe) is one of the 16.
    assert_eq!(run.stdout, "BLOCKED: fork refused after 15 processes: EAGAIN: Try again\n");
    assert_eq!(
        run.stderr,
        "ch07: the container reached its limit of 16 processes (--pids-limit): the kernel refused a fork\n"
    );
    assert!(left.is_empty(), "a cgroup is gone only when its last process is: {left:?}");
}

/// The quota is a ceiling per 100 ms period, so over 3 s a busy loop gets at most
/// half of the wall-clock time, give or take a period. The lower bound allows for
/// a busy test machine taking some of the half away.
#[test]
fn a_cpu_quota_is_honoured() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, left) = run(&["--cpus", "0.5"], &[PROBE, "spin", "3"]);
    assert_eq!(run.code, 0, "{run:?}");
    let share = cpu_share(&run.stdout);
    assert!((0.35..=0.55).contains(&share), "--cpus 0.5 gave {share:.2} of a CPU: {run:?}");
    assert!(left.is_empty(), "{left:?}");
}

/// "cpu C s in W s of wall-clock time" -> C / W.
pub fn cpu_share(line: &str) -> f64 {
    let numbers: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match numbers.as_slice() {
        [cpu, wall] => cpu / wall,
        _ => panic!("not a spin report: {line:?}"),
    }
}

/// While it runs, the container is in its own cgroup below the sandbox's parent,
/// in every hierarchy we use — four on a v1 or hybrid host (memory, cpu, pids,
/// blkio), one on a v2 host — and afterwards the cgroups and the parent are gone.
#[test]
fn the_cgroup_holds_the_container_while_it_runs_and_is_gone_after() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let parent = sandbox.cgroup_parent();
    let ch07 = crate::support::chapter_bin("ch07");
    // In the background, a container that waits for a file; meanwhile we count,
    // from outside, the container cgroups that hold processes. (The wait ends if
    // the container does: one that fails to start must fail the test, not hang it.)
    let procs =
        format!("/sys/fs/cgroup/*/{parent}/*/cgroup.procs /sys/fs/cgroup/{parent}/*/cgroup.procs");
    let script = format!(
        "{ch07} run --net none --memory 64m {rootfs} sh -c 'until [ -e /go ]; do sleep 0.05; done' &
         until [ -n \"$(cat {procs} 2>/dev/null)\" ] || ! kill -0 $! 2>/dev/null; do sleep 0.05; done
         for f in {procs}; do [ -n \"$(cat $f 2>/dev/null)\" ] && echo $f; done | wc -l
         touch {rootfs}/go; wait $!",
        ch07 = ch07.display(),
        rootfs = sandbox.rootfs().display(),
    );
    let run = sandbox.script(&script);
    // Which the host runs is read here the way a person would: a pure v2 host
    // has cgroup.controllers at the top of /sys/fs/cgroup.
    let v2_host = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let hierarchies = if v2_host { "1" } else { "4" };
    assert_eq!((run.code, run.stdout.trim()), (0, hierarchies), "{run:?}");
    assert_eq!(cgroups_named(&parent), Vec::<std::path::PathBuf>::new());
}

#[test]
fn swap_below_memory_is_refused_before_anything_is_made() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, left) = run(&["--memory", "64m", "--memory-swap", "32m"], &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch07: cgroup: check the limits: Invalid argument (--memory-swap (32 MiB) is less than --memory (64 MiB): it counts memory and swap together; give at least --memory, or -1 for unlimited swap)\n"
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_size_that_is_not_one_is_a_usage_error() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, _) = run(&["--memory", "lots"], &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("invalid value 'lots' for '--memory <SIZE>'"), "{run:?}");
    assert!(run.stderr.contains("try a number of bytes, or 512k, 64m, 1g"), "{run:?}");
}

/// A parent that would climb out of the cgroup tree is refused.
#[test]
fn a_cgroup_parent_outside_the_tree_is_refused() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let (run, _) = run(&["--cgroup-parent", "../../etc"], &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("give a relative path of names"), "{run:?}");
}
