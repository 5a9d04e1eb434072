//! `cargo xtask bench-idle`: many idle containers at once, as an engine
//! leaves them — `tincan create`, then `start`, of a `sleep` in the busybox
//! root file system — and what they cost this machine.
//!
//! Measured: how long creating and starting them takes; what of tincan
//! stays running beside them (nothing: the runtime exits after `create`, and
//! an engine's shim or conmon supervises); the memory each costs — its
//! process's proportional set size, what its cgroup is charged, and what the
//! machine has less of (`MemAvailable`), namespaces and page tables
//! included; how long `tincan list` and `state` take with them all there;
//! and how long deleting them takes.
//!
//! The containers' first processes are reparented to this process (a child
//! subreaper) when `tincan create` exits, so that it reaps them once they are
//! deleted: nothing is left behind, not even a zombie.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{rootfs, workspace_root};

/// Where the containers' state goes: on a tmpfs, as runtimes keep it.
const ROOT: &str = "/run/tincan-bench-idle";

pub fn run(containers: usize, out: &Path) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--bin", "tincan"])
        .status()?;
    if !status.success() {
        bail!("building tincan failed");
    }
    nix::sys::prctl::set_child_subreaper(true).context("become a child subreaper")?;
    let dir = workspace_root().join("target/bench-idle");
    let _ = std::fs::remove_dir_all(&dir);
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    rootfs::build(&bundle.join("rootfs"), true)?;
    // Each container's cgroup is tincan's default (`tincan/ID`).
    crate::bench::write_config(&bundle, &["sleep", "100000"], None)?;
    let lab = Lab { root: PathBuf::from(ROOT), bundle, ids: Vec::new() };
    let measured = measure(lab, containers);
    reap();
    let _ = std::fs::remove_dir(ROOT);
    let table = measured?;
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("bench-idle: wrote {}", out.display());
    Ok(())
}

/// The containers made, deleted when dropped.
struct Lab {
    root: PathBuf,
    bundle: PathBuf,
    ids: Vec<String>,
}

impl Lab {
    fn tincan(&self, args: &[&str]) -> Result<Output> {
        let tincan = workspace_root().join("target/release/tincan");
        let out = Command::new(tincan).arg("--root").arg(&self.root).args(args).output()?;
        if !out.status.success() {
            bail!("tincan {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(out)
    }

    /// `tincan create`, whose stdio the container keeps (as an engine's
    /// would be): files, not pipes, which would stay open — and a reader
    /// waiting — for as long as the container runs.
    fn create(&self, id: &str) -> Result<()> {
        let tincan = workspace_root().join("target/release/tincan");
        let errors = self.bundle.with_file_name("create.err");
        let status = Command::new(tincan)
            .arg("--root")
            .arg(&self.root)
            .args(["create", "--bundle"])
            .arg(&self.bundle)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&errors)?)
            .status()?;
        if !status.success() {
            bail!("tincan create {id}: {}", std::fs::read_to_string(&errors)?.trim());
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.tincan(&["delete", "--force", id]);
        }
    }
}

