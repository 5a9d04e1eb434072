//! A runtime killed with `SIGKILL` — at any point of a container's start, or
//! while it runs — leaves its records behind; `chNN cleanup` (or the next run)
//! takes down exactly what it made, and the next container works: its
//! published port reaches *it*, not a dead container's address.

use crate::ch06::VETHS_GONE;
use crate::support::{Sandbox, cgroups_named, chapter_bin, host_mounts, root_or_skip};

/// Where the runtime can be paused (`TINCAN_TEST_PAUSE_AFTER`): everything
/// recorded but nothing cloned; after the parent-side part of the steps that
/// have one (a step's name); and once the command runs.
const POINTS: [&str; 5] = ["clone", "cgroup", "bring up lo", "connect to the bridge", "start"];

const SERVER: &str = "sh -c 'trap \"exit 0\" TERM; httpd -f -p 80 -h /etc & wait'";

/// Start `ch07 run -p 18090:80` paused at `point`, kill its runtime with
/// SIGKILL there, then run `clean_up` (a shell line), and list what is left.
fn kill_at(sandbox: &Sandbox, point: &str, clean_up: &str) -> String {
    let ch07 = chapter_bin("ch07").display().to_string();
    let rootfs = sandbox.rootfs().display().to_string();
    let dir = sandbox.dir().display().to_string();
    format!(
        "TINCAN_TEST_PAUSE_AFTER='{point}' {ch07} run -p 18090:80 {rootfs} {SERVER} 2> {dir}/err & runtime=$!\n\
         n=0; until grep -q 'paused after' {dir}/err || ! kill -0 $runtime 2>/dev/null || [ $n -ge 250 ]; do sleep 0.02; n=$((n+1)); done\n\
         cat {dir}/err; kill -KILL $runtime; wait $runtime; echo killed $?\n\
         {clean_up}\n{VETHS_GONE}\n\
         echo tables: $(nft list tables); echo links: $(ip -o link show | cut -d: -f2)\n\
         s=$TINCAN_STATE_DIR; echo state: $(ls -A $s/containers $s/net/$TINCAN_BRIDGE $s/ports/tcp 2>/dev/null | grep -v ':$')\n\
         {ch07} run -p 18090:80 --hostname next {rootfs} {SERVER} & server=$!\n\
         n=0; until timeout 1 busybox wget -q -O- http://127.0.0.1:18090/hostname 2>/dev/null || ! kill -0 $server 2>/dev/null || [ $n -ge 100 ]; do sleep 0.05; n=$((n+1)); done\n\
         kill $server; wait $server"
    )
}

fn expected(point: &str) -> String {
    format!("paused after {point}\nkilled 137\ntables:\nlinks: lo\nstate:\nnext\n")
}

#[test]
fn ch07_cleanup_takes_down_what_a_killed_runtime_made_at_each_point() {
    if !root_or_skip(module_path!()) {
        return;
    }
    for point in POINTS {
        let sandbox = Sandbox::new().own_network();
        let ch07 = chapter_bin("ch07").display().to_string();
        let run =
            sandbox.script(&kill_at(&sandbox, point, &format!("{ch07} cleanup; echo cleanup $?")));
        assert_eq!(
            run.stdout,
            expected(point).replace("killed 137\n", "killed 137\ncleanup 0\n"),
            "killed after {point}: {run:?}"
        );
        assert_eq!(
            cgroups_named(&sandbox.cgroup_parent()),
            Vec::<std::path::PathBuf>::new(),
            "after {point}"
        );
    }
}

/// No `cleanup` needed: the next run does it for stale records on its own.
#[test]
fn ch07_the_next_run_cleans_up_after_a_killed_runtime() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let ch07 = chapter_bin("ch07").display().to_string();
    let next_run =
        format!("{ch07} run --net none {} true; echo next run $?", sandbox.rootfs().display());
    let run = sandbox.script(&kill_at(&sandbox, "start", &next_run));
    assert_eq!(
        run.stdout,
        expected("start").replace("killed 137\n", "killed 137\nnext run 0\n"),
        "{run:?}"
    );
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<std::path::PathBuf>::new());
}

/// Chapter 2's `/proc` sits in the host's mount table (it has no mount namespace
/// yet): a killed runtime leaves it there, and `ch02 cleanup` takes it off.
#[test]
fn ch02_cleanup_unmounts_the_proc_a_killed_runtime_left() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let mut runtime = sandbox.command_on_host("ch02");
    runtime
        .env("TINCAN_TEST_PAUSE_AFTER", "start")
        .arg("run")
        .arg(sandbox.rootfs())
        .args(["sleep", "60"]);
    let mut runtime = runtime.stderr(std::process::Stdio::piped()).spawn().expect("start ch02");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(runtime.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "paused after start\n");
    let proc_on_host = format!(" {} ", sandbox.rootfs().join("proc").display());
    assert!(host_mounts().contains(&proc_on_host), "ch02's /proc is on the host while it runs");
    runtime.kill().unwrap();
    runtime.wait().unwrap();
    assert!(host_mounts().contains(&proc_on_host), "a killed runtime leaves it there");
    let cleanup = sandbox.command_on_host("ch02").arg("cleanup").output().expect("ch02 cleanup");
    assert_eq!(
        String::from_utf8_lossy(&cleanup.stderr),
        "ch02: cleaned up after 1 container whose runtime had died\n"
    );
    assert_eq!(host_mounts(), before, "ch02 cleanup left the host's mount table as it was");
    assert_eq!(std::fs::read_dir(sandbox.state_dir().join("containers")).unwrap().count(), 0);
}
