//! `cargo xtask sweep`: what a test run that was interrupted (Ctrl-C, a
//! kill) left on the host is taken down from the records in the tests'
//! directories, as the tests' own `Drop`s would have done.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    HOST, cgroups_named, chapter_bin, copy_template_rootfs, root_or_skip, skip, tools_or_skip,
};

/// Leftovers of each kind the sweep knows, made as an interrupted run
/// leaves them, in a directory of this test's own: a chapter 7 container on
/// a bridge of its own whose runtime was killed; a container runc and one
/// tincan created and nobody deleted; a face's detached containers, one on
/// the default bridge and one with a terminal, in a store deeper than a
/// socket's address. After the sweep the host is as it was before.
#[test]
fn what_an_interrupted_run_left_on_the_host_is_taken_down() {
    let test = "sweep::what_an_interrupted_run_left_on_the_host_is_taken_down";
    if !(root_or_skip(test) && tools_or_skip(test, &[("runc", "runc")])) {
        return;
    }
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/xtask");
    if !xtask.exists() {
        skip(test, "needs target/debug/xtask: cargo build --workspace");
        return;
    }
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let before = host_network();
    // Not `work/`'s own entries: `cargo xtask test` sweeps those, and the
    // tests running beside this one are there.
    let work = Leftovers { dir: crate::support::work_dir("sweep"), xtask: xtask.clone() };
    let cgroup_parent = crate::support::marker("test-sweep");

    let bridge = format!("tt{}-sw", std::process::id() % 100_000);
    chapter_killed_on_host(&work.dir.path().join("sandbox-x"), &bridge, &cgroup_parent);
    for runtime in ["runc", "tincan"] {
        created_and_left(
            &work.dir.path().join(format!("oci-{runtime}-x")),
            runtime,
            &cgroup_parent,
        );
    }
    let store = face_left_running(&work.dir.path().join("face-x"));
    assert!(Path::new("/sys/class/net").join(&bridge).exists(), "the chapter's bridge");
    assert_ne!(host_network(), before, "the leftovers are on the host");

    let swept = work.sweep();
    assert!(swept.status.success(), "{swept:?}");
    let said = String::from_utf8_lossy(&swept.stderr);
    for what in ["the chapters' containers", "runc's container", "tincan's container", "face's"] {
        assert!(said.contains(what), "the sweep never took down {what}:\n{said}");
    }

    // The kernel removes a container's veth with its namespace, just after.
    let deadline = Instant::now() + Duration::from_secs(5);
    while host_network() != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host_network(), before, "links, nft tables or ip_forward left");
    let named = work.dir.path().display().to_string();
    assert_eq!(processes_naming(&named), Vec::<String>::new(), "processes left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&named), "mounts left:\n{mounts}");
    let ps = face(&store, &["ps", "-aq"]).output().expect("tincan ps");
    assert_eq!(String::from_utf8_lossy(&ps.stdout), "", "face containers left");
    for runtime in ["runc", "tincan"] {
        let state = work.dir.path().join(format!("oci-{runtime}-x/state"));
        let left: Vec<_> = std::fs::read_dir(&state).into_iter().flatten().flatten().collect();
        assert!(left.is_empty(), "{runtime} still has {left:?}");
    }
    // The parent is this test's: runc leaves the parents it made.
    for parent in cgroups_named(&cgroup_parent) {
        let below: Vec<_> = std::fs::read_dir(&parent)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.path())
            .collect();
        assert!(below.is_empty(), "cgroups left: {below:?}");
        std::fs::remove_dir(&parent).expect("the test's cgroup parent");
    }
}

/// The test's leftovers: swept when it ends, also when it fails before
/// its own sweep did.
struct Leftovers {
    dir: tempfile::TempDir,
    xtask: PathBuf,
}

impl Leftovers {
    fn sweep(&self) -> std::process::Output {
        let mut sweep = Command::new(&self.xtask);
        sweep.arg("sweep").arg("--work").arg(self.dir.path());
        sweep.output().expect("run xtask sweep")
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.sweep();
        }
    }
}

