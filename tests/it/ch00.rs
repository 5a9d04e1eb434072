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

/// `kill RUNTIME` must stop the container too: the runtime forwards SIGTERM.
/// (In chapter 2 and later the command is a PID 1, which ignores a SIGTERM it
/// has no handler for; see ch02.)
#[test]
fn sigterm_to_the_runtime_reaches_the_container() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let running = sandbox.start_on_host("ch00");
    nix::sys::signal::kill(running.runtime_pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(running.wait(), 128 + 15);
}
