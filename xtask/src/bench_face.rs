//! `cargo xtask bench-face`: the docker-style face, measured for the book.
//!
//! - A whole life, `run -d` → running → `stop` → `rm`, of a shell that ends at
//!   SIGTERM, in one hyperfine run beside `podman run -d`/`stop`/`rm` of the
//!   same image (imported into podman's storage), with crun and with runc.
//! - The memory of one idle container's supervisor, beside podman's conmon.
//! - Many idle containers at once: how long starting them takes, what each
//!   costs the machine, how long `ps` takes with them all there.
//! - How late `logs -f` shows a line: the container prints the wall clock
//!   (`tincan-probe ticks`), the reader compares it with its own.
//!
//! Everything runs in a mount namespace of this process's own, with the cgroup
//! v2 mount beside the v1 controllers unmounted: crun refuses this hybrid
//! host's layout otherwise (`../shared/machine-facts.md`). Every container,
//! podman's storage and the image store are made under `target/bench-face`
//! and removed at the end, also when a step fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{rootfs, workspace_root};

/// podman's limits this machine allows (it lacks CAP_SYS_RESOURCE), and its
/// containers' and conmon's cgroups under a parent of ours (its default,
/// `libpod_parent`, is not ours to make on a shared host).
const PODMAN_RUN: &str = "--network none --cgroup-parent /tincan-bench --ulimit nofile=20000:20000 --ulimit nproc=4096:4096";

/// The cgroup podman's containers go under, removed at the end.
const CGROUP_PARENT: &str = "tincan-bench";

/// A PID 1 that ends at SIGTERM: `stop` is then as quick as the runtime.
/// tincan's options for every container of the bench: no network, as
/// podman's. (The default bridge adds ~60 ms to a cycle, mostly at `rm`.)
const TINCAN_RUN: &str = "--network none";
const POLITE: &str = "trap \"exit 0\" TERM; while :; do sleep 0.1; done";

pub fn run(runs: usize, idle: usize, out: &Path) -> Result<()> {
    for tool in ["hyperfine", "podman", "crun", "runc"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()?
            .stdout
            .is_empty()
        {
            bail!(
                "{tool} is not installed: the bench compares with it (sudo apt-get install {tool})"
            );
        }
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--bin", "tincan", "--bin", "tincan-supervisor"])
        .status()?;
    if !status.success() {
        bail!("building tincan failed");
    }
    private_mounts()?;
    let dir = workspace_root().join("target/bench-face");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let lab = Lab { dir: dir.clone() };
    let measured = lab.prepare().and_then(|()| measure(&lab, runs, idle));
    drop(lab);
    let table = measured?;
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("bench-face: wrote {}", out.display());
    Ok(())
}

/// This process in a mount namespace of its own, whose mounts do not reach the
/// host's, without the v2 mount crun refuses beside v1 controllers.
fn private_mounts() -> Result<()> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("a mount namespace")?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).context("make mounts private")?;
    let unified = Path::new("/sys/fs/cgroup/unified");
    if Path::new("/sys/fs/cgroup/memory").is_dir() && unified.is_dir() {
        let _ = nix::mount::umount2(unified, nix::mount::MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// The bench's store, podman's storage, and what is left in them at the end.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn tincan_bin(&self) -> PathBuf {
        workspace_root().join("target/release/tincan")
    }

    /// `tincan` as a shell command, with the bench's image store and state.
    fn tincan_shell(&self) -> String {
        format!(
            "env TINCAN_ROOT={} {} --root {}",
            self.dir.join("store").display(),
            self.tincan_bin().display(),
            self.dir.join("run").display()
        )
    }

    /// `podman` as a shell command, with storage of the bench's own.
    fn podman_shell(&self) -> String {
        let d = self.dir.display();
        format!(
            "podman --root {d}/podman/root --runroot {d}/podman/run --tmpdir {d}/podman/tmp \
             --cgroup-manager cgroupfs --events-backend file --storage-driver overlay"
        )
    }

    fn sh(&self, script: &str) -> Result<Output> {
        let out = Command::new("sh").args(["-c", script]).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            bail!("{script}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(out)
    }

    /// The busybox root file system, as the image `bench` in both stores.
    fn prepare(&self) -> Result<()> {
        let rootfs = self.dir.join("rootfs");
        rootfs::build(&rootfs, true)?;
        let tar = self.dir.join("rootfs.tar");
        self.sh(&format!("tar -C {} -cf {} .", rootfs.display(), tar.display()))?;
        self.sh(&format!("{} import {} bench >/dev/null", self.tincan_shell(), tar.display()))?;
        self.sh(&format!("{} import {} bench >/dev/null", self.podman_shell(), tar.display()))?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.sh(&format!("{} system prune >/dev/null", self.tincan_shell()));
        let ids = self.sh(&format!("{} ps -aq", self.tincan_shell()));
        for id in
            ids.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines()
        {
            let _ = self.sh(&format!("{} rm -f {id}", self.tincan_shell()));
        }
        let _ = self.sh(&format!("{} rm -af -t 0 >/dev/null 2>&1", self.podman_shell()));
        let _ = self.sh(&format!("{} system reset -f >/dev/null 2>&1", self.podman_shell()));
        let _ = std::fs::remove_dir_all(&self.dir);
        // podman's cgroups, deepest first (a cgroup goes with rmdir, once empty).
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            remove_cgroups(&hierarchy.path().join(CGROUP_PARENT));
        }
    }
}

