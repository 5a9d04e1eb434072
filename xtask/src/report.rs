//! What `cargo test` reported, test binary by test binary.
//!
//! cargo runs the test binaries one after the other. For each it prints
//! `Running unittests src/lib.rs (target/debug/deps/ch02_pid-HASH)` on stderr;
//! the binary then prints libtest's report on stdout (`running 3 tests`,
//! `test NAME ... ok`, the failures' output) and, on stderr, what its tests write
//! past libtest's capture, such as a skipped test's
//! `SKIPPED NAME: reason` (`tests/it/support/skip.rs`).
//!
//! The two streams stay apart (with one test thread, libtest prints `test NAME
//! ... ` before the test runs, so a line on stderr would land in its middle), and
//! the k-th `Running` section of stderr is paired with the k-th `running N
//! tests` section of stdout: each binary prints one of each.

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// It could not run here, for this reason.
    Skipped(String),
}

/// The outcome of one test.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub verdict: Verdict,
    /// What the test printed when it failed (its panic message).
    pub details: String,
}

/// One test binary's outcomes.
#[derive(Debug)]
pub struct Binary {
    /// The target's name: `ch02_pid` for a crate's unit tests, `it`.
    pub name: String,
    pub outcomes: Vec<Outcome>,
}

/// Run `cargo test ...` and read its report. Its output is shown only if
/// something unexpected happened: it failed, but no test did (a compile error).
pub fn run(cargo_test: Command) -> Result<Vec<Binary>> {
    let output = captured(cargo_test)?;
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    let unexpected = |what: String| format!("{what}; its output:\n{stdout}\n{stderr}");
    let binaries = parse(stdout, stderr).map_err(|e| anyhow::anyhow!(unexpected(e)))?;
    let failures = binaries.iter().flat_map(|b| &b.outcomes).any(|o| o.verdict == Verdict::Failed);
    if !output.status.success() && !failures {
        bail!(unexpected(format!(
            "{:?} failed ({}) before any test did",
            output.command, output.status
        )));
    }
    Ok(binaries)
}

/// How long the tests of one `cargo test` may take here before they are
/// called hung (the slowest, the VM's, take minutes).
const PATIENCE: Duration = Duration::from_secs(30 * 60);

/// What a command printed, and how it ended.
struct Captured {
    command: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with its output captured — never waiting forever. A test that
/// hangs is killed after [`PATIENCE`] with cargo and all it started, and
/// named (libtest prints `NAME has been running for over 60 seconds`). A
/// process the tests started and left behind would keep the output's pipes
/// open after cargo exits: it is killed by its PID and named, not waited for.
fn captured(cmd: Command) -> Result<Captured> {
    captured_within(cmd, PATIENCE, Duration::from_secs(10))
}

/// [`captured`], killing it after `patience`, and waiting `grace` for its
/// output to end once it has.
fn captured_within(mut cmd: Command, patience: Duration, grace: Duration) -> Result<Captured> {
    use std::io::Read;
    let command = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("running {command}"))?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        receiver
    };
    let pipe_ids = [
        child.stdout.as_ref().and_then(|p| pipe_id(p.as_raw_fd())),
        child.stderr.as_ref().and_then(|p| pipe_id(p.as_raw_fd())),
    ];
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + patience;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            kill_tree(child.id());
            let _ = child.wait();
            let out = stdout.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            let hung: Vec<&str> = out
                .lines()
                .filter(|l| l.ends_with("has been running for over 60 seconds"))
                .collect();
            bail!(
                "{command} ran for over {} s and was killed; still running: {}",
                patience.as_secs(),
                if hung.is_empty() { "(no test named)".to_owned() } else { hung.join("; ") }
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut out, mut err) = (stdout.recv_timeout(grace), stderr.recv_timeout(grace));
    if out.is_err() || err.is_err() {
        // Ours for certain (they hold our pipe): ended by their PIDs, and
        // named. Where an exercise is missing, a test's clean-up may be what
        // is missing; elsewhere the tests' own leak checks fail.
        let left = holders(&pipe_ids);
        for (pid, _) in &left {
            let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL);
        }
        let named: Vec<String> =
            left.iter().map(|(pid, cmd)| format!("PID {pid}: {cmd}")).collect();
        eprintln!(
            "warning: {command} ended, but processes its tests started still held its output \
             open; killed: {}",
            if named.is_empty() { "none found".to_owned() } else { named.join("; ") }
        );
        let last = Duration::from_secs(5);
        out = out.or_else(|_| stdout.recv_timeout(last));
        err = err.or_else(|_| stderr.recv_timeout(last));
    }
    let (Ok(stdout), Ok(stderr)) = (out, err) else {
        bail!("{command} ended, but its output never did (see the warning above)");
    };
    Ok(Captured { command, status, stdout, stderr })
}

