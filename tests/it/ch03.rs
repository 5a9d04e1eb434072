//! Chapter 3: a mount namespace and pivot_root. Its own mounts, and only those.

crate::every_chapter_checks!("ch03");
crate::terminal_checks!("ch03", "/dev/pts/0");

#[test]
fn the_container_sees_only_its_own_mounts() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch03", &["sh", "-c", "cut -d' ' -f5,9 /proc/self/mountinfo"]);
    assert_eq!(
        run.stdout,
        format!(
            "/ {}\n/proc proc\n/dev tmpfs\n/dev/pts devpts\n/dev/shm tmpfs\n/sys sysfs\n",
            run.stdout.split_whitespace().nth(1).unwrap_or("?")
        ),
        "{run:?}"
    );
}

#[test]
fn dev_holds_only_the_harmless_devices() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new()
        .run("ch03", &["sh", "-c", "ls /dev; echo x > /dev/null && head -c 3 /dev/zero | wc -c"]);
    assert_eq!(
        run.stdout,
        "fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n3\n",
        "{run:?}"
    );
}

#[test]
fn sys_is_read_only() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run(
        "ch03",
        &["sh", "-c", "mkdir /sys/tincan 2>&1; ls /sys/kernel >/dev/null && echo readable"],
    );
    assert_eq!(
        run.stdout,
        "mkdir: can't create directory '/sys/tincan': Read-only file system\nreadable\n",
        "{run:?}"
    );
}

#[test]
fn a_failed_mount_is_one_clear_line_and_125() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    std::fs::remove_dir(sandbox.rootfs().join("dev")).unwrap();
    std::fs::write(sandbox.rootfs().join("dev"), "not a directory").unwrap();
    let run = sandbox.run("ch03", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch03: mount /dev: use /dev as a mount point: Not a directory (it is a file)\n"
    );
}

#[test]
fn a_mount_made_inside_never_reaches_the_host() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let marker = crate::support::marker("inside");
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_mounts();
    let script = format!("mount -t tmpfs {marker} /mnt && grep -c {marker} /proc/self/mountinfo");
    let run = sandbox.run_on_host("ch03", &["sh", "-c", &script]);
    assert_eq!(run.stdout, "1\n", "the container sees its own mount: {run:?}");
    assert_eq!(host_mounts(), before, "a mount made in ch03 reached the host");
}

/// With a terminal of its own, the container is in a session of its own: when
/// *your* terminal hangs up (its window is closed), the runtime passes the
/// hang-up on, or the container would never know.
#[test]
fn a_hang_up_of_your_terminal_reaches_the_container() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let script = "trap 'exit 4' HUP; echo READY; while :; do sleep 0.05; done";
    let mut terminal =
        crate::support::Terminal::start("ch03", &sandbox, &[], &["sh", "-c", script]);
    terminal.expect("READY");
    terminal.hang_up();
    let (code, screen) = terminal.wait();
    assert_eq!(code, 4, "{screen}");
}