fn remove_cgroups(dir: &Path) {
    let children = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for child in children.filter(|c| c.file_type().is_ok_and(|t| t.is_dir())) {
        remove_cgroups(&child.path());
    }
    let _ = std::fs::remove_dir(dir);
}

fn measure(lab: &Lab, runs: usize, idle: usize) -> Result<String> {
    let cycles = cycles(lab, runs)?;
    let memory = supervisor_beside_conmon(lab)?;
    let many = idle_containers(lab, idle)?;
    let latency = logs_latency(lab)?;
    let mut md = cycles;
    md.push('\n');
    md.push_str(&memory);
    md.push('\n');
    md.push_str(&many);
    md.push('\n');
    md.push_str(&latency);
    md.push_str(&format!(
        "\nMeasured by `cargo xtask bench-face` on {}: the busybox root file system imported as an image into both stores, tincan's release build and podman {} with `overlay` storage, every container of both with `--network none`.\n",
        crate::measure::machine_description(&crate::bench::kernel()),
        podman_version(),
    ));
    Ok(md)
}

/// One hyperfine run of the three cycles; its table.
fn cycles(lab: &Lab, runs: usize) -> Result<String> {
    let tincan = lab.tincan_shell();
    let podman = lab.podman_shell();
    let image_cmd = format!("bench sh -c '{POLITE}'");
    let ours = format!(
        "id=$({tincan} run -d {TINCAN_RUN} {image_cmd}) && {tincan} stop $id >/dev/null && {tincan} rm $id >/dev/null"
    );
    let theirs = |runtime: &str| {
        format!(
            "id=$({podman} run -d --runtime {runtime} {PODMAN_RUN} {image_cmd}) && {podman} stop $id >/dev/null && {podman} rm $id >/dev/null"
        )
    };
    let json = lab.dir.join("cycles.json");
    let status = Command::new("hyperfine")
        .args(["--warmup", "2", "--runs", &runs.to_string(), "--export-json"])
        .arg(&json)
        .args(["-n", "tincan", &ours, "-n", "podman with crun", &theirs("crun")])
        .args(["-n", "podman with runc", &theirs("runc")])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("hyperfine of the cycles failed");
    }
    let results: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let results = results["results"].as_array().context("hyperfine's results")?;
    let median = |name: &str| {
        results.iter().find(|r| r["command"] == name).and_then(|r| r["median"].as_f64())
    };
    let crun = median("podman with crun").context("podman with crun's median")?;
    let mut md = "| `run -d` → running → `stop` → `rm` | median | min | max | to podman with crun |\n|---|---|---|---|---|\n".to_owned();
    for result in results {
        let (median, min, max) = (
            result["median"].as_f64().unwrap_or(0.0),
            result["min"].as_f64().unwrap_or(0.0),
            result["max"].as_f64().unwrap_or(0.0),
        );
        md.push_str(&format!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2}× |\n",
            result["command"].as_str().unwrap_or("?"),
            median * 1e3,
            min * 1e3,
            max * 1e3,
            median / crun
        ));
    }
    md.push_str(&format!("\n{runs} runs each, after 2 warm-up runs, in one hyperfine run.\n"));
    Ok(md)
}

