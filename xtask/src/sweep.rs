//! What an interrupted test run left on the host, taken down before the next.
//!
//! Every test takes down what it made when it ends, also when it fails. A
//! run stopped with Ctrl-C (or killed) ends its tests where they stand: no
//! destructor runs. What they made inside an outer sandbox went with its
//! namespaces; what they made on the host stays — containers and their
//! cgroups, a bridge and its nft rules, `ip_forward` switched on. The tests
//! keep their directories in `target/tincan-test/work`, each named for the
//! harness that made it, and those hold the records to take it all down
//! with: a chapter's state, an OCI runtime's `--root`, a face's store. So,
//! before that directory is emptied, each is handed to the command that
//! knows its records, as its harness's `Drop` would have done.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace_root;

/// Written by a sandbox that ran a chapter on the real host (not inside an
/// outer sandbox): only then are its records about the host's objects.
/// (`tests/it/support/host.rs` writes it.)
const RAN_ON_HOST: &str = "ran-on-host";

/// Take down what the tests whose directories are in `work` left on the
/// host; say what was found. The directories whose clean-up failed, which
/// hold the records of what is still there.
pub fn interrupted_run(work: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(work).into_iter().flatten().flatten();
    let mut failed = Vec::new();
    for dir in entries.map(|e| e.path()) {
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let swept = if name.starts_with("sandbox-") && dir.join(RAN_ON_HOST).exists() {
            sandbox(&dir)
        } else if let Some(runtime) = name.strip_prefix("oci-").and_then(|n| n.split('-').next()) {
            oci_lab(&dir, runtime)
        } else if name.starts_with("face-") {
            face(&dir)
        } else if name.starts_with("sweep-") {
            // The sweep's own test: leftovers of each kind, in there.
            interrupted_run(&dir).is_empty()
        } else {
            true
        };
        if !swept {
            failed.push(dir);
        }
    }
    failed
}

/// A chapter's clean-up of the runtimes that died (chapter 10's knows every
/// chapter's records): their cgroups, bridge, rules and `ip_forward`.
fn sandbox(dir: &Path) -> bool {
    let mut cleanup = Command::new(binary(dir, "ch10"));
    // The sandbox's state and image store, as its runs had them.
    cleanup.env("TINCAN_STATE_DIR", dir.join("state")).env("TINCAN_ROOT", dir.join("store"));
    cleanup.arg("cleanup");
    run(&format!("the chapters' containers (left in {})", dir.display()), cleanup)
}

/// `delete --force` of every container an OCI runtime still has there.
fn oci_lab(dir: &Path, runtime: &str) -> bool {
    let root = dir.join("state");
    let program = match runtime {
        "tincan" => binary(dir, "tincan"),
        "runc" | "crun" => PathBuf::from(runtime),
        _ => return true,
    };
    let ids = std::fs::read_dir(&root).into_iter().flatten().flatten();
    let mut swept = true;
    // (A name starting with a dot is the runtime's own, not a container's.)
    let ids =
        ids.filter_map(|e| e.file_name().into_string().ok()).filter(|id| !id.starts_with('.'));
    for id in ids {
        // crun refuses a hybrid host's cgroups; without the v2 mount, in a
        // mount namespace of its own, it takes the host for a v1 one (the
        // tests run it so). runc and tincan use the v2 mount too.
        let mut delete = if runtime == "crun" {
            let script = "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec \"$@\"";
            let mut unshare = Command::new("unshare");
            unshare.args(["-m", "sh", "-c", script, "sh"]).arg(&program);
            unshare
        } else {
            Command::new(&program)
        };
        delete.arg("--root").arg(&root).args(["delete", "--force", &id]);
        swept &= run(&format!("{runtime}'s container {id} (left in {})", dir.display()), delete);
    }
    swept
}

/// `rm -f` of every container of a face's store, then `system prune`: its
/// supervisors, bridge, rules and mounts go with them.
fn face(dir: &Path) -> bool {
    // The store and OCI root are in the directory, or deeper (a test of
    // deep paths): the first directory down that has a store.
    let Some(base) = first_with_store(dir, 3) else { return true };
    let tincan = |args: &[&str]| {
        let mut command = Command::new(binary(dir, "tincan"));
        // Its network's claims are in its own state directory
        // (`tests/it/support/face.rs`); the bridge's name is in the records.
        command.env("TINCAN_STATE_DIR", base.join("state"));
        command.env("TINCAN_ROOT", base.join("store")).arg("--root").arg(base.join("run"));
        command.args(args);
        command
    };
    let listed = tincan(&["ps", "-aq"]).stderr(Stdio::null()).output();
    let ids = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let removed = ids.is_empty() || {
        let what = format!("the face's containers (left in {})", dir.display());
        run(&what, tincan(&[&["rm", "-f"][..], &ids].concat()))
    };
    let what = format!("the face's store (left in {})", dir.display());
    removed && run(&what, tincan(&["system", "prune"]))
}

fn first_with_store(dir: &Path, depth: usize) -> Option<PathBuf> {
    if dir.join("store").is_dir() {
        return Some(dir.to_owned());
    }
    let below = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_dir());
    below.filter(|_| depth > 0).find_map(|sub| first_with_store(&sub, depth - 1))
}

/// The tests' cgroup parents that are empty now, deepest first. Only names
/// the tests give (`tincan-test/...`, and the markers `tincan-test-...` and
/// `tincan-tincan-test-...`): never another cgroup of the host's. Only
/// once no test runs: a running test's parent may be empty for a moment.
pub fn empty_test_cgroups() {
    let top = Path::new("/sys/fs/cgroup");
    // cgroup v2 alone: one hierarchy, there; v1 (or hybrid): one a directory.
    let hierarchies: Vec<PathBuf> = if top.join("cgroup.controllers").exists() {
        vec![top.to_owned()]
    } else {
        let entries = std::fs::read_dir(top).into_iter().flatten().flatten();
        entries.map(|e| e.path()).collect()
    };
    for hierarchy in hierarchies {
        let tops = std::fs::read_dir(&hierarchy).into_iter().flatten().flatten();
        for top in tops.map(|e| e.path()).filter(|p| p.is_dir()) {
            let name = top.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with("tincan-test") || name.starts_with("tincan-tincan-test") {
                remove_empty(&top);
            }
        }
    }
}

/// `rmdir` `dir` and what is below it, children first; one with processes
/// stays (the kernel refuses), and so do its parents.
fn remove_empty(dir: &Path) {
    let below = std::fs::read_dir(dir).into_iter().flatten().flatten();
    below.map(|e| e.path()).filter(|p| p.is_dir()).for_each(|sub| remove_empty(&sub));
    if std::fs::remove_dir(dir).is_ok() {
        eprintln!("sweep: removed the empty cgroup {}", dir.display());
    }
}

/// The binary `name` of the run that left `dir`: the harness wrote where
/// its binaries were (`tests/it/support/mod.rs`, `work_dir`).
fn binary(dir: &Path, name: &str) -> PathBuf {
    let said = std::fs::read(dir.join("binaries")).ok();
    let from_run = said.map(|bytes| PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    from_run.unwrap_or_else(|| target.join("debug")).join(name)
}

/// Run a clean-up; say that it ran, and what it said if it failed. Whether
/// it did its work.
fn run(what: &str, mut command: Command) -> bool {
    eprintln!("sweep: taking down {what}: an interrupted test run left it");
    match command.stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr);
            eprintln!("sweep: {command:?} failed ({}): {}", out.status, said.trim());
            false
        }
        Err(e) => {
            eprintln!("sweep: {command:?}: {e}");
            false
        }
    }
}