/// Kill `pid` and its descendants (found through
/// `/proc/PID/task/TID/children`), parents first so that none starts more.
/// (cargo stays in our process group: a Ctrl-C at the terminal reaches it.)
fn kill_tree(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    );
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    let children: Vec<u32> = tasks
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|c| c.parse().ok()).collect::<Vec<_>>())
        .collect();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    for child in children {
        kill_tree(child);
    }
}

/// The inode of the pipe `fd` is, as `/proc/PID/fd/N` links name it
/// (`pipe:[1234]`).
fn pipe_id(fd: std::os::fd::RawFd) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok().map(|p| p.display().to_string())
}

/// The processes (PID and command line) holding any of `pipes`, ours aside.
fn holders(pipes: &[Option<String>]) -> Vec<(nix::unistd::Pid, String)> {
    let ours = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == ours {
            continue;
        }
        let fds = std::fs::read_dir(entry.path().join("fd")).into_iter().flatten().flatten();
        let holds = fds
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| pipes.iter().flatten().any(|pipe| link.display().to_string() == *pipe));
        if let (true, Ok(number)) = (holds, pid.parse()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((nix::unistd::Pid::from_raw(number), cmdline.trim().to_owned()));
        }
    }
    found
}

/// Pair the sections of cargo's stderr and stdout, and read each.
fn parse(stdout: &str, stderr: &str) -> Result<Vec<Binary>, String> {
    let running = sections(stderr, |l| l.trim_start().starts_with("Running "));
    let reports = sections(stdout, |l| {
        l.strip_prefix("running ").is_some_and(|n| n.ends_with(" test") || n.ends_with(" tests"))
    });
    if running.len() != reports.len() {
        return Err(format!(
            "cargo ran {} test binaries but {} reported",
            running.len(),
            reports.len()
        ));
    }
    let mut binaries = Vec::new();
    for (errors, report) in running.iter().zip(&reports) {
        let name =
            binary_name(errors[0]).ok_or_else(|| format!("unexpected line {:?}", errors[0]))?;
        if !report.iter().any(|l| l.starts_with("test result: ")) {
            return Err(format!("the test binary {name} stopped before its summary"));
        }
        let mut outcomes = outcomes(report);
        for (skipped, why) in
            errors.iter().filter_map(|l| l.strip_prefix("SKIPPED ")?.split_once(": "))
        {
            for o in
                outcomes.iter_mut().filter(|o| o.name == skipped && o.verdict == Verdict::Passed)
            {
                o.verdict = Verdict::Skipped(why.to_owned());
            }
        }
        binaries.push(Binary { name, outcomes });
    }
    Ok(binaries)
}

/// The lines of `text` from each line that `starts` a section to the next.
fn sections(text: &str, starts: impl Fn(&str) -> bool) -> Vec<Vec<&str>> {
    let mut all: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if starts(line) {
            all.push(Vec::new());
        }
        if let Some(current) = all.last_mut() {
            current.push(line);
        }
    }
    all
}

/// `     Running tests/it/main.rs (target/debug/deps/it-0123abcd)` → `it`.
fn binary_name(running: &str) -> Option<String> {
    let path = running.rsplit_once('(')?.1.strip_suffix(')')?;
    let file = std::path::Path::new(path).file_name()?.to_str()?;
    Some(file.rsplit_once('-')?.0.to_owned())
}

