//! A containerd of the test's own (Debian's 1.6, started by hand: its root,
//! state and socket in a temporary directory), with an image of the test
//! rootfs imported, to run containers with a runtime of our choosing through
//! its runc shim (`ctr run --runc-binary`). Everything it made goes when
//! dropped: its tasks and containers, the process itself (by its PID), the
//! mounts under its directory, the shim sockets and the cgroups of the
//! containers it ran.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::oci::Said;

/// The packages: containerd (with ctr), and the tools that build the image.
pub const CONTAINERD_TOOLS: [(&str, &str); 4] = [
    ("containerd", "containerd"),
    ("ctr", "containerd"),
    super::test_image::TOOLS[0],
    super::test_image::TOOLS[1],
];

/// The image's name in containerd.
pub const IMAGE: &str = "docker.io/library/tincan-test:latest";

pub struct Containerd {
    dir: tempfile::TempDir,
    process: Child,
    /// The containers this test ran: the cgroups to look for afterwards.
    ids: std::cell::RefCell<Vec<String>>,
    /// Whether /run/containerd was ours to remove (the shim puts its sockets there).
    made_run_dir: bool,
    /// The parent of the containers' cgroups, this test's own.
    cgroup_parent: String,
    /// Held while it runs: its snapshots are mounts in the host's table,
    /// which the tests that compare that table must not see.
    _host: std::sync::MutexGuard<'static, ()>,
}

impl Containerd {
    /// Start containerd and import the test image.
    pub fn start() -> Containerd {
        let host = super::HOST.lock().unwrap_or_else(|e| e.into_inner());
        let dir =
            tempfile::Builder::new().prefix("tincan-containerd-").tempdir().expect("temp dir");
        let w = dir.path();
        // Only what `ctr run` needs: no CRI, and none of the plugins that
        // would touch the host beyond our directory (`opt` makes
        // /opt/containerd; snapshotters load kernel modules).
        let config = format!(
            r#"version = 2
root = "{0}/root"
state = "{0}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{0}/sock"
[ttrpc]
  address = "{0}/sock.ttrpc"
"#,
            w.display()
        );
        std::fs::write(w.join("config.toml"), config).expect("containerd's config");
        let made_run_dir = !Path::new("/run/containerd").exists();
        let log = std::fs::File::create(w.join("containerd.log")).expect("its log");
        let process = Command::new("containerd")
            .arg("--config")
            .arg(w.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let cgroup_parent = super::marker("tincan-test-containerd");
        let containerd = Containerd {
            dir,
            process,
            ids: Default::default(),
            made_run_dir,
            cgroup_parent,
            _host: host,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !containerd.dir.path().join("sock").exists() {
            assert!(Instant::now() < deadline, "containerd did not start: {}", containerd.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        containerd.import();
        containerd
    }

    /// The test image, imported.
    fn import(&self) {
        let archive = super::test_image::oci_archive(self.dir.path(), IMAGE);
        let imported = self.ctr(&["image", "import", archive.to_str().unwrap()]);
        assert_eq!(imported.code, 0, "ctr image import: {imported:?}");
    }

    /// `ctr ARGS` against this containerd.
    pub fn ctr(&self, args: &[&str]) -> Said {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr");
        Said {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `ctr run [FLAGS] --runc-binary RUNTIME IMAGE ID CMD...`: the runtime's
    /// state and the task's FIFOs in our directory, the container's cgroup
    /// under [`CGROUP_PARENT`] (not ctr's `/default`, which may be a real
    /// containerd's).
    pub fn run(&self, runtime: &Path, flags: &[&str], id: &str, command: &[&str]) -> Said {
        self.ids.borrow_mut().push(id.to_owned());
        let root = self.dir.path().join("runtime-root");
        let fifos = self.dir.path().join("fifo");
        let cgroup = format!("/{}/{id}", self.cgroup_parent);
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        let (runtime, root, fifos) =
            (runtime.to_str().unwrap(), root.to_str().unwrap(), fifos.to_str().unwrap());
        args.extend_from_slice(&[
            "--runc-binary",
            runtime,
            "--runc-root",
            root,
            "--fifo-dir",
            fifos,
        ]);
        args.extend_from_slice(&["--cgroup", &cgroup, IMAGE, id]);
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    /// `ctr task exec --exec-id EXEC ID CMD...`, its FIFOs in our directory.
    pub fn exec(&self, id: &str, exec_id: &str, command: &[&str]) -> Said {
        let fifos = self.dir.path().join("fifo");
        let mut args =
            vec!["task", "exec", "--fifo-dir", fifos.to_str().unwrap(), "--exec-id", exec_id, id];
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The cgroups left under this test's parent, in any hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        super::cgroups_below(&self.cgroup_parent)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            self.ctr(&["task", "kill", "--all", "--signal", "SIGKILL", id]);
        }
        std::thread::sleep(Duration::from_millis(300));
        for id in self.ids.borrow().iter() {
            self.ctr(&["task", "delete", "--force", id]);
            self.ctr(&["container", "delete", id]);
        }
        self.ctr(&["image", "remove", IMAGE]);
        let _ = self.process.kill();
        let _ = self.process.wait();
        // The containers' root file systems, if a shim left one mounted.
        super::unmount_under(self.dir.path());
        // runc leaves the parents it made: ours, removed once empty.
        for dir in self.cgroups_left().into_iter().chain(super::cgroups_named(&self.cgroup_parent))
        {
            let _ = std::fs::remove_dir(dir);
        }
        // The shims' sockets, named for our address, namespace and id (as
        // containerd 1.6 names them); then the directories, if ours and empty.
        let address = self.dir.path().join("sock");
        for id in self.ids.borrow().iter() {
            let name = super::sha256(format!("{}/default/{id}", address.display()).as_bytes());
            let socket = Path::new("/run/containerd/s").join(name.trim_start_matches("sha256:"));
            let _ = std::fs::remove_file(socket);
        }
        if self.made_run_dir {
            for dir in ["/run/containerd/s", "/run/containerd/fifo", "/run/containerd"] {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}
