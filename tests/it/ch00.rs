//! Chapter 0: a plain child process. It sees the host as the host does.

crate::every_chapter_checks!("ch00");

#[test]
fn the_command_runs_on_the_hosts_root_in_rootfs() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let run = sandbox.run("ch00", &["sh", "-c", "pwd; test -d /proc/1 && echo host-proc"]);
    assert_eq!(run.stdout, format!("{}\nhost-proc\n", sandbox.rootfs().display()), "{run:?}");
}
