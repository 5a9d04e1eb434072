//! `tincan-supervisor` with the real runtime: `create` under it, `start` by
//! the caller, and the container's output and exit status kept after both
//! have returned — what `tincan run -d` stands on.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tincan_supervisor::exit::Exit;

use crate::support::oci::{Lab, Runtime};
use crate::support::{root_or_skip, supervisor_bin};

#[test]
fn a_created_container_is_left_to_the_supervisor_which_keeps_its_logs_and_exit() {
    let test =
        "supervisor::a_created_container_is_left_to_the_supervisor_which_keeps_its_logs_and_exit";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(Runtime::Tincan);
    let id = lab.id("supervised");
    // `sleep`: time to look at its descriptors.
    let script =
        "echo hello; echo oops >&2; read line; echo \"stdin: ${line:-none}\"; sleep 2; exit 7";
    let bundle = lab.bundle(&id, &["sh", "-c", script], |_| {});
    let dir = tempfile::tempdir().expect("the container's directory");
    let pid_file = dir.path().join(tincan_supervisor::PID_FILE);
    let create = lab.command(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let mut supervisor = std::process::Command::new(supervisor_bin())
        .arg(dir.path())
        .arg(create.get_program())
        .args(create.get_args())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the supervisor");
    let mut said = String::new();
    supervisor.stdout.take().unwrap().read_to_string(&mut said).unwrap();
    let pid = std::fs::read_to_string(&pid_file).expect("the pid file");
    assert_eq!(said, format!("created {}\n", pid.trim()));
    assert_eq!(lab.status(&id), "created");
    // The runtime's `create` is gone: the container's process is the
    // supervisor's child now.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap();
    let ppid = stat.rsplit(") ").next().unwrap().split(' ').nth(1).unwrap();
    assert_eq!(ppid, supervisor.id().to_string(), "its parent: {stat}");
    assert_eq!(lab.run(&["start", &id]).code, 0);
    // Once its command runs (the `sleep` gives us two seconds), it holds its
    // stdio and nothing else: not the supervisor's pipes' other ends, not its
    // signalfd, lock or log.
    let pid = pid.trim();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default().starts_with(b"sh\0") {
        assert!(Instant::now() < deadline, "the command did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("its fds")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while supervisor.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the supervisor did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    let exit = Exit::read(dir.path()).unwrap().expect("the exit record");
    assert_eq!((exit.pid.to_string(), exit.status, exit.signal), (pid.to_owned(), 7, None));
    let log = std::fs::read_to_string(dir.path().join(tincan_supervisor::LOG_FILE)).unwrap();
    let mut lines: Vec<(String, String)> = log
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (v["stream"].as_str().unwrap().into(), v["log"].as_str().unwrap().into())
        })
        .collect();
    lines.sort();
    // stdin is /dev/null: the read ends at once, with nothing.
    let want = [("stderr", "oops\n"), ("stdout", "hello\n"), ("stdout", "stdin: none\n")];
    assert_eq!(lines, want.map(|(s, l)| (s.to_owned(), l.to_owned())));
    assert_eq!(lab.status(&id), "stopped");
    assert_eq!(lab.run(&["delete", &id]).code, 0);
}
