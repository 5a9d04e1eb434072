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
/// not even SIGKILL. (From an ancestor namespace, SIGKILL works: see the shared
/// checks.)
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
    assert_eq!(
        run.stderr,
        "ch02: mount /proc: use /proc as a mount point: Not a directory (it is a file)\n"
    );
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

/// From the host too, PID 1 gets only the signals it has a handler for: a plain
/// `sleep` ignores the SIGTERM the runtime forwards, until `--stop-timeout`
/// passes and the runtime kills it.
#[test]
fn pid_1_without_a_handler_ignores_sigterm_from_the_host() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().options(&["--stop-timeout", "1"]);
    let script = "echo ready; exec sleep 30";
    let stopped = sandbox.signal_when_ready("ch02", &["sh", "-c", script], "TERM");
    assert_eq!(stopped.code, 137, "killed, not ended by TERM: {stopped:?}");
    assert!(stopped.took.as_secs_f64() >= 1.0, "it lived on for the stop timeout: {stopped:?}");
}

/// With `--init`, our init is PID 1 and the command PID 2, an ordinary process:
/// SIGTERM ends it at once, and its status is the container's (128 + 15).
#[test]
fn under_init_the_command_is_pid_2_and_sigterm_ends_it() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().options(&["--init"]);
    let stopped =
        sandbox.signal_when_ready("ch02", &["sh", "-c", "echo ready $$; exec sleep 30"], "TERM");
    assert_eq!(stopped.code, 143, "{stopped:?}");
    assert!(stopped.run.stdout.ends_with("ready 2\n"), "{stopped:?}");
    assert!(stopped.took.as_secs_f64() < 1.0, "{stopped:?}");
}

#[test]
fn under_init_the_commands_exit_status_is_the_containers() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().options(&["--init"]);
    assert_eq!(sandbox.run("ch02", &["sh", "-c", "exit 7"]).code, 7);
    let killed = sandbox.run("ch02", &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(killed.code, 128 + 9, "{killed:?}");
}

/// Orphans are re-parented to PID 1. A PID 1 that does not wait for them (the
/// probe) leaves them zombies; our init reaps every one.
#[test]
fn init_reaps_orphans_that_pid_1_would_leave_as_zombies() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let without = Sandbox::new().run("ch02", &[PROBE, "zombies", "50"]);
    assert_eq!(without.stdout, "zombies: 50\n", "{without:?}");
    let with = Sandbox::new().options(&["--init"]).run("ch02", &[PROBE, "zombies", "50"]);
    assert_eq!(with.stdout, "zombies: 0\n", "{with:?}");
}

/// On a terminal, Ctrl-C reaches a `sleep` that is PID 1 — which ignores it, so
/// the container runs on; under `--init`, `sleep` is PID 2, and ends.
#[test]
fn ctrl_c_ends_a_sleep_only_under_init() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let options = ["--stop-timeout", "1"];
    let mut pid_1 = crate::support::Terminal::start("ch02", &sandbox, &options, &["sleep", "30"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    pid_1.type_keys("\x03");
    assert!(pid_1.runs_after(std::time::Duration::from_secs(1)), "{}", pid_1.screen());
    pid_1.signal(nix::sys::signal::Signal::SIGTERM); // stopped: killed after 1 s
    assert_eq!(pid_1.wait().0, 128 + 9);

    let mut under_init =
        crate::support::Terminal::start("ch02", &sandbox, &["--init"], &["sleep", "30"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    under_init.type_keys("\x03");
    let (code, screen) = under_init.wait();
    assert_eq!(code, 128 + 2, "{screen}");
}

/// Our init is a copy of the runtime: it must not show the container the
/// runtime's environment (here TINCAN_STATE_DIR and the rest of the test's) or
/// its command line.
#[test]
fn under_init_pid_1_shows_nothing_of_the_runtime() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script =
        "tr -d '\\0' < /proc/1/environ | wc -c; tr '\\0' '\\n' < /proc/1/cmdline | head -1";
    let run = Sandbox::new().options(&["--init"]).run("ch02", &["sh", "-c", script]);
    assert_eq!(run.stdout, "0\ntincan-init\n", "{run:?}");
}
