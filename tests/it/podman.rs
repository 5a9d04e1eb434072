//! podman drives tincan: Debian's podman 4.3, through conmon, with
//! `--runtime` naming tincan's binary — and the same steps with runc, the
//! reference on this host (podman with crun refuses hybrid cgroups). Each
//! row is what podman printed or did; tincan's must be runc's. The table is
//! a snapshot the book shows.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::podman::{PODMAN_TOOLS, Podman};
use crate::support::{Terminal, http_get, root_or_skip, tools_or_skip};

/// The rows for one runtime: (step, what happened).
fn steps(podman: &Podman, runtime: &Path, name: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let image = podman.image();
    let mut row = |step: &str, what: String| rows.push((step.to_owned(), what));

    let said = podman.run(runtime, &["--rm", image, "echo", "hi"]);
    row("`podman run --rm IMAGE echo hi`", format!("{} (exit {})", said.stdout.trim(), said.code));

    // Detached, with a handler for podman's stop signal.
    let bg = format!("bg-{name}");
    let script = r#"echo started; trap "echo bye; exit 3" TERM; while :; do sleep 0.1; done"#;
    let said = podman.run(runtime, &["-d", "--name", &bg, image, "sh", "-c", script]);
    let id = said.stdout.trim();
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    row("`podman run -d` prints the container's id", format!("{is_id} (exit {})", said.code));
    row("`podman ps`", ps_status(podman, &bg));
    wait_for_log(podman, &bg, "started");
    row("`podman logs`", logs(podman, &bg));
    let said = podman.podman(&["exec", &bg, "sh", "-c", "echo from exec; exit 4"]);
    row("`podman exec ... exit 4`", format!("{} (exit {})", said.stdout.trim(), said.code));
    let said = podman.podman(&["stop", &bg]);
    row("`podman stop`", format!("exit {}", said.code));
    row("its exit code", inspect(podman, &bg, "{{.State.ExitCode}}"));
    row("`podman logs` after the stop", logs(podman, &bg));
    row("`podman rm`", format!("exit {}", podman.podman(&["rm", &bg]).code));

    // A real terminal: podman's stdio is a pseudo-terminal's slave, as a
    // person's shell would give it.
    let mut cmd = podman.command();
    cmd.arg("run").args(podman.run_options(runtime)).args(["-it", "--rm", image, "sh"]);
    let mut terminal = Terminal::start_command(cmd);
    terminal.type_keys("tty; echo $((6 * 7))\r");
    terminal.expect("42");
    terminal.type_keys("exit 5\r");
    let (code, screen) = terminal.wait();
    let tty = screen.lines().any(|l| l.trim() == "/dev/pts/0");
    row("`podman run -it ... sh`: `tty` is /dev/pts/0", tty.to_string());
    row("its exit status", code.to_string());

    // Podman's own network: it makes the namespace, the runtime joins it.
    let web = format!("web-{name}");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let serve = "mkdir /www && echo hello from the container > /www/index.html && exec httpd -f -p 80 -h /www";
    let said = podman.run(
        runtime,
        &[
            "-d",
            "--name",
            &web,
            "--network",
            podman.network(),
            "-p",
            &publish,
            image,
            "sh",
            "-c",
            serve,
        ],
    );
    assert_eq!(said.code, 0, "podman run -p: {said:?}");
    row("`podman run -d -p 127.0.0.1:PORT:80 ... httpd`: GET /", get(&format!("127.0.0.1:{port}")));
    let said = podman.podman(&["rm", "--force", "--time", "0", &web]);
    row("`podman rm --force`", format!("exit {}", said.code));

    let memory = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    let said = podman.run(runtime, &["--rm", "--memory", "64m", image, "sh", "-c", memory]);
    row(
        "`podman run --memory 64m`: its limit",
        format!("{} (exit {})", said.stdout.trim(), said.code),
    );

    let held = format!("held-{name}");
    let said = podman.run(runtime, &["-d", "--name", &held, image, "sleep", "60"]);
    assert_eq!(said.code, 0, "podman run -d: {said:?}");
    row("`podman pause`", format!("exit {}", podman.podman(&["pause", &held]).code));
    row("its status", inspect(podman, &held, "{{.State.Status}}"));
    row("`podman unpause`", format!("exit {}", podman.podman(&["unpause", &held]).code));
    row("its status", inspect(podman, &held, "{{.State.Status}}"));
    row("`podman kill`", format!("exit {}", podman.podman(&["kill", &held]).code));
    let said = podman.podman(&["wait", &held]);
    row("`podman wait`", said.stdout.trim().to_owned());
    row("its status", inspect(podman, &held, "{{.State.Status}}"));
    row("`podman rm`", format!("exit {}", podman.podman(&["rm", &held]).code));
    row("containers' cgroups left", podman.containers_cgroups_left().len().to_string());
    rows
}

/// The container's status in `podman ps`, without its time ("Up").
fn ps_status(podman: &Podman, name: &str) -> String {
    let ps = podman.podman(&["ps", "--all", "--format", "{{.Names}} {{.Status}}"]);
    let line = ps.stdout.lines().find(|l| l.split_whitespace().next() == Some(name));
    line.and_then(|l| l.split_whitespace().nth(1)).unwrap_or("none").to_owned()
}

fn inspect(podman: &Podman, name: &str, format: &str) -> String {
    podman.podman(&["inspect", "--format", format, name]).stdout.trim().to_owned()
}

/// The container's log, its lines joined by " / ".
fn logs(podman: &Podman, name: &str) -> String {
    let said = podman.podman(&["logs", name]);
    said.stdout.lines().collect::<Vec<_>>().join(" / ")
}

/// Until the container has logged `line` (conmon writes the log as it comes).
fn wait_for_log(podman: &Podman, name: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !podman.podman(&["logs", name]).stdout.lines().any(|l| l == line) {
        assert!(Instant::now() < deadline, "{name} never logged {line:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The body of `GET /index.html` at `host`, once the server answers.
fn get(host: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http_get(host, "/index.html", &[]) {
            Ok((status, _, body)) => {
                return format!("{status} {}", String::from_utf8_lossy(&body).trim());
            }
            Err(e) if Instant::now() > deadline => return format!("no answer: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A port no one listens on now, on the host's loopback.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn podman_runs_tincan_as_it_runs_runc() {
    let test = "podman::podman_runs_tincan_as_it_runs_runc";
    let tools = [PODMAN_TOOLS.as_slice(), &[("runc", "runc")]].concat();
    if !(root_or_skip(test) && tools_or_skip(test, &tools)) {
        return;
    }
    let podman = Podman::start();
    let runc = crate::support::which("runc");
    let tincan = Path::new(env!("CARGO_BIN_EXE_tincan"));
    let reference = steps(&podman, &runc, "runc");
    let ours = steps(&podman, tincan, "tincan");
    let mut md = "| step | runc | tincan |\n|---|---|---|\n".to_owned();
    for ((step, theirs), (_, mine)) in reference.iter().zip(&ours) {
        md.push_str(&format!("| {step} | {theirs} | {mine} |\n"));
    }
    assert_eq!(ours, reference, "tincan answers otherwise:\n{md}");
    insta::assert_snapshot!(md);
}
