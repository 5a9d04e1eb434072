//! The face's commands on a running container, by its name: `exec`, `kill`,
//! `inspect`, `pause`; and what `run` asks of it: volumes, limits, the
//! user, capabilities. Each is checked from outside the container where it
//! can be: the host's view of its process and cgroups.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::support::face::{Face, IMAGE, assert_left_nothing, ok};
use crate::support::root_or_skip;

/// Detaches what a test mounted under its directory, also when it fails.
struct UnmountUnder<'a>(&'a Path);

impl Drop for UnmountUnder<'_> {
    fn drop(&mut self) {
        crate::support::unmount_under(self.0);
    }
}

fn inspect(face: &Face, name: &str) -> serde_json::Value {
    let text = ok(&face.tincan(&["inspect", name]));
    let all: serde_json::Value = serde_json::from_str(&text).expect("inspect prints JSON");
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{text}");
    all[0].clone()
}

#[test]
fn exec_kill_inspect_and_pause_take_a_containers_name() {
    if !root_or_skip("face_commands::exec_kill_inspect_and_pause_take_a_containers_name") {
        return;
    }
    let face = Face::new();
    let id = ok(&face.tincan(&["run", "-d", "--name", "web", IMAGE, "sleep", "60"]));
    let id = id.trim();
    face.wait_for_status("web", "Up");
    // exec joins its namespaces: its hostname is the container's (the short id).
    assert_eq!(ok(&face.tincan(&["exec", "web", "hostname"])), format!("{}\n", &id[..12]));
    let status = face.tincan(&["exec", "web", "sh", "-c", "exit 3"]).status;
    assert_eq!(status.code(), Some(3), "exec exits with the command's status");

    let seen = inspect(&face, "web");
    assert_eq!(seen["Id"], id);
    assert_eq!(seen["Name"], "web");
    assert_eq!(seen["State"]["Status"], "running");
    let pid = seen["State"]["Pid"].as_u64().expect("a running container's PID");
    // The PID is the host's number of the container's `sleep`.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm, "sleep\n");

    ok(&face.tincan(&["pause", "web"]));
    // Frozen, as the kernel's freezer says of its cgroup.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let freezer = cgroups
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, path)| path.trim_start_matches('/')))
        .expect("a freezer cgroup (v1)");
    let state = std::fs::read_to_string(v1_mount("freezer").join(freezer).join("freezer.state"));
    assert_eq!(state.unwrap().trim(), "FROZEN");
    face.wait_for_status("web", "(Paused)");
    ok(&face.tincan(&["unpause", "web"]));
    face.wait_for_status("web", "Up");

    // Docker's default for `kill` is SIGKILL, which even PID 1 cannot ignore.
    ok(&face.tincan(&["kill", "web"]));
    face.wait_for_status("web", "Exited (137)");
    let seen = inspect(&face, "web");
    assert_eq!(seen["State"]["Status"], "exited");
    assert_eq!(seen["State"]["ExitCode"], 137);
    assert_eq!(seen["State"]["Running"], false);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "its process is gone");

    // Not a container: inspect looks for an image, and says neither is there.
    let neither = face.tincan(&["inspect", "nothing-by-this-name"]);
    assert!(!neither.status.success());
    assert!(String::from_utf8_lossy(&neither.stderr).contains("nothing-by-this-name"));
    ok(&face.tincan(&["rm", "web"]));
    assert_left_nothing(&face);
}

