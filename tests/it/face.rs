//! The docker-style face: `tincan run -d IMAGE`, `ps`, `logs`, `stop`, `rm`,
//! on an image imported into a store of the test's own — and nothing left
//! behind.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::face::{Face, IMAGE, assert_left_nothing, left_of, ok};
use crate::support::root_or_skip;

#[test]
fn a_detached_container_runs_logs_stops_and_is_removed_with_nothing_left() {
    if !root_or_skip("face::a_detached_container_runs_logs_stops_and_is_removed_with_nothing_left")
    {
        return;
    }
    let face = Face::new();
    // As PID 1, the shell has no handler for SIGTERM: `stop` must kill it.
    let script = "echo started; echo to-stderr >&2; while :; do sleep 1; done";
    let id = ok(&face.tincan(&[
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "GREETING=hi",
        IMAGE,
        "sh",
        "-c",
        script,
    ]));
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");
    let listed = face.wait_for_status("web", "Up");
    assert!(listed.starts_with("CONTAINER ID   IMAGE"), "{listed}");
    assert!(listed.contains(&id[..12]) && listed.contains(IMAGE), "{listed}");
    // A second container may not take its name.
    let taken = face.tincan(&["run", "-d", "--name", "web", IMAGE, "true"]);
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("the name web is in use"), "{taken:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let logs = face.tincan(&["logs", "web"]);
        if String::from_utf8_lossy(&logs.stderr).contains("to-stderr") || Instant::now() > deadline
        {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ok(&logs), "started\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "to-stderr\n");
    // Still running: rm refuses without -f.
    let refused = face.tincan(&["rm", "web"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is running"), "{refused:?}");
    let started = Instant::now();
    assert_eq!(ok(&face.tincan(&["stop", "-t", "1", "web"])), "web\n");
    assert!(started.elapsed() >= Duration::from_secs(1), "SIGTERM cannot have ended it");
    // `stop` returns once the end is recorded: no waiting here.
    let listed = ok(&face.tincan(&["ps", "-a"]));
    assert!(listed.lines().any(|l| l.ends_with("web") && l.contains("Exited (137)")), "{listed}");
    assert!(!ok(&face.tincan(&["ps"])).contains("web"), "ps without -a lists running ones only");
    assert_eq!(ok(&face.tincan(&["rm", "web"])), "web\n");
    assert_eq!(left_of(&face, &id, "web"), Vec::<PathBuf>::new());
    assert_eq!(ok(&face.tincan(&["ps", "-a"])).lines().count(), 1, "only the heading");
}

#[test]
fn a_foreground_run_prints_the_output_and_exits_with_the_commands_status_and_rm_removes_it() {
    if !root_or_skip(
        "face::a_foreground_run_prints_the_output_and_exits_with_the_commands_status_and_rm_removes_it",
    ) {
        return;
    }
    let face = Face::new();
    let ran = face.tincan(&[
        "run",
        "--rm",
        "--name",
        "once",
        "-e",
        "WHO=you",
        IMAGE,
        "sh",
        "-c",
        "echo hello $WHO; exit 3",
    ]);
    assert_eq!(ran.status.code(), Some(3), "{ran:?}");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello you\n");
    // In the foreground, `run` removes it itself once it has read the end.
    let listed = ok(&face.tincan(&["ps", "-a"]));
    assert_eq!(listed.lines().count(), 1, "only the heading: {listed}");
    assert_left_nothing(&face);
}

#[test]
fn a_detached_container_with_rm_is_removed_by_its_supervisor_when_it_ends() {
    if !root_or_skip("face::a_detached_container_with_rm_is_removed_by_its_supervisor_when_it_ends")
    {
        return;
    }
    let face = Face::new();
    let id =
        ok(&face.tincan(&["run", "-d", "--rm", "--name", "brief", IMAGE, "sh", "-c", "sleep 0.3"]));
    let id = id.trim().to_owned();
    // Nobody waits for it but its supervisor, whose exit command is `rm`.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left_of(&face, &id, "brief").is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", left_of(&face, &id, "brief"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_left_nothing(&face);
}

#[test]
fn rm_f_of_a_running_container_leaves_nothing() {
    if !root_or_skip("face::rm_f_of_a_running_container_leaves_nothing") {
        return;
    }
    let face = Face::new();
    let id = ok(&face.tincan(&["run", "-d", "--name", "busy", IMAGE, "sleep", "30"]));
    let id = id.trim().to_owned();
    assert_eq!(ok(&face.tincan(&["rm", "-f", "busy"])), "busy\n");
    assert_eq!(left_of(&face, &id, "busy"), Vec::<PathBuf>::new());
    assert_left_nothing(&face);
}

#[test]
fn an_image_that_is_not_there_is_a_clear_error_and_leaves_nothing() {
    if !root_or_skip("face::an_image_that_is_not_there_is_a_clear_error_and_leaves_nothing") {
        return;
    }
    let face = Face::new();
    let said = face.tincan(&["run", "-d", "no-such-image"]);
    assert_eq!(said.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&said.stderr);
    assert!(stderr.contains("no-such-image"), "{stderr}");
    assert_left_nothing(&face);
}
