//! An unprivileged user, made for a test and removed after it, to run chapter 9
//! as a learner without sudo would; and `/dev/net/tun` made usable for the time
//! of a test.
//!
//! The user is made with `useradd -m` (so with its own ranges in /etc/subuid and
//! /etc/subgid, or, when asked, without any) and removed with `userdel -r` when
//! the [`TestUser`] drops — also when the test fails — after its last process,
//! and its containers' (which run as its subordinate IDs), is killed, by PID.
//! useradd and userdel run one at a time on the whole machine
//! ([`user_database_lock`]), as does every change of `/dev/net/tun`'s mode
//! ([`TunMode`]): other test binaries may run at the same time. It cannot read the test's target directory (it may be
//! below a directory only root may enter), so it gets copies: the binaries, and
//! the rootfs, in a directory of its own.
//!
//! Commands run as the user with `setpriv --reuid --regid --init-groups`, with
//! an environment of its own (as a login gives): HOME, USER, PATH,
//! XDG_RUNTIME_DIR (its state: `$XDG_RUNTIME_DIR/tincan`) and XDG_DATA_HOME (its
//! image store: `$XDG_DATA_HOME/tincan`), and, from the test, only the cgroup
//! parent, so that its cgroups are below the test's own.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use tempfile::TempDir;

use super::{Run, chapter_bin, copy_template_rootfs, marker};

/// A lock shared by every test process on this machine (several test
/// binaries, and other checkouts' tests, may run at once): an exclusive
/// `flock(2)` on a file in /run/lock, held until dropped. Threads of one
/// process exclude each other too: each opens the file anew, and flock locks
/// an open file, not a process.
fn machine_lock(name: &str) -> Flock<File> {
    let path = Path::new("/run/lock").join(name);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Flock::lock(file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("flock {}: {e}", path.display()))
}

/// useradd and userdel lock /etc/passwd, and fail rather than wait when
/// another holds it: tests make and remove their users one at a time, across
/// test processes. Hold it around every useradd, usermod and userdel (also
/// for users made elsewhere, as chapter 9's `--userns` tests make theirs).
pub fn user_database_lock() -> Flock<File> {
    machine_lock("tincan-tests-useradd.lock")
}

/// A user made for one test.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Its first subordinate uid and gid (/etc/subuid, /etc/subgid), if it has ranges.
    pub subordinate: Option<(u32, u32)>,
    /// Its subordinate uids, as `start..end`: its containers' users, outside.
    subuids: std::ops::Range<u32>,
    home: PathBuf,
    /// Binaries, rootfs and runtime directory, readable by the user.
    dir: TempDir,
    cgroup_parent: String,
}

impl TestUser {
    /// Make a user, with subordinate ranges or without.
    pub fn create(subordinate_ids: bool) -> TestUser {
        let name = marker("u").replace("tincan-", "tincantest-");
        // Everything that may fail before the user exists, first: from
        // useradd on, a failure must find a TestUser to drop (and remove it).
        let dir = tempfile::Builder::new().prefix("tincan-rootless-").tempdir().expect("temp dir");
        let mut useradd = Command::new("useradd");
        useradd.args(["--create-home", "--shell", "/bin/sh"]);
        if !subordinate_ids {
            useradd.args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        let made = {
            let _one_at_a_time = user_database_lock();
            useradd.arg(&name).output().expect("run useradd")
        };
        assert!(made.status.success(), "useradd {name}: {made:?}");
        let mut user = TestUser {
            uid: 0,
            gid: 0,
            subordinate: None,
            subuids: 0..0,
            home: PathBuf::new(),
            cgroup_parent: format!("tincan-test/{name}"),
            name,
            dir,
        };
        let entry = nix::unistd::User::from_name(&user.name).ok().flatten().expect("the new user");
        (user.uid, user.gid, user.home) = (entry.uid.as_raw(), entry.gid.as_raw(), entry.dir);
        let (subuids, subgids) =
            (subordinate("/etc/subuid", &user.name), subordinate("/etc/subgid", &user.name));
        user.subuids = subuids.clone().unwrap_or(0..0);
        user.subordinate = subuids.zip(subgids).map(|(u, g)| (u.start, g.start));
        assert_eq!(user.subordinate.is_some(), subordinate_ids, "ranges of {}", user.name);
        user.prepare_dir();
        user
    }

    /// The user's copies of the binaries and the rootfs; its runtime directory.
    fn prepare_dir(&self) {
        let dir = self.dir.path();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::copy(chapter_bin("ch09"), self.ch09_bin()).expect("copy the binary");
        copy_template_rootfs(&self.rootfs());
        let run = self.runtime_dir();
        fs::create_dir(&run).expect("the runtime dir");
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).expect("chmod");
        nix::unistd::chown(&run, Some(self.uid.into()), Some(self.gid.into())).expect("chown");
    }

