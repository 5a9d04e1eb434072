//! Chapter 1: chroot. The rootfs is `/`; everything else is still shared.

crate::every_chapter_checks!("ch01");

#[test]
fn the_rootfs_is_the_root() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.rootfs().join("etc/only-in-rootfs"), "yes\n").unwrap();
    let run = sandbox.run("ch01", &["sh", "-c", "pwd; cat /etc/only-in-rootfs; ls /"]);
    assert_eq!(
        run.stdout, "/\nyes\nbin\ndev\netc\nhome\nmnt\nproc\nroot\nrun\nsbin\nsys\ntmp\nusr\nvar\n",
        "{run:?}"
    );
}

#[test]
fn the_process_is_not_pid_1_and_proc_is_empty() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch01", &["sh", "-c", "echo $$; ls /proc | wc -l"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].parse::<u32>().unwrap() > 1, "{run:?}");
    assert_eq!(lines[1].trim(), "0", "the runtime does not mount /proc in ch01: {run:?}");
}
