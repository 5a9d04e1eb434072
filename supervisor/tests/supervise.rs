//! The supervisor with a stand-in for the OCI runtime: a shell that starts a
//! "container" in the background, writes its PID where `--pid-file` would,
//! and exits, leaving it to the supervisor as `tincan create` does. No root
//! needed; `tests/it` drives it with the real runtime.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tincan_supervisor::exit::Exit;

/// Start the supervisor on `dir` with a runtime that runs `container` in the
/// background; what it said on its stdout, once it let go.
fn supervise(dir: &Path, container: &str) -> (Child, String) {
    let runtime = format!("{container} & echo $! > {}/pid", dir.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tincan-supervisor"))
        .arg(dir)
        .args(["sh", "-c", &runtime])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    child.stdout.take().unwrap().read_to_string(&mut said).unwrap();
    (child, said)
}

/// The exit record, once the supervisor has written it and ended.
fn wait_for_exit(mut child: Child, dir: &Path) -> Exit {
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the supervisor did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    Exit::read(dir).unwrap().expect("an exit record")
}

fn logged(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("log.json")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["stream"].as_str().unwrap().into(), v["log"].as_str().unwrap().into())
        })
        .collect()
}

#[test]
fn it_keeps_the_output_and_the_exit_status_of_a_process_left_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let container = "sh -c 'sleep 0.2; echo out; echo err >&2; printf partial; exit 3'";
    let (child, said) = supervise(dir.path(), container);
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    assert_eq!(said, format!("created {}\n", pid.trim()));
    let exit = wait_for_exit(child, dir.path());
    assert_eq!((exit.pid.to_string(), exit.status, exit.signal), (pid.trim().into(), 3, None));
    let mut got = logged(dir.path());
    // Two pipes: the order between them is the reader's, not the writer's.
    got.sort();
    let want = [("stderr", "err\n"), ("stdout", "out\n"), ("stdout", "partial")];
    assert_eq!(got, want.map(|(s, l)| (s.to_owned(), l.to_owned())));
}

#[test]
fn what_an_orphan_writes_after_the_first_process_ended_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    // The first process ends at once; its child, orphaned and so handed to
    // the supervisor, writes after.
    let container = "sh -c '(sleep 0.1; echo late) & exit 0'";
    let (child, said) = supervise(dir.path(), container);
    assert!(said.starts_with("created "), "{said}");
    let exit = wait_for_exit(child, dir.path());
    assert_eq!(exit.status, 0);
    assert_eq!(logged(dir.path()), [("stdout".to_owned(), "late\n".to_owned())]);
}

#[test]
fn a_killed_process_is_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = supervise(dir.path(), "sh -c 'kill -KILL $$'");
    let exit = wait_for_exit(child, dir.path());
    assert_eq!((exit.status, exit.signal), (137, Some(9)));
}

#[test]
fn a_runtime_that_fails_is_reported_with_what_it_said() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tincan-supervisor"))
        .arg(dir.path())
        .args(["sh", "-c", "echo 'no such bundle: /nowhere' >&2; exit 1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8(output.stdout).unwrap();
    assert!(said.starts_with("error: sh exit status: 1: no such bundle: /nowhere"), "{said}");
    assert_eq!(Exit::read(dir.path()).unwrap(), None);
}

#[test]
fn without_arguments_it_says_how_to_call_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_tincan-supervisor")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("usage: tincan-supervisor DIR"));
}

#[test]
fn the_exit_command_runs_once_the_exit_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let exit_file = dir.path().join("exit.json");
    let seen = dir.path().join("seen");
    let on_exit = format!("cat {} > {}", exit_file.display(), seen.display());
    let runtime = format!("sh -c 'exit 4' & echo $! > {}/pid", dir.path().display());
    let child = Command::new(env!("CARGO_BIN_EXE_tincan-supervisor"))
        .arg(dir.path())
        .args(["--on-exit", "sh", "--on-exit", "-c", "--on-exit", &on_exit, "--"])
        .args(["sh", "-c", &runtime])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_exit(child, dir.path());
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(seen).expect("the exit command ran"))
            .unwrap();
    assert_eq!(seen["status"], 4);
}

/// A runtime may print more than a pipe holds (64 KiB) before it exits: it
/// is read meanwhile, not after, and what it said is the supervisor's to
/// log, not the container's.
#[test]
fn a_runtime_that_prints_much_is_not_left_waiting_and_not_in_the_containers_log() {
    let dir = tempfile::tempdir().unwrap();
    // `supervise` runs the last command in the background: the "container".
    let runtime = "head -c 300000 /dev/zero | tr '\\0' w >&2; echo warned >&2; \
        sh -c 'sleep 0.2; echo mine'";
    let (child, said) = supervise(dir.path(), runtime);
    assert!(said.starts_with("created "), "{said}");
    assert_eq!(wait_for_exit(child, dir.path()).status, 0);
    assert_eq!(logged(dir.path()), [("stdout".to_owned(), "mine\n".to_owned())]);
    let own = std::fs::read_to_string(dir.path().join("supervisor.log")).unwrap();
    assert!(own.contains("warned") && own.len() < 70 * 1024, "{} bytes", own.len());
}
