//! The outer sandbox: a place where a chapter may do its worst.
//!
//! Each test gets its own directory (under `target/tincan-test/work`) with a
//! fresh copy of the rootfs, and runs the chapter binary inside an *outer* mount,
//! UTS and IPC namespace made with `unshare(1)` (and a network namespace of its
//! own from chapter 6 on):
//!
//! ```text
//! host ── unshare --mount --uts --ipc [--net] ── sandbox "host" (hostname tincan-host) ── chNN run ROOTFS ...
//! ```
//!
//! To the chapter, the sandbox is the host. An attack that "succeeds" (a leaked
//! mount, a changed hostname, IPC objects left behind) changes only the sandbox,
//! and the kernel tears the sandbox down when its last process exits, even if
//! the test is killed. The real host's mount table and hostname never see it.
//!
//! Whatever tincan keeps between runs is the test's own as well: its state
//! directory, its cgroup parent, its bridge and subnet (`Sandbox::env`). So a
//! test never touches the default bridge `tincan0`, its subnet or `/run/tincan`,
//! and a learner's running containers survive `cargo xtask test`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use super::{chapter_bin, copy_template_rootfs};

/// The hostname inside every sandbox, so that snapshots do not depend on the machine.
pub const SANDBOX_HOSTNAME: &str = "tincan-host";

/// The bridge and subnet of containers run inside a sandbox's own network
/// namespace (the same in every sandbox: they cannot meet).
const SANDBOX_BRIDGE: &str = "tincan-test";
const SANDBOX_SUBNET: &str = "10.123.0.0/24";

/// A work directory with a rootfs, and shell lines to run around the container.
pub struct Sandbox {
    dir: TempDir,
    /// A number no other sandbox of this test process has.
    pub(super) n: u32,
    own_network: bool,
    before: Vec<String>,
    after: Vec<String>,
    stdin: Vec<u8>,
    options: Vec<String>,
    /// A chapter ran on the real host (`command_on_host`): what a runtime
    /// killed there left is swept up when the sandbox goes.
    pub(super) ran_on_host: std::sync::atomic::AtomicBool,
}