/// The memory of an idle container's supervisor, and of podman's conmon:
/// the second of two idle containers of each, so that what two of them
/// share (the binary's pages) shows as shared, as it is on a machine with
/// many containers, and its private pages are what one more adds.
fn supervisor_beside_conmon(lab: &Lab) -> Result<String> {
    let tincan = lab.tincan_shell();
    let podman = lab.podman_shell();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..2 {
        let out = lab.sh(&format!("{tincan} run -d {TINCAN_RUN} bench sleep 600"))?;
        ours.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        let out =
            lab.sh(&format!("{podman} run -d --runtime crun {PODMAN_RUN} bench sleep 600"))?;
        theirs.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    std::thread::sleep(Duration::from_secs(1));
    let supervisor = process_with(|cmdline| {
        cmdline.starts_with(&format!("{}-supervisor", lab.tincan_bin().display()))
            && cmdline.contains(&ours[1])
    })
    .context("the supervisor's process")?;
    let conmon =
        lab.sh(&format!("{podman} inspect --format '{{{{.State.ConmonPid}}}}' {}", theirs[1]))?;
    let conmon: i32 =
        String::from_utf8_lossy(&conmon.stdout).trim().parse().context("conmon's PID")?;
    let memory = |pid: i32| {
        let private = rollup(pid, "Private_Clean:") + rollup(pid, "Private_Dirty:");
        format!("{} KiB | {} KiB | {private} KiB", rollup(pid, "Rss:"), rollup(pid, "Pss:"))
    };
    let (s_memory, c_memory) = (memory(supervisor), memory(conmon));
    lab.sh(&format!("{tincan} rm -f {} >/dev/null", ours.join(" ")))?;
    lab.sh(&format!("{podman} rm -f -t 0 {} >/dev/null", theirs.join(" ")))?;
    Ok(format!(
        "| an idle container's supervisor (the second of two) | RSS | PSS | private |\n|---|---|---|---|\n\
         | tincan-supervisor | {s_memory} |\n\
         | conmon (podman's) | {c_memory} |\n\
         \nRSS counts every page the process maps, the binary's and the C library's included, though the C library's are shared with every process on the machine; PSS divides each shared page among the processes that map it; the private pages (USS: `Private_Clean` and `Private_Dirty` in `smaps_rollup`) are what this one process alone holds, and so what one more idle container's supervisor adds.\n"
    ))
}

/// `idle` containers of `sleep` at once, started one after the other.
fn idle_containers(lab: &Lab, idle: usize) -> Result<String> {
    let tincan = lab.tincan_shell();
    let before = mem_available()?;
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..idle {
        let out = lab.sh(&format!("{tincan} run -d {TINCAN_RUN} bench sleep 100000"))?;
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let start_all = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let after = mem_available()?;
    let listed = lab.sh(&format!("{tincan} ps -q"))?;
    let running = String::from_utf8_lossy(&listed.stdout).lines().count();
    if running != idle {
        bail!("{running} of {idle} containers are running");
    }
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        lab.sh(&format!("{tincan} ps >/dev/null"))?;
        times.push(started.elapsed());
    }
    times.sort();
    let removing = Instant::now();
    lab.sh(&format!("{tincan} rm -f {} >/dev/null", ids.join(" ")))?;
    let remove_all = removing.elapsed();
    let each = before.saturating_sub(after) as f64 / idle as f64;
    Ok(format!(
        "| {idle} idle containers | measured |\n|---|---|\n\
         | `run -d` of each, one after the other | {:.1} s ({:.0} ms each) |\n\
         | memory of each, supervisor and all (`MemAvailable`) | {each:.0} KiB |\n\
         | `tincan ps` with all of them (median of 10) | {:.0} ms |\n\
         | `rm -f` of all of them | {:.1} s |\n",
        start_all.as_secs_f64(),
        start_all.as_secs_f64() * 1e3 / idle as f64,
        times[times.len() / 2].as_secs_f64() * 1e3,
        remove_all.as_secs_f64(),
    ))
}

/// How late `logs -f` shows what the container printed: 50 lines of the wall
/// clock, 20 ms apart, each compared with the reader's clock on arrival.
fn logs_latency(lab: &Lab) -> Result<String> {
    let tincan = lab.tincan_shell();
    let id = lab
        .sh(&format!("{tincan} run -d {TINCAN_RUN} bench /usr/local/bin/tincan-probe ticks 20"))?;
    let id = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let mut follow = Command::new("sh")
        .args(["-c", &format!("exec {tincan} logs -f {id}")])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(follow.stdout.take().context("piped")?).lines();
    // What was written before `logs -f` started is old news: skip it.
    let skip = Instant::now() + Duration::from_millis(300);
    let mut late = Vec::new();
    while late.len() < 50 {
        let line = lines.next().context("logs -f ended")??;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        if Instant::now() < skip {
            continue;
        }
        let written: u128 = line.trim().parse().with_context(|| format!("a tick: {line:?}"))?;
        late.push(Duration::from_nanos(now.saturating_sub(written) as u64));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    lab.sh(&format!("{tincan} rm -f {id} >/dev/null"))?;
    late.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(format!(
        "| `logs -f` | measured |\n|---|---|\n| from the container's write to the reader's screen | {:.1} ms median, {:.1} ms at most (50 lines) |\n",
        ms(late[late.len() / 2]),
        ms(late[late.len() - 1]),
    ))
}

/// The first process whose command line (spaces between its arguments) is `wanted`.
fn process_with(wanted: impl Fn(&str) -> bool) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        wanted(&String::from_utf8_lossy(&cmdline).replace('\0', " ")).then_some(pid)
    })
}

/// A field of `/proc/PID/smaps_rollup`, in KiB.
fn rollup(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// KiB.
fn mem_available() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:")).context("/proc/meminfo")?;
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).context("a number")
}

fn podman_version() -> String {
    Command::new("podman")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches("podman version ")
                .to_owned()
        })
        .unwrap_or_else(|_| "?".to_owned())
}