/// `ch07 run` of a sleeper on the real host, on a bridge of its own, its
/// runtime then killed: its cgroups, bridge, nft rules and `ip_forward`
/// stay, recorded in the sandbox's state.
fn chapter_killed_on_host(dir: &Path, bridge: &str, cgroup_parent: &str) {
    std::fs::create_dir_all(dir).expect("the sandbox's directory");
    crate::support::note_binaries(dir);
    std::fs::write(dir.join("ran-on-host"), "").expect("its mark");
    copy_template_rootfs(&dir.join("rootfs"));
    let mut runtime = Command::new(chapter_bin("ch07"))
        .env("TINCAN_STATE_DIR", dir.join("state"))
        .env("TINCAN_ROOT", dir.join("store"))
        .env("TINCAN_CGROUP_PARENT", format!("{cgroup_parent}/chapter"))
        .env("TINCAN_BRIDGE", bridge)
        .env("TINCAN_SUBNET", format!("10.250.{}.0/24", std::process::id() % 256))
        .arg("run")
        .arg(dir.join("rootfs"))
        .args(["sh", "-c", "echo up; exec sleep 300"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ch07");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(runtime.stdout.take().expect("its output"));
    std::io::BufRead::read_line(&mut out, &mut line).expect("its first line");
    assert_eq!(line, "up\n", "the container never ran");
    runtime.kill().expect("kill the runtime");
    runtime.wait().expect("reap it");
}

/// `RUNTIME create` of a sleeper, never started nor deleted.
fn created_and_left(dir: &Path, runtime: &str, cgroup_parent: &str) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).expect("the bundle");
    crate::support::note_binaries(dir);
    copy_template_rootfs(&bundle.join("rootfs"));
    let cgroups_path = format!("/{cgroup_parent}/{runtime}");
    let config = crate::support::oci::config(&["sleep", "300"], &cgroups_path);
    std::fs::write(bundle.join("config.json"), config.to_string()).expect("config.json");
    let program = match runtime {
        "tincan" => PathBuf::from(env!("CARGO_BIN_EXE_tincan")),
        other => PathBuf::from(other),
    };
    let created = Command::new(program)
        .arg("--root")
        .arg(dir.join("state"))
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg(format!("left-{runtime}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("create");
    assert!(created.success(), "{runtime} create");
}

/// A face store with two detached containers: one on the default bridge
/// with a published port, one with a terminal. Its store lies deep.
fn face_left_running(dir: &Path) -> PathBuf {
    let base = dir.join("deep".repeat(20));
    std::fs::create_dir_all(&base).expect("the face's directory");
    crate::support::note_binaries(dir);
    let rootfs = dir.join("rootfs");
    copy_template_rootfs(&rootfs);
    let tar = dir.join("rootfs.tar");
    let made = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status();
    assert!(made.expect("tar").success(), "tar the rootfs");
    for args in [
        &["import", tar.to_str().unwrap(), "left"][..],
        &[
            "run",
            "-d",
            "-p",
            &format!("{}:80", 20_000 + std::process::id() % 10_000),
            "left",
            "sleep",
            "300",
        ],
        &["run", "-dit", "--network", "none", "left", "sh"],
    ] {
        let out = face(&base, args).output().expect("run tincan");
        assert!(out.status.success(), "tincan {args:?}: {out:?}");
    }
    base
}

/// `tincan ARGS` on the face store in `base`.
fn face(base: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tincan"));
    command.envs(crate::support::face::kept_apart(&base.join("state")));
    command.env("TINCAN_ROOT", base.join("store")).arg("--root").arg(base.join("run"));
    command.args(args).stdin(Stdio::null());
    command
}

/// The host's links, nft tables and IP forwarding.
fn host_network() -> String {
    let run = |cmd: &[&str]| {
        let out = Command::new(cmd[0]).args(&cmd[1..]).output().expect("run ip/nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("ip_forward");
    [run(&["ip", "-o", "link", "show"]), run(&["nft", "list", "tables"]), forwarding].join("\n")
}

/// The command lines of processes that name `text`.
fn processes_naming(text: &str) -> Vec<String> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(text))
        .collect()
}
