//! Chapter 0: a plain child process. It sees the host as the host does.

crate::every_chapter_checks!("ch00");
crate::terminal_checks!("ch00", "/dev/pts/");

#[test]
fn the_command_runs_on_the_hosts_root_in_rootfs() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let run = sandbox.run("ch00", &["sh", "-c", "pwd; test -d /proc/1 && echo host-proc"]);
    assert_eq!(run.stdout, format!("{}\nhost-proc\n", sandbox.rootfs().display()), "{run:?}");
}

/// Whatever the runtime blocks or ignores, the command starts with no signal
/// blocked and none ignored (`man 5 proc`: SigBlk, SigIgn).
#[test]
fn the_command_starts_with_no_signal_blocked_or_ignored() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch00", &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    assert_eq!(run.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", "{run:?}");
}