#[test]
fn exec_it_gives_the_process_a_terminal_of_its_own() {
    if !root_or_skip("face_commands::exec_it_gives_the_process_a_terminal_of_its_own") {
        return;
    }
    let face = Face::new();
    ok(&face.tincan(&["run", "-d", "--name", "shell", IMAGE, "sleep", "60"]));
    let exec = face.command(&["exec", "-it", "shell", "sh"]);
    let mut terminal = crate::support::Terminal::start_command(exec);
    terminal.type_keys("tty; echo \"T:$((6*7))\"; exit 4\n");
    terminal.expect("T:42");
    let (code, screen) = terminal.wait();
    assert_eq!(code, 4, "{screen}");
    // The container's own devpts, not the host's terminal.
    assert!(screen.contains("/dev/pts/0"), "{screen}");
    // Without a terminal, -t is a clear error.
    let refused = face.tincan(&["exec", "-t", "shell", "true"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("this is not one"), "{refused:?}");
    ok(&face.tincan(&["rm", "-f", "shell"]));
    assert_left_nothing(&face);
}

#[test]
fn a_volume_outlives_its_containers_and_a_host_directory_can_be_read_only() {
    if !root_or_skip(
        "face_commands::a_volume_outlives_its_containers_and_a_host_directory_can_be_read_only",
    ) {
        return;
    }
    let face = Face::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("given"), "from the host\n").unwrap();
    // A mount below the bound directory: `:ro` makes it read-only too.
    let below = host.path().join("below");
    std::fs::create_dir(&below).unwrap();
    let _unmount = UnmountUnder(host.path());
    let tmpfs = Some("tmpfs");
    nix::mount::mount(tmpfs, &below, tmpfs, nix::mount::MsFlags::empty(), None::<&str>).unwrap();
    let bind = format!("{}:/host:ro", host.path().display());
    let script = "cat /host/given; echo kept > /data/file; \
        touch /host/new 2>/dev/null || echo read-only; \
        touch /host/below/new 2>/dev/null || echo below too";
    let wrote = ok(&face.tincan(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "-v",
        "notes:/data",
        IMAGE,
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(wrote, "from the host\nread-only\nbelow too\n");
    assert!(!host.path().join("new").exists() && !below.join("new").exists());
    assert_eq!(ok(&face.tincan(&["volume", "ls", "-q"])), "notes\n");
    // A second container finds what the first left in the volume.
    let read = ok(&face.tincan(&[
        "run",
        "--name",
        "reader",
        "-v",
        "notes:/data",
        IMAGE,
        "cat",
        "/data/file",
    ]));
    assert_eq!(read, "kept\n");
    let binds = inspect(&face, "reader")["HostConfig"]["Binds"].clone();
    assert_eq!(binds, serde_json::json!(["notes:/data"]));
    // In use by a container (even an ended one): not removed.
    let refused = face.tincan(&["volume", "rm", "notes"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by reader"), "{refused:?}");
    ok(&face.tincan(&["rm", "reader"]));
    assert_eq!(ok(&face.tincan(&["volume", "rm", "notes"])), "notes\n");
    assert_eq!(ok(&face.tincan(&["volume", "ls", "-q"])), "");
    // A host path that is not there is an error, never a new directory.
    let missing = face.tincan(&["run", "--rm", "-v", "/no/such/dir:/x", IMAGE, "true"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("create it first"), "{missing:?}");
    assert!(!Path::new("/no/such/dir").exists());
    assert_left_nothing(&face);
}

#[test]
fn limits_user_and_capabilities_are_what_the_host_sees() {
    if !root_or_skip("face_commands::limits_user_and_capabilities_are_what_the_host_sees") {
        return;
    }
    let face = Face::new();
    let asked = [
        "run",
        "-d",
        "--name",
        "small",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "12",
        "--user",
        "1000:1000",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_RAW",
        IMAGE,
        "sleep",
        "60",
    ];
    ok(&face.tincan(&asked));
    face.wait_for_status("small", "Up");
    let pid = inspect(&face, "small")["State"]["Pid"].as_u64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    assert_eq!(field("Uid:"), "1000");
    assert_eq!(field("Gid:"), "1000");
    // CAP_NET_RAW is bit 13, and nothing else is left.
    assert_eq!(field("CapBnd:"), format!("{:016x}", 1u64 << 13));
    // Its cgroups, as /proc/PID/cgroup names them on the host.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let read = |controller: &str, file: &str| {
        let line = cgroups
            .lines()
            .find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == controller)))
            .unwrap_or_else(|| panic!("no {controller} cgroup in {cgroups}"));
        let path = line.splitn(3, ':').nth(2).unwrap();
        let mount = v1_mount(controller);
        std::fs::read_to_string(mount.join(path.trim_start_matches('/')).join(file)).unwrap()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), (64u64 << 20).to_string());
    assert_eq!(read("pids", "pids.max").trim(), "12");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    let host_config = inspect(&face, "small")["HostConfig"].clone();
    assert_eq!(host_config["Memory"], 64u64 << 20);
    assert_eq!(host_config["NanoCpus"], 500_000_000);
    // A size that is not one is a clear error before anything is made.
    let bad = face.tincan(&["run", "-m", "lots", IMAGE, "true"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a size"), "{bad:?}");
    ok(&face.tincan(&["rm", "-f", "small"]));
    // Docker's -1: no limit at all (its own cgroup, seen through its cgroup namespace).
    let unlimited =
        ["run", "--rm", "--pids-limit", "-1", IMAGE, "cat", "/sys/fs/cgroup/pids/pids.max"];
    assert_eq!(ok(&face.tincan(&unlimited)), "max\n");
    assert_left_nothing(&face);
}

/// Where the cgroup v1 hierarchy with `controller` is mounted (this host's
/// controllers are on v1; see machine-facts).
fn v1_mount(controller: &str) -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mounts
        .lines()
        .find_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut after = after.split_whitespace();
            let (kind, options) = (after.next()?, after.nth(1)?);
            let has = options.split(',').any(|o| o == controller);
            (kind == "cgroup" && has).then(|| before.split_whitespace().nth(4).unwrap().into())
        })
        .unwrap_or_else(|| panic!("no cgroup v1 hierarchy has {controller}"))
}

