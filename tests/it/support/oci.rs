//! OCI runtimes side by side: tincan and the references it must answer like,
//! runc and crun (Debian's packages), each with its own `--root` and bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// A runtime under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Runc,
    Crun,
    Tincan,
}

/// The references first: a table reads "what runc does, what crun does, what
/// tincan does".
pub const RUNTIMES: [Runtime; 3] = [Runtime::Runc, Runtime::Crun, Runtime::Tincan];

/// The Debian packages of the references.
pub const REFERENCES: [(&str, &str); 2] = [("runc", "runc"), ("crun", "crun")];

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
            Runtime::Tincan => "tincan",
        }
    }
}

/// One runtime's corner of a test: its state root, its bundles, the ids it
/// made (deleted by force when dropped, whatever the test did).
pub struct Lab {
    pub runtime: Runtime,
    dir: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
    /// Where every container's cgroups go: a parent of the test's own.
    pub cgroup_parent: String,
}

/// A command's result: its exit code and its output.
#[derive(Debug)]
pub struct Said {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What a command wrote into `file`.
fn read_back(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.rewind().expect("rewind");
    file.read_to_string(&mut text).expect("read back");
    text
}

impl Said {
    /// "ok", or "error" (exit 1, something on stderr, nothing on stdout: what
    /// both references do), or what else it was.
    pub fn outcome(&self) -> String {
        match (self.code, self.stdout.is_empty(), self.stderr.is_empty()) {
            (0, true, true) => "ok".into(),
            (0, _, _) => "ok, with output".into(),
            (1, true, false) => "error".into(),
            (code, _, _) => format!("exit {code}"),
        }
    }
}

impl Lab {
    pub fn new(runtime: Runtime) -> Lab {
        // `oci-RUNTIME-`: after an interrupted run, `cargo xtask test` has
        // that runtime delete what is left in it.
        let dir = super::work_dir(&format!("oci-{}", runtime.name()));
        // A parent of its own at the top of each hierarchy: runc makes the
        // parents it needs and leaves them, so the lab removes the whole of it.
        let cgroup_parent = super::marker(&format!("tincan-test-oci-{}", runtime.name()));
        Lab { runtime, dir, ids: Default::default(), cgroup_parent }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A container id of this lab, different for each runtime: runc and crun
    /// would otherwise share a cgroup, and kill each other's containers.
    pub fn id(&self, name: &str) -> String {
        let id = format!("{name}-{}", self.runtime.name());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A bundle with a copy of the test rootfs and a config running `args`,
    /// changed by `edit`. The config is what `runc spec` gives, less what
    /// tincan does not do yet (terminal, capabilities, rlimits, ...), with the
    /// container's cgroup under this lab's parent.
    pub fn bundle(&self, id: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.dir.path().join(format!("bundle-{id}"));
        std::fs::create_dir_all(&bundle).expect("the bundle");
        super::copy_template_rootfs(&bundle.join("rootfs"));
        let mut config = config(args, &format!("/{}/{id}", self.cgroup_parent));
        edit(&mut config);
        std::fs::write(bundle.join("config.json"), config.to_string()).expect("config.json");
        bundle
    }

    /// Run the runtime with `args` (after `--root`).
    pub fn run(&self, args: &[&str]) -> Said {
        self.run_with(args, None)
    }

    /// The same, the container's output (a created container keeps the
    /// runtime's stdout) going to the file `out`.
    pub fn run_to(&self, args: &[&str], out: &Path) -> Said {
        self.run_with(args, Some(out))
    }

    /// The runtime's binary. (From outside, crun needs [`Lab::command`]'s
    /// mount namespace; its own hooks are in that namespace already.)
    pub fn program(&self) -> &'static str {
        match self.runtime {
            Runtime::Tincan => env!("CARGO_BIN_EXE_tincan"),
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        }
    }

    /// The runtime's command with `args` (after `--root`), to run as the
    /// caller will.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.runtime {
            Runtime::Tincan | Runtime::Runc => Command::new(self.program()),
            // crun 1.8 refuses a hybrid host's cgroups ("cgroups in hybrid mode
            // not supported"); without the v2 mount, in a mount namespace of its
            // own, it takes the host for a v1 one.
            Runtime::Crun if Path::new("/sys/fs/cgroup/unified").exists() => {
                let mut c = Command::new("unshare");
                c.args([
                    "-m",
                    "sh",
                    "-c",
                    "umount /sys/fs/cgroup/unified && exec crun \"$@\"",
                    "crun",
                ]);
                c
            }
            Runtime::Crun => Command::new("crun"),
        };
        command.arg("--root").arg(self.root()).args(args);
        command
    }

