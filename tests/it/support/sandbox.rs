//! The outer sandbox: a place where a chapter may do its worst.
//!
//! Each test gets its own directory (under `target/tincan-test/work`) with a
//! fresh copy of the rootfs, and runs the chapter binary inside an *outer* mount,
//! UTS and IPC namespace made with `unshare(1)`:
//!
//! ```text
//! host ── unshare --mount --uts --ipc ── sandbox "host" (hostname tincan-host) ── chNN run ROOTFS ...
//! ```
//!
//! To the chapter, the sandbox is the host. An attack that "succeeds" (a leaked
//! mount, a changed hostname, IPC objects left behind) changes only the sandbox, and the kernel tears the
//! sandbox down when its last process exits, even if the test is killed. The real
//! host's mount table and hostname never see it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{chapter_bin, template_rootfs};

/// The hostname inside every sandbox, so that snapshots do not depend on the machine.
pub const SANDBOX_HOSTNAME: &str = "tincan-host";

/// A work directory with a rootfs, and shell lines to run around the container.
pub struct Sandbox {
    dir: TempDir,
    own_network: bool,
    before: Vec<String>,
    after: Vec<String>,
    stdin: Vec<u8>,
    options: Vec<String>,
}

/// What a sandboxed run produced.
pub struct Run {
    /// The chapter binary's exit code.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// What the `after` lines printed, run in the sandbox once the chapter exited.
    pub after: String,
}

/// Shown when an assertion about a run fails: the exit code and the output as
/// text, so that a learner reads the container's own error message.
impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the chapter exited with {}", self.code)?;
        for (name, text) in
            [("stdout", &self.stdout), ("stderr", &self.stderr), ("after", &self.after)]
        {
            if !text.is_empty() {
                writeln!(f, "--- its {name}:\n{}", text.trim_end())?;
            }
        }
        Ok(())
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tincan-test/work");
        std::fs::create_dir_all(&base).expect("create the work directory");
        let dir = tempfile::Builder::new().prefix("sandbox-").tempdir_in(base).expect("tempdir");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template_rootfs())
            .arg(dir.path().join("rootfs"))
            .status()
            .expect("run cp");
        assert!(status.success(), "copying the template rootfs failed");
        Sandbox {
            dir,
            own_network: false,
            before: Vec::new(),
            after: Vec::new(),
            stdin: Vec::new(),
            options: Vec::new(),
        }
    }

    /// The cgroup (in every hierarchy) below which this sandbox's containers get
    /// theirs: cgroups are not namespaced by the sandbox, so each test has its own
    /// parent, and can check that nothing is left below it.
    pub fn cgroup_parent(&self) -> String {
        let name = self.dir.path().file_name().expect("a name").to_string_lossy();
        format!("tincan-test/{name}")
    }

    /// Options for `chNN run`, given before ROOTFS (`--memory 64m`).
    pub fn options(mut self, options: &[&str]) -> Self {
        self.options.extend(options.iter().map(|o| o.to_string()));
        self
    }

    /// The test's own directory, outside the rootfs: the sandbox's "host" files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Give the sandbox a network namespace of its own (with `lo` up), for tests
    /// that build bridges, veth pairs and addresses: they vanish with it. From
    /// chapter 6 on, whose containers are bridged by default, every run gets one.
    pub fn own_network(mut self) -> Self {
        self.own_network = true;
        self
    }

    /// A shell line to run in the sandbox before the chapter starts.
    pub fn before(mut self, line: impl Into<String>) -> Self {
        self.before.push(line.into());
        self
    }

    /// A shell line to run in the sandbox after the chapter exits; its output is
    /// [`Run::after`].
    pub fn after(mut self, line: impl Into<String>) -> Self {
        self.after.push(line.into());
        self
    }

    /// Bytes for the container's standard input (default: none).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Run `chNN run ROOTFS ARGS...` in the sandbox.
    pub fn run(&self, chapter: &str, args: &[&str]) -> Run {
        let mut command = vec![chapter_bin(chapter).display().to_string(), "run".into()];
        command.extend(self.options.iter().cloned());
        command.push(self.rootfs().display().to_string());
        command.extend(args.iter().map(|a| a.to_string()));
        // Chapter 6 on: bridged by default, so the bridge must live in the sandbox.
        self.run_in_sandbox(&command, self.own_network || chapter >= "ch06")
    }

    /// Run a shell script in the sandbox (for tests that start several containers).
    pub fn script(&self, script: &str) -> Run {
        self.run_in_sandbox(&["sh".into(), "-c".into(), script.into()], self.own_network)
    }

    fn run_in_sandbox(&self, command: &[String], own_network: bool) -> Run {
        let script = format!(
            "set -eu\nexport TINCAN_STATE_DIR={state} TINCAN_CGROUP_PARENT={cgroups}\nhostname {SANDBOX_HOSTNAME}\n{lo_up}{before}\nset +e\n\"$@\"\ncode=$?\n{{\n{after}\n}} > {out}\nexit $code\n",
            state = self.dir().join("state").display(),
            cgroups = self.cgroup_parent(),
            lo_up = if own_network { "ip link set lo up\n" } else { "" },
            before = self.before.join("\n"),
            after = if self.after.is_empty() { ":".to_owned() } else { self.after.join("\n") },
            out = self.dir().join("after").display(),
        );
        let mut unshare = Command::new("unshare");
        unshare.args(["--mount", "--uts", "--ipc", "--propagation", "private"]);
        if own_network {
            unshare.arg("--net");
        }
        unshare.args(["--", "sh", "-c", &script, "sh"]).args(command);
        let mut run = self.spawn(unshare);
        run.after = std::fs::read_to_string(self.dir().join("after")).unwrap_or_default();
        run
    }

    /// Run `chNN run ROOTFS ARGS...` directly on the host, with no outer sandbox.
    /// Only for the tests that check the host is left exactly as it was.
    pub fn run_on_host(&self, chapter: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(chapter_bin(chapter));
        cmd.env("TINCAN_STATE_DIR", self.dir().join("state"))
            .env("TINCAN_CGROUP_PARENT", self.cgroup_parent())
            .arg("run")
            .arg(self.rootfs())
            .args(args);
        self.spawn(cmd)
    }

    /// Start `chNN run ROOTFS` on the host with a shell that waits for one line
    /// of input, and return once the shell is running.
    pub fn start_on_host(&self, chapter: &str) -> Running {
        use std::io::{BufRead, BufReader};
        let mut runtime = Command::new(chapter_bin(chapter))
            .env("TINCAN_STATE_DIR", self.dir().join("state"))
            .env("TINCAN_CGROUP_PARENT", self.cgroup_parent())
            .arg("run")
            .arg(self.rootfs())
            .args(["sh", "-c", "echo ready; read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the chapter");
        let mut ready = String::new();
        BufReader::new(runtime.stdout.as_mut().expect("piped"))
            .read_line(&mut ready)
            .expect("read");
        if ready != "ready\n" {
            let output = runtime.wait_with_output().expect("wait");
            panic!(
                "the container did not start: {} exited with {:?}:\n{}",
                chapter,
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Running { runtime }
    }

    fn spawn(&self, mut cmd: Command) -> Run {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn (unshare comes with util-linux)");
        let mut stdin = child.stdin.take().expect("piped");
        std::io::Write::write_all(&mut stdin, &self.stdin).expect("write stdin");
        drop(stdin);
        let output = child.wait_with_output().expect("wait for the container");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            after: String::new(),
        }
    }
}

/// A container running on the host (see [`Sandbox::start_on_host`]).
pub struct Running {
    runtime: std::process::Child,
}

impl Running {
    /// The runtime's process (the chapter binary).
    pub fn runtime_pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.runtime.id() as i32)
    }

    /// The container's process, as the host numbers it: the runtime's only child.
    pub fn container_pid(&self) -> nix::unistd::Pid {
        let children = format!("/proc/{pid}/task/{pid}/children", pid = self.runtime.id());
        let pid = std::fs::read_to_string(children).expect("read children");
        nix::unistd::Pid::from_raw(pid.trim().parse().expect("exactly one child"))
    }

    /// Let the shell finish and return the runtime's exit code.
    pub fn finish(mut self) -> i32 {
        if let Some(stdin) = self.runtime.stdin.as_mut() {
            let _ = std::io::Write::write_all(stdin, b"go\n");
        }
        self.wait()
    }

    /// Wait for the runtime to exit (after a signal, say) and return its exit code.
    /// The shell's stdin stays open meanwhile: at end-of-file it would exit by
    /// itself, before the signal arrives.
    pub fn wait(mut self) -> i32 {
        let _stdin = self.runtime.stdin.take();
        let status = self.runtime.wait().expect("wait");
        status.code().unwrap_or_else(|| panic!("the runtime itself was killed: {status:?}"))
    }
}