fn measure(mut lab: Lab, containers: usize) -> Result<String> {
    let before = mem_available()?;
    let started = Instant::now();
    for n in 0..containers {
        let id = format!("idle-{n}");
        lab.ids.push(id.clone());
        lab.create(&id)?;
        lab.tincan(&["start", &id])?;
    }
    let start_all = started.elapsed();
    // Let the page cache and the kernel's lazy work settle.
    std::thread::sleep(Duration::from_secs(1));
    let after = mem_available()?;
    let list = lab.tincan(&["list", "--format", "json"])?;
    let listed: Vec<Value> = serde_json::from_slice(&list.stdout)?;
    let running = listed.iter().filter(|c| c["status"] == "running").count();
    if running != containers {
        bail!("{running} of {containers} containers are running");
    }
    let pids: Vec<i64> = listed.iter().filter_map(|c| c["pid"].as_i64()).collect();
    let pss: u64 = pids.iter().map(|pid| pss_kib(*pid)).sum();
    let charged: u64 = lab.ids.iter().map(|id| cgroup_bytes(id)).sum();
    let runtimes = tincan_processes();
    let list_time = timed(|| lab.tincan(&["list"]).map(drop))?;
    let state_time = timed(|| lab.tincan(&["state", "idle-0"]).map(drop))?;
    let deleting = Instant::now();
    for id in std::mem::take(&mut lab.ids) {
        lab.tincan(&["delete", "--force", &id])?;
    }
    let delete_all = deleting.elapsed();
    let n = containers as f64;
    let kib = |bytes: f64| format!("{:.0} KiB", bytes / 1024.0);
    let mut md = "| with idle containers | measured |\n|---|---|\n".to_owned();
    let row = |md: &mut String, what: String, value: String| {
        md.push_str(&format!("| {what} | {value} |\n"));
    };
    row(
        &mut md,
        format!("`create` + `start` of {containers} containers"),
        format!(
            "{:.1} s ({:.1} ms each)",
            start_all.as_secs_f64(),
            start_all.as_secs_f64() * 1e3 / n
        ),
    );
    row(&mut md, "tincan processes running beside them".into(), runtimes.to_string());
    row(
        &mut md,
        "memory of each: its process (PSS: pages shared with the others counted in part)".into(),
        kib(pss as f64 * 1024.0 / n),
    );
    row(&mut md, "memory of each: charged to its cgroup".into(), kib(charged as f64 / n));
    row(
        &mut md,
        "memory of each: the machine's (`MemAvailable`)".into(),
        kib(before.saturating_sub(after) as f64 * 1024.0 / n),
    );
    row(&mut md, format!("`tincan list` of {containers}"), format!("{:.1} ms", list_time * 1e3));
    row(&mut md, "`tincan state` of one".into(), format!("{:.1} ms", state_time * 1e3));
    row(
        &mut md,
        format!("`delete --force` of {containers}"),
        format!("{:.1} s", delete_all.as_secs_f64()),
    );
    md.push_str(&format!(
        "\nMeasured by `cargo xtask bench-idle` on {} ({}): `sleep` in a busybox root file system, `runc spec`'s bundle (PID, network, IPC, UTS and mount namespaces, a cgroup), the release build, state on a tmpfs; times of `list` and `state` are medians of 10 runs.\n",
        crate::measure::machine_description(&crate::bench::kernel()),
        memory_total()?,
    ));
    Ok(md)
}

/// The median wall time of 10 runs of `run`, in seconds.
fn timed(mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        run()?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn meminfo(field: &str) -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let line = text.lines().find(|l| l.starts_with(field)).context("/proc/meminfo")?;
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).context("a number")
}

/// KiB.
fn mem_available() -> Result<u64> {
    meminfo("MemAvailable:")
}

fn memory_total() -> Result<String> {
    Ok(format!("{:.0} GiB of memory", meminfo("MemTotal:")? as f64 / 1024.0 / 1024.0))
}

/// The process's proportional set size (`/proc/PID/smaps_rollup`), in KiB:
/// what it alone uses, plus its share of the pages it shares (here, the
/// busybox binary all the containers run).
fn pss_kib(pid: i64) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let line = text.lines().find(|l| l.starts_with("Pss:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// What the container's memory cgroup is charged, in bytes (v1 or v2).
fn cgroup_bytes(id: &str) -> u64 {
    ["memory/tincan", "unified/tincan", "tincan"]
        .iter()
        .find_map(|place| {
            let dir = Path::new("/sys/fs/cgroup").join(place).join(id);
            ["memory.usage_in_bytes", "memory.current"]
                .iter()
                .find_map(|file| std::fs::read_to_string(dir.join(file)).ok())
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Processes running the tincan binary.
fn tincan_processes() -> usize {
    let tincan = workspace_root().join("target/release/tincan");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == tincan))
        .count()
}

/// Reap the containers' processes, reparented to us.
fn reap() {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}