#[test]
fn run_it_attaches_a_terminal_and_run_i_stdin_with_no_supervisor() {
    if !root_or_skip("face_commands::run_it_attaches_a_terminal_and_run_i_stdin_with_no_supervisor")
    {
        return;
    }
    let face = Face::new();
    let run = face.command(&["run", "-it", "--rm", IMAGE, "sh"]);
    let mut terminal = crate::support::Terminal::start_command(run);
    terminal.type_keys("tty; echo \"T:$((6*7))\"; exit 3\n");
    terminal.expect("T:42");
    let (code, screen) = terminal.wait();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("/dev/pts/0"), "its own terminal:\n{screen}");
    assert_eq!(ok(&face.tincan(&["ps", "-aq"])), "", "--rm removed it");

    // -i: our stdin is its stdin; how it ended is recorded as a supervisor would.
    let mut cat = face.command(&["run", "-i", "--name", "cat", IMAGE, "sh", "-c", "cat; exit 7"]);
    let mut cat = cat.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    cat.stdin.take().unwrap().write_all(b"typed\n").unwrap();
    let out = cat.wait_with_output().unwrap();
    assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(7), &b"typed\n"[..]));
    face.wait_for_status("cat", "Exited (7)");
    assert_eq!(inspect(&face, "cat")["State"]["ExitCode"], 7);
    ok(&face.tincan(&["rm", "cat"]));
    assert_left_nothing(&face);
}

/// `run -dit`: the supervisor holds the terminal's master (and, with `-i`
/// alone, a pipe for stdin), so a shell waits for input instead of ending,
/// and what it prints is logged from the terminal.
#[test]
fn detached_with_it_a_shell_waits_on_a_terminal_the_supervisor_holds() {
    if !root_or_skip(
        "face_commands::detached_with_it_a_shell_waits_on_a_terminal_the_supervisor_holds",
    ) {
        return;
    }
    // Deep: the terminal's socket has a path longer than a socket address holds.
    let face = Face::deep();
    ok(&face.tincan(&["run", "-dit", "--network", "none", "--name", "box", IMAGE, "sh"]));
    ok(&face.tincan(&["run", "-di", "--network", "none", "--name", "cat", IMAGE, "cat"]));
    // With /dev/null for stdin, both would have ended by now.
    std::thread::sleep(std::time::Duration::from_millis(500));
    face.wait_for_status("box", "Up");
    face.wait_for_status("cat", "Up");
    let tty = ok(&face.tincan(&["exec", "box", "sh", "-c", "tty </proc/1/fd/0"]));
    assert_eq!(tty, "/dev/pts/0\n");
    ok(&face.tincan(&["exec", "box", "sh", "-c", "echo through-the-terminal >/proc/1/fd/1"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !ok(&face.tincan(&["logs", "box"])).contains("through-the-terminal\r\n") {
        assert!(std::time::Instant::now() < deadline, "not in the log");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stdin = ok(&face.tincan(&["exec", "cat", "readlink", "/proc/1/fd/0"]));
    assert!(stdin.starts_with("pipe:"), "{stdin}");
    ok(&face.tincan(&["rm", "-f", "box", "cat"]));
    assert_left_nothing(&face);
}

/// Ctrl-C at a foreground `run` is the container's, as with `docker run`:
/// `run` passes the signal on and follows the output to the end, and `--rm`
/// still removes the container.
#[test]
fn a_signal_to_a_foreground_run_is_passed_on_to_the_container() {
    if !root_or_skip("face_commands::a_signal_to_a_foreground_run_is_passed_on_to_the_container") {
        return;
    }
    let face = Face::new();
    let script = "trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.05; done";
    let mut run = face.command(&["run", "--rm", IMAGE, "sh", "-c", script]);
    let mut run = run.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufReader::new(run.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    let pid = nix::unistd::Pid::from_raw(run.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = run.wait().unwrap();
    assert_eq!((status.code(), rest.as_str()), (Some(3), "got INT\n"), "{status:?}");
    assert_eq!(ok(&face.tincan(&["ps", "-aq"])), "", "--rm removed it");
    assert_left_nothing(&face);
}