/// Before the directory is deleted: detach anything still mounted below it. Only a
/// chapter run on the host that died before cleaning up can leave one (chapter 2's
/// `/proc`); deleting across a mount point would reach into the mounted file system.
impl Drop for Sandbox {
    fn drop(&mut self) {
        detach_mounts_below(self.dir.path());
    }
}

/// Lazily unmount every mount point below `dir`, deepest first.
fn detach_mounts_below(dir: &Path) {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut below: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir) && Path::new(m) != dir)
        .collect();
    below.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount_point in below {
        let _ = nix::mount::umount2(mount_point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A process on the host for attacks to find and kill. Its command line carries a
/// random marker; it is killed when dropped.
pub struct Sleeper {
    child: std::process::Child,
    pub marker: String,
}

impl Sleeper {
    pub fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let marker = super::marker("sleeper");
        let child = Command::new("sleep").arg0(&marker).arg("600").spawn().expect("start sleep");
        Sleeper { child, marker }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Has it died (and been reaped) within `patience`? Checked at least once.
    pub fn dies_within(&mut self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service on the host's 127.0.0.1 that tells every client `secret`, for the
/// escape lab to reach. It stops when dropped.
pub struct LoopbackService {
    pub port: u16,
    pub secret: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackService {
    pub fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let secret = super::marker("loopback");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (said, stopped) = (secret.clone(), stop.clone());
        let server = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut client, _)) => {
                        let _ = std::io::Write::write_all(&mut client, said.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        LoopbackService { port, secret, stop, server: Some(server) }
    }
}

impl Drop for LoopbackService {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}
