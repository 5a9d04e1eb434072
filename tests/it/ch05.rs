//! Chapter 5: an IPC namespace. Its own SysV IPC objects and message queues.

crate::every_chapter_checks!("ch05");
crate::terminal_checks!("ch05", "/dev/pts/0");

use crate::support::MAKE_HOST_IPC;

const SYSV_TABLES: &str = "cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg";

#[test]
fn host_ipc_objects_are_invisible_inside() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().before(MAKE_HOST_IPC).after(format!("{SYSV_TABLES} | wc -l"));
    let run = sandbox.run("ch05", &["sh", "-c", &format!("{SYSV_TABLES} | wc -l")]);
    // Each table has a header line: three lines mean three empty tables.
    assert_eq!(run.stdout.trim(), "3", "{run:?}");
    assert_eq!(run.after.trim(), "6", "the host's objects are still there: {run:?}");
}

#[test]
fn dev_mqueue_is_the_containers_own() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run(
        "ch05",
        &[
            "sh",
            "-c",
            "grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f9; ls -A /dev/mqueue",
        ],
    );
    assert_eq!(run.stdout, "mqueue\n", "{run:?}");
}