/// libtest's human report: `test NAME ... ok|FAILED` lines, then the
/// `---- NAME stdout ----` blocks of the failures.
fn outcomes(report: &[&str]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = report
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.rsplit_once(" ... ")?;
            let verdict = match result {
                "ok" => Verdict::Passed,
                "FAILED" => Verdict::Failed,
                _ => return None, // ignored, or a line that only looks like ours
            };
            Some(Outcome { name: name.to_owned(), verdict, details: String::new() })
        })
        .collect();
    let mut current: Option<usize> = None;
    for line in report {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----"))
        {
            current = outcomes.iter().position(|o| o.name == name);
        } else if *line == "failures:" || line.starts_with("test result:") {
            current = None;
        } else if let Some(i) = current {
            outcomes[i].details.push_str(line);
            outcomes[i].details.push('\n');
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_left_holding_the_output_is_killed_not_waited_for() {
        let mut cmd = Command::new("sh");
        // The background sleep keeps sh's stdout open after sh exits.
        cmd.args(["-c", "sleep 60 & echo done"]);
        let started = Instant::now();
        let out =
            captured_within(cmd, Duration::from_secs(30), Duration::from_millis(300)).unwrap();
        assert_eq!(out.stdout, "done\n");
        assert!(started.elapsed() < Duration::from_secs(10), "waited for the sleep");
    }

    #[test]
    fn a_run_past_its_patience_is_killed_and_said() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'test slow ... has been running for over 60 seconds'; sleep 60"]);
        let failed = captured_within(cmd, Duration::from_millis(500), Duration::from_millis(300));
        let error = failed.err().expect("killed").to_string();
        assert!(error.contains("was killed; still running: test slow"), "{error}");
    }

    const STDERR: &str = "   Compiling ch01-chroot v0.1.0\n    Finished `test` profile\n     \
        Running unittests src/lib.rs (target/debug/deps/ch01_chroot-0123abcd)\n     \
        Running tests/it/main.rs (target/debug/deps/it-4567ef01)\n\
        SKIPPED ch01::escapes: needs root (run `cargo xtask test`, which uses sudo)\n\
        error: test failed, to rerun pass `--test it`\n";
    const STDOUT: &str = "\nrunning 1 test\ntest tests::parses ... ok\n\n\
        test result: ok. 1 passed; 0 failed\n\n\
        \nrunning 3 tests\ntest ch01::escapes ... ok\ntest ch01::b ... FAILED\ntest c ... ignored\n\n\
        failures:\n\n---- ch01::b stdout ----\nthread panicked at x.rs:1:\nboom\n\n\
        failures:\n    ch01::b\n\ntest result: FAILED. 1 passed; 1 failed\n";

    #[test]
    fn each_binary_gets_its_outcomes_and_skips() {
        let binaries = parse(STDOUT, STDERR).unwrap();
        let names: Vec<&str> = binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["ch01_chroot", "it"]);
        assert_eq!(binaries[0].outcomes[0].name, "tests::parses");
        let it: Vec<(&str, &Verdict)> =
            binaries[1].outcomes.iter().map(|o| (o.name.as_str(), &o.verdict)).collect();
        let needs_root = "needs root (run `cargo xtask test`, which uses sudo)".to_owned();
        assert_eq!(
            it,
            [("ch01::escapes", &Verdict::Skipped(needs_root)), ("ch01::b", &Verdict::Failed)]
        );
        assert!(binaries[1].outcomes[1].details.contains("boom"));
    }

    #[test]
    fn a_binary_without_its_report_is_unexpected() {
        let crashed =
            "\nrunning 1 test\ntest tests::parses ... ok\n\ntest result: ok.\n\nrunning 3 tests\n";
        assert_eq!(
            parse(crashed, STDERR).unwrap_err(),
            "the test binary it stopped before its summary"
        );
        let missing = "\nrunning 1 test\ntest tests::parses ... ok\n\ntest result: ok.\n";
        assert_eq!(parse(missing, STDERR).unwrap_err(), "cargo ran 2 test binaries but 1 reported");
    }

    #[test]
    fn a_failing_cargo_without_failing_tests_shows_its_output() {
        let mut cargo = Command::new("sh");
        cargo.args(["-c", "echo 'error[E0425]: cannot find value' >&2; exit 101"]);
        let err = run(cargo).unwrap_err().to_string();
        assert!(err.contains("before any test did"), "{err}");
        assert!(err.contains("error[E0425]: cannot find value"), "{err}");
    }
}