/// What a sandboxed run produced.
pub struct Run {
    /// The chapter binary's exit code.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// What the `after` lines printed, run in the sandbox once the chapter exited.
    pub after: String,
    /// The largest resident memory any process of the run had, in KiB, as
    /// the kernel reports it to the waiting parent (`getrusage(2)` of the
    /// probe's `peak-rss`, which ran the chapter): an observer outside the
    /// container. Measured in the outer sandbox only; 0 for a run on the host.
    pub peak_rss_kib: u64,
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
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = super::work_dir("sandbox");
        copy_template_rootfs(&dir.path().join("rootfs"));
        Sandbox {
            dir,
            n: COUNTER.fetch_add(1, Ordering::Relaxed),
            own_network: false,
            before: Vec::new(),
            after: Vec::new(),
            stdin: Vec::new(),
            options: Vec::new(),
            ran_on_host: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The cgroup (in every hierarchy) below which this sandbox's containers get
    /// theirs: cgroups are not namespaced by the sandbox, so each test has its own
    /// parent, and can check that nothing is left below it.
    pub fn cgroup_parent(&self) -> String {
        let name = self.dir.path().file_name().expect("a name").to_string_lossy();
        format!("tincan-test/{name}")
    }

    /// What tincan shares between runs, for this sandbox's runs: its state
    /// directory, cgroup parent, bridge and subnet.
    pub fn env(&self, on_host: bool) -> Vec<(&'static str, String)> {
        let (bridge, subnet) = if on_host {
            // On the real host: a bridge and subnet of this sandbox alone.
            let pid = std::process::id();
            (
                format!("tt{}-{}", pid % 100_000, self.n % 1000),
                format!("10.{}.{}.0/24", 124 + pid % 100, self.n % 256),
            )
        } else {
            (SANDBOX_BRIDGE.to_owned(), SANDBOX_SUBNET.to_owned())
        };
        vec![
            ("TINCAN_STATE_DIR", self.state_dir().display().to_string()),
            ("TINCAN_ROOT", self.store_dir().display().to_string()),
            ("TINCAN_CGROUP_PARENT", self.cgroup_parent()),
            ("TINCAN_BRIDGE", bridge),
            ("TINCAN_SUBNET", subnet),
        ]
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir().join("state")
    }

    /// Chapter 8's image store, and its containers' directories.
    pub fn store_dir(&self) -> PathBuf {
        self.dir().join("store")
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

    /// The shell words `chNN run OPTIONS ROOTFS`, for scripts.
    pub fn command_line(&self, chapter: &str) -> String {
        let mut words = vec![chapter_bin(chapter).display().to_string(), "run".into()];
        words.extend(self.options.iter().cloned());
        words.push(self.rootfs().display().to_string());
        words.join(" ")
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

    /// Run `ch08 run IMAGE ARGS...` in the sandbox: an image from the sandbox's
    /// store (pull it first with [`Sandbox::ch08`], on the host, where the test
    /// registries listen).
    pub fn run_image(&self, image: &str, args: &[&str]) -> Run {
        let mut command = vec![chapter_bin("ch08").display().to_string(), "run".into()];
        command.extend(self.options.iter().cloned());
        command.push(image.to_owned());
        command.extend(args.iter().map(|a| a.to_string()));
        self.run_in_sandbox(&command, true)
    }

    /// Run `ch08 ARGS...` (pull, images, rmi…) on the host, with this sandbox's
    /// store: the test registries listen on the host's 127.0.0.1, which the
    /// sandbox's own network cannot reach.
    pub fn ch08(&self, args: &[&str]) -> std::process::Output {
        Command::new(chapter_bin("ch08"))
            .args(args)
            .envs(self.env(true))
            .stdin(Stdio::null())
            .output()
            .expect("run ch08")
    }

    /// Run a shell script in the sandbox (for tests that start several containers).
    pub fn script(&self, script: &str) -> Run {
        self.run_in_sandbox(&["sh".into(), "-c".into(), script.into()], self.own_network)
    }

    pub(super) fn run_in_sandbox(&self, command: &[String], own_network: bool) -> Run {
        let exports: Vec<String> =
            self.env(false).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let script = format!(
            "set -eu\nexport {exports}\nhostname {SANDBOX_HOSTNAME}\n{lo_up}{before}\nset +e\n{probe} peak-rss {peak} \"$@\"\ncode=$?\n{{\n{after}\n}} > {out}\nexit $code\n",
            probe = crate::support::template_rootfs().join(crate::support::PROBE).display(),
            peak = self.dir().join("peak-rss").display(),
            exports = exports.join(" "),
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
        let _ = std::fs::remove_file(self.dir().join("peak-rss"));
        let mut run = self.spawn(unshare);
        run.after = std::fs::read_to_string(self.dir().join("after")).unwrap_or_default();
        // The command's tree, as the probe measured it (see `peak-rss`), not
        // wait4's figure for the sandbox, which starts at this test's size.
        let peak = std::fs::read_to_string(self.dir().join("peak-rss"));
        run.peak_rss_kib = peak.ok().and_then(|p| p.trim().parse().ok()).unwrap_or(0);
        run
    }

    /// Run `cmd` with this sandbox's stdin; collect its output and exit code.
    pub(super) fn spawn(&self, mut cmd: Command) -> Run {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .process_group(0) // its own group, for the watchdog below
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn (unshare comes with util-linux)");
        let mut stdin = child.stdin.take().expect("piped");
        std::io::Write::write_all(&mut stdin, &self.stdin).expect("write stdin");
        drop(stdin);
        let read_all = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
        let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
        // A run that hangs must fail its test, not the whole suite: after
        // RUN_TIMEOUT, everything in its process group is killed.
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
        let watchdog = std::thread::spawn(move || {
            let timed_out = watched.recv_timeout(RUN_TIMEOUT).is_err();
            if timed_out {
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            }
            timed_out
        });
        let code = child.wait().expect("wait for the run").code().unwrap_or(-1);
        let _ = done.send(());
        let timed_out = watchdog.join().expect("the watchdog");
        let mut stderr = stderr.join().expect("stderr");
        if timed_out {
            stderr.push_str(&format!("[the test killed this run after {RUN_TIMEOUT:?}]\n"));
        }
        Run {
            code,
            stdout: stdout.join().expect("stdout"),
            stderr,
            after: String::new(),
            peak_rss_kib: 0,
        }
    }
}

/// The longest a sandboxed run may take (a run that hangs is a bug to see).
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Before the directory is deleted: detach anything still mounted below it. Only a
/// chapter run on the host that died before cleaning up can leave one (chapter 2's
/// `/proc`); deleting across a mount point would reach into the mounted file system.
impl Drop for Sandbox {
    fn drop(&mut self) {
        // A test that failed may have killed its runtime (`Terminal`'s drop
        // does): its cgroups, bridge and rules are on the host, recorded in
        // this sandbox's state, which is about to go. The last chapter's
        // `cleanup` takes down what dead runtimes left. (Only on the host: a
        // run in an outer sandbox left its bridge and settings there.)
        let states = std::fs::read_dir(self.state_dir().join("containers"));
        if self.ran_on_host.load(std::sync::atomic::Ordering::Relaxed)
            && states.is_ok_and(|mut s| s.next().is_some())
        {
            let mut cleanup = self.command_on_host("ch10");
            let _ = cleanup.arg("cleanup").stdin(Stdio::null()).output();
        }
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
        let flags = nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW;
        let _ = nix::mount::umount2(mount_point, flags);
    }
}