    /// The rootfs the user may read.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Its `XDG_RUNTIME_DIR`: its tincan state is `tincan/` in there.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// Its image store, and its containers' directories.
    pub fn store_dir(&self) -> PathBuf {
        self.home.join(".local/share/tincan")
    }

    /// The cgroup its containers' cgroups go below (`--cgroup-parent`): the test's own.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// `program args...` as the user, in its own environment.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string()])
            .arg("--init-groups")
            .arg(program)
            .current_dir(self.dir.path())
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("TINCAN_CGROUP_PARENT", &self.cgroup_parent);
        command
    }

    /// The user's copy of `ch09`.
    pub fn ch09_bin(&self) -> PathBuf {
        self.dir.path().join("ch09")
    }

    /// `ch09 args...` as the user.
    pub fn ch09(&self, args: &[&str]) -> Run {
        let ch09 = self.ch09_bin();
        run(self.command(ch09.to_str().expect("a UTF-8 path")).args(args))
    }

    /// `sh -c script` as the user, on the host.
    pub fn sh(&self, script: &str) -> Run {
        run(self.command("/bin/sh").args(["-c", script]))
    }

    /// The user's processes, `(PID, name)`: those that run as the user, and
    /// its containers' processes, which run as its subordinate IDs (the
    /// container's user 1000 is one of them outside). Any of a process's
    /// real, effective, saved and file-system uids counts.
    pub fn processes(&self) -> Vec<(i32, String)> {
        let ours = |uid: u32| uid == self.uid || self.subuids.contains(&uid);
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let status = fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap_or("");
            if uids.split_whitespace().filter_map(|u| u.parse().ok()).any(ours) {
                let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                found.push((pid, comm.trim().to_owned()));
            }
        }
        found
    }

    /// End every process the user runs, by PID, and wait until they are gone.
    pub fn end_processes(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.processes().is_empty() && Instant::now() < deadline {
            for (pid, _) in self.processes() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Run a command to its end, as a [`Run`].
fn run(command: &mut Command) -> Run {
    let output = command.output().expect("run a command as the test user");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        after: String::new(),
        peak_rss_kib: 0,
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // userdel refuses a user who still runs something: end it all, by PID,
        // its containers' processes too (they would outlive it, as IDs that
        // the next user given this range would own).
        self.end_processes();
        let _one_at_a_time = user_database_lock();
        let removed = Command::new("userdel").arg("--remove").arg(&self.name).output();
        let gone = nix::unistd::User::from_name(&self.name).ok().flatten().is_none();
        if !gone && !std::thread::panicking() {
            panic!("userdel --remove {}: {removed:?}", self.name);
        }
    }
}

/// `user`'s range in `file` (`name:start:count` lines).
fn subordinate(file: &str, user: &str) -> Option<std::ops::Range<u32>> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next() != Some(user) {
            return None;
        }
        let start: u32 = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        Some(start..start.checked_add(count)?)
    })
}

/// `/dev/net/tun` in a mode of the test's choosing, and back as it was when
/// dropped. It holds a machine-wide lock from before the change until after
/// the restore, so no other test (in this process or another) sees the
/// change or takes it for the original mode. The original is also written in
/// the lock file while changed: a test process killed before its restore
/// leaves it there, and the next guard restores it first.
pub struct TunMode {
    was: u32,
    lock: Flock<File>,
}

const TUN_PATH: &str = "/dev/net/tun";

impl TunMode {
    /// Usable by everyone (Debian's default, 0666), or by root alone (0600).
    pub fn set(mode: u32) -> TunMode {
        use std::io::{Read, Seek, Write};
        let mut lock = machine_lock("tincan-tests-dev-net-tun.lock");
        let mut left = String::new();
        lock.read_to_string(&mut left).expect("read the tun lock file");
        if let Ok(original) = u32::from_str_radix(left.trim(), 8) {
            // A guard died holding it changed: put the original back.
            fs::set_permissions(TUN_PATH, fs::Permissions::from_mode(original)).expect("chmod");
        }
        let was = fs::metadata(TUN_PATH).expect(TUN_PATH).mode() & 0o7777;
        lock.set_len(0).and_then(|()| lock.rewind()).expect("empty the tun lock file");
        lock.write_all(format!("{was:o}\n").as_bytes()).expect("record the tun's mode");
        lock.sync_data().expect("sync the tun lock file");
        fs::set_permissions(TUN_PATH, fs::Permissions::from_mode(mode)).expect("chmod the tun");
        TunMode { was, lock }
    }
}

impl Drop for TunMode {
    fn drop(&mut self) {
        // Restored before the record goes, and both before the lock does.
        if fs::set_permissions(TUN_PATH, fs::Permissions::from_mode(self.was)).is_ok() {
            let _ = self.lock.set_len(0);
        }
    }
}

/// Check that `path` (a host object a test made as the user) is owned as expected.
pub fn owner_of(path: &Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid())
}
