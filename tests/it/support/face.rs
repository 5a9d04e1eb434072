//! The docker-style face's test harness: a store of the test's own with the
//! test rootfs imported as an image, and what a test checks was left.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::copy_template_rootfs;

/// A store with the test rootfs imported as `IMAGE`, and an OCI root.
///
/// A face container is on the default bridge unless a test says otherwise:
/// it makes a bridge, veths and nft rules on the host, and turns
/// `ip_forward` on while it runs. So a face test holds [`HOST`] for as long
/// as its `Face` lives, as the tests that compare the host before and after
/// do, and neither sees the other's.
///
/// [`HOST`]: crate::support::HOST
pub struct Face {
    dir: tempfile::TempDir,
    /// Where the store and the OCI root are: `dir`, or deep below it.
    base: PathBuf,
    // Dropped last: after `Drop` has removed what the test left.
    _host: std::sync::MutexGuard<'static, ()>,
}

pub const IMAGE: &str = "face-test";

/// What keeps a face test's objects on the host apart from yours: a default
/// bridge and subnet of the test run's own, its claims (addresses, ports)
/// in `state`, and its cgroups below `tincan-test/` — never the `tincan0`,
/// 10.89.0.0/24 and `tincan/` your containers may be using.
pub fn kept_apart(state: &Path) -> [(&'static str, String); 4] {
    let pid = std::process::id();
    [
        ("TINCAN_BRIDGE", format!("tf{}", pid % 100_000)),
        ("TINCAN_SUBNET", format!("10.91.{}.0/24", pid % 256)),
        ("TINCAN_STATE_DIR", state.display().to_string()),
        ("TINCAN_CGROUP_PARENT", format!("tincan-test/face-{pid}")),
    ]
}

impl Face {
    pub fn new() -> Face {
        Face::below("")
    }

    /// A face whose store lies deeper than a socket's address can name
    /// (107 bytes): its terminals' sockets must still work.
    pub fn deep() -> Face {
        Face::below(&format!("{}/{}", "deep".repeat(20), "er".repeat(20)))
    }

    fn below(depth: &str) -> Face {
        let host = super::HOST.lock().unwrap_or_else(|e| e.into_inner());
        let dir = super::work_dir("face");
        let base = dir.path().join(depth);
        std::fs::create_dir_all(&base).expect("the face's directory");
        let face = Face { dir, base, _host: host };
        let rootfs = face.dir.path().join("rootfs");
        copy_template_rootfs(&rootfs);
        let tar = face.dir.path().join("rootfs.tar");
        let made =
            Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status();
        assert!(made.unwrap().success(), "tar the rootfs");
        ok(&face.tincan(&["import", tar.to_str().unwrap(), IMAGE]));
        face
    }

    pub fn store(&self) -> PathBuf {
        self.base.join("store")
    }

    pub fn oci_root(&self) -> PathBuf {
        self.base.join("run")
    }

    pub fn tincan(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().expect("run tincan")
    }

    /// `tincan ARGS` with this store and OCI root, not started: for a test
    /// that runs it on a terminal, or feeds its stdin, or kills it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tincan"));
        command.envs(kept_apart(&self.base.join("state")));
        command.env("TINCAN_ROOT", self.store()).arg("--root").arg(self.oci_root()).args(args);
        command
    }

    /// Remove every container of this store, whatever state it is in.
    pub fn remove_all(&self) {
        let ids = self.tincan(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.tincan(&["rm", "-f", id]);
        }
    }

    /// Wait until `ps -a` shows `name` with a status starting `status`.
    pub fn wait_for_status(&self, name: &str, status: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listed = ok(&self.tincan(&["ps", "-a"]));
            if listed.lines().any(|l| l.ends_with(name) && l.contains(status)) {
                return listed;
            }
            assert!(Instant::now() < deadline, "no {status} for {name} in:\n{listed}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whatever a failed assertion left running goes: containers, their
/// supervisors and cgroups, before the directory with their overlays does.
impl Drop for Face {
    fn drop(&mut self) {
        self.remove_all();
        // And what a killed process left (a failed test may have killed one).
        let _ = self.tincan(&["system", "prune"]);
    }
}

#[track_caller]
pub fn ok(out: &Output) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "{:?}: {}{}", out.status, text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// What of the container `id` is still on the host: its directory, its OCI
/// state, its cgroups, its name.
pub fn left_of(face: &Face, id: &str, name: &str) -> Vec<PathBuf> {
    let mut left: Vec<PathBuf> = [
        face.store().join("containers").join(id),
        face.store().join("names").join(name),
        face.oci_root().join(id),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        left.extend(find_named(&hierarchy.path(), id, 3));
    }
    left
}

fn find_named(dir: &Path, name: &str, depth: usize) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let dirs = entries.filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
    let mut found = Vec::new();
    for entry in dirs {
        if entry.file_name() == name {
            found.push(entry.path());
        } else if depth > 0 {
            found.extend(find_named(&entry.path(), name, depth - 1));
        }
    }
    found
}

/// The store holds no container, and no name; the OCI root no state (only
/// its cache of compiled seccomp filters, kept on purpose); no process
/// (supervisor, runtime) names the store, and no mount is under it.
#[track_caller]
pub fn assert_left_nothing(face: &Face) {
    for dir in [face.store().join("containers"), face.store().join("names"), face.oci_root()] {
        let left: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !(dir == face.oci_root() && e.file_name() == ".cache"))
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", dir.display());
    }
    let store = face.store().to_string_lossy().into_owned();
    let processes = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&store))
            .collect()
    };
    // A supervisor may still be on its way out, its exit command done.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes();
    assert!(left.is_empty(), "still running: {left:#?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let under: Vec<&str> = mounts.lines().filter(|l| l.contains(&store)).collect();
    assert!(under.is_empty(), "still mounted: {under:#?}");
}

/// The cgroups on the host named for any of `ids` (the core names a
/// container's cgroup by its id), at most three levels down each hierarchy.
pub fn cgroups_of(ids: &std::collections::HashSet<String>) -> Vec<PathBuf> {
    fn walk(
        dir: &Path,
        ids: &std::collections::HashSet<String>,
        depth: usize,
        found: &mut Vec<PathBuf>,
    ) {
        let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for entry in entries.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            if entry.file_name().to_str().is_some_and(|n| ids.contains(n)) {
                found.push(entry.path());
            } else if depth > 0 {
                walk(&entry.path(), ids, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), ids, 4, &mut found);
    found
}

/// The ids of every container this store or OCI root has a trace of.
pub fn traces(face: &Face) -> std::collections::HashSet<String> {
    [face.store().join("containers"), face.oci_root()]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect()
}
