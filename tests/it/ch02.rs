//! Chapter 2: a PID namespace. The command is PID 1 and sees only its own tree.

crate::every_chapter_checks!("ch02");

#[test]
fn the_command_is_pid_1() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch02", &["sh", "-c", "echo $$"]);
    assert_eq!(run.stdout, "1\n", "{run:?}");
}

/// PID 1 gets no signal from inside its namespace that it has no handler for:
/// not even SIGKILL. (From the host, SIGKILL works: see the shared checks.)
#[test]
fn pid_1_ignores_kill_from_inside() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch02", &["sh", "-c", "kill -KILL $$; echo survived"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "survived\n"), "{run:?}");
}

#[test]
fn ps_shows_only_the_containers_processes() {
    if !root_or_skip(module_path!()) {
        return;
    }
    // `; true` keeps sh alive as PID 1 instead of letting it exec ps.
    let run = Sandbox::new().run("ch02", &["sh", "-c", "ps -o pid,comm; true"]);
    assert_eq!(run.stdout, "PID   COMMAND\n    1 sh\n    2 ps\n", "{run:?}");
}

#[test]
fn a_failed_mount_is_one_clear_line_and_125() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    std::fs::remove_dir(sandbox.rootfs().join("proc")).unwrap();
    std::fs::write(sandbox.rootfs().join("proc"), "not a directory").unwrap();
    let run = sandbox.run("ch02", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(run.stderr, "ch02: mount /proc: create /proc: File exists\n");
}

/// The book's claim, checked: without a mount namespace, the container's /proc
/// is an entry in the host's mount table while it runs, and gone after.
#[test]
fn proc_is_mounted_on_the_host_while_it_runs_and_removed_after() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let proc_on_host = format!(" {} ", sandbox.rootfs().join("proc").display());

    let running = sandbox.start_on_host("ch02");
    let during = host_mounts();
    assert_eq!(running.finish(), 0);

    assert!(during.contains(&proc_on_host), "the host should see{proc_on_host}while ch02 runs");
    assert_eq!(host_mounts(), before, "ch02 left a mount on the host");
}