    fn run_with(&self, args: &[&str], container_out: Option<&Path>) -> Said {
        let mut command = self.command(args);
        // Files, not pipes: a created container keeps the runtime's stdout and
        // stderr (engines hand it theirs), and a pipe would not end before it.
        let out = match container_out {
            Some(path) => std::fs::File::options()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(path)
                .expect("the output file"),
            None => tempfile::tempfile().expect("a file for stdout"),
        };
        let err = tempfile::tempfile().expect("a file for stderr");
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap());
        let status = command.status().expect("run the runtime");
        Said { code: status.code().unwrap_or(-1), stdout: read_back(out), stderr: read_back(err) }
    }

    /// The state's JSON, or `None` if `state` failed.
    pub fn state(&self, id: &str) -> Option<Value> {
        let said = self.run(&["state", id]);
        (said.code == 0).then(|| serde_json::from_str(&said.stdout).expect("state is JSON"))
    }

    /// The status `state` reports, or "error".
    pub fn status(&self, id: &str) -> String {
        match self.state(id) {
            Some(state) => state["status"].as_str().unwrap_or("?").to_owned(),
            None => "error".into(),
        }
    }

    /// Wait (up to 5 s) for the container to reach `status`; the status then.
    pub fn wait_for(&self, id: &str, status: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let now = self.status(id);
            if now == status || std::time::Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Wait (up to 5 s) for the container's process to run `argv` — `start`
    /// returns once the process is let go, a moment before its `execve(2)` —
    /// and say whether it does.
    pub fn wait_for_exec(&self, id: &str, argv: &[&str]) -> bool {
        let pid = self.state(id).and_then(|s| s["pid"].as_i64()).unwrap_or(0);
        let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The container's directory under the state root.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root().join(id)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
        // The parent is the lab's: runc makes it and leaves it (as it may be
        // shared). A container's cgroup left in it keeps it there.
        for dir in super::cgroups_named(&self.cgroup_parent) {
            let _ = std::fs::remove_dir(dir);
        }
        let left = super::cgroups_named(&self.cgroup_parent);
        if !std::thread::panicking() {
            assert_eq!(left, Vec::<PathBuf>::new(), "{} left cgroups", self.runtime.name());
        }
    }
}

/// `runc spec`'s config, less the terminal, the capabilities, rlimits,
/// masked and read-only paths, the devices cgroup and the cgroup mount, which
/// tincan's runtime does not take yet.
pub fn config(args: &[&str], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/"
        },
        "root": {"path": "rootfs"},
        "hostname": "oci",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ]
        }
    })
}

/// The engine's side of `--console-socket`: a listening Unix socket that
/// receives the terminal's master, as conmon and containerd's shim do.
pub struct ConsoleListener {
    listener: std::os::unix::net::UnixListener,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ConsoleListener {
    /// In a short directory of its own under the system's temporary one: a
    /// socket's address holds 107 bytes of path, which a checkout's path
    /// may leave no room for (and runc and crun take no longer one).
    pub fn new() -> ConsoleListener {
        let dir = tempfile::Builder::new().prefix("tincan-tty-").tempdir().expect("a temp dir");
        let path = dir.path().join("sock");
        let listener =
            std::os::unix::net::UnixListener::bind(&path).expect("bind the console socket");
        ConsoleListener { listener, path, _dir: dir }
    }

    /// The descriptor the runtime sent (after `create` returned, it has).
    pub fn receive(&self) -> Option<std::os::fd::OwnedFd> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        use std::os::fd::{AsRawFd, FromRawFd};
        self.listener.set_nonblocking(true).ok()?;
        let (stream, _) = self.listener.accept().ok()?;
        stream.set_nonblocking(false).ok()?;
        let mut buf = [0u8; 256];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let message =
            recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
                .ok()?;
        message.cmsgs().ok()?.find_map(|cmsg| match cmsg {
            // SAFETY: the kernel just installed this descriptor for us.
            ControlMessageOwned::ScmRights(fds) => {
                fds.first().map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(*fd) })
            }
            _ => None,
        })
    }
}

/// Whether `fd` is the master side of a pseudo-terminal (`TIOCGPTN` answers).
pub fn is_pty_master(fd: &std::os::fd::OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0 }
}

/// What the terminal printed until its other side closed (or 5 s passed).
pub fn read_terminal(master: std::os::fd::OwnedFd) -> String {
    use std::io::Read;
    let mut file = std::fs::File::from(master);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut chunk = [0u8; 512];
        // EIO once the last process holding the other side is gone.
        while let Ok(n @ 1..) = file.read(&mut chunk) {
            text.extend_from_slice(&chunk[..n]);
        }
        let _ = sender.send(text);
    });
    let text = receiver.recv_timeout(std::time::Duration::from_secs(5)).unwrap_or_default();
    String::from_utf8_lossy(&text).replace("\r\n", "\n")
}
