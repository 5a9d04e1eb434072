//! `cargo xtask vm-vs-container`: the book's comparison, measured on this machine
//! in one run. The same first command (`uname -r`) in a small VM and in a
//! chapter 7 container: time to its output, time to exit, host memory, and which
//! kernel answers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ch07_cgroups::{Controller, Layout, Version};
use tincan_vm::{AccelChoice, Vm};

use crate::{rootfs, vm, workspace_root};

/// The cgroup parent of the measured containers, to find their cgroup by.
const PARENT: &str = "tincan-measure";

struct Measured {
    first_output: Duration,
    exit: Duration,
    uname: String,
}

pub fn run(runs: usize, out: &Path) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--bin", "ch07"])
        .status()?;
    if !status.success() {
        bail!("building ch07 failed");
    }
    let rootfs = vm::cache_dir().join("rootfs");
    rootfs::build(&rootfs, true)?;
    let busybox = rootfs::static_busybox()?;

    // The VM: nothing but busybox, the smallest guest that can run the command.
    let kernel = tincan_vm::ensure_kernel(&vm::cache_dir())?;
    let qemu = tincan_vm::ensure_qemu(&vm::cache_dir())?;
    let mut machine = Vm::new(kernel, qemu, &busybox, &vm::cache_dir().join("runs"))?;
    machine.accel = AccelChoice::Auto;
    let mut vms = Vec::new();
    for i in 0..runs {
        eprintln!("vm-vs-container: VM run {} of {runs}", i + 1);
        vms.push(machine.run("uname -r")?);
    }
    let accel = vm::accelerator(&vms[0]);

    // The container: chapter 7, no network (its set-up is chapter 6's lesson).
    let ch07 = workspace_root().join("target/debug/ch07");
    let mut containers = Vec::new();
    for _ in 0..runs.max(10) {
        containers.push(container_run(&ch07, &rootfs)?);
    }
    let (rss_kib, cgroup_bytes) = container_memory(&ch07, &rootfs)?;

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let vm_first = median(vms.iter().filter_map(|o| o.first_output).collect());
    let vm_exit = median(vms.iter().map(|o| o.total).collect());
    let mut vm_rss: Vec<u64> = vms.iter().map(|o| o.peak_rss_kib).collect();
    vm_rss.sort_unstable();
    let ct_first = median(containers.iter().map(|m| m.first_output).collect());
    let ct_exit = median(containers.iter().map(|m| m.exit).collect());
    let host_kernel = nix::sys::utsname::uname()?.release().to_string_lossy().into_owned();
    let vm_uname = vms[0].output.trim().to_owned();
    let ct_uname = containers[0].uname.clone();
    if ct_uname != host_kernel || vm_uname != machine.kernel.release {
        bail!("unexpected kernels: container {ct_uname:?} (host {host_kernel:?}), VM {vm_uname:?}");
    }

    let table = format!(
        "| | virtual machine | container (chapter 7) |\n\
         |---|---|---|\n\
         | launch → first output of `uname -r` | {} | {} |\n\
         | launch → exit | {} | {} |\n\
         | host memory | {} MiB (qemu's resident memory, at its peak) | {:.1} MiB resident (runtime and container); {} KiB charged to its cgroup |\n\
         | `uname -r` inside | `{vm_uname}`: its own kernel | `{ct_uname}`: the host's |\n\n\
         Measured by `cargo xtask vm-vs-container` on {machine}; medians of {runs} VM runs and {} container runs. \
         The VM: qemu `microvm` with {accel}, 512 MiB, Debian's kernel and a busybox initramfs. \
         The container: `ch07 run --net none ROOTFS uname -r`, busybox root filesystem.\n",
        seconds(vm_first),
        seconds(ct_first),
        seconds(vm_exit),
        seconds(ct_exit),
        vm_rss[vm_rss.len() / 2] / 1024,
        rss_kib as f64 / 1024.0,
        cgroup_bytes / 1024,
        containers.len(),
        machine = machine_description(&host_kernel),
    );
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("vm-vs-container: wrote {}", out.display());
    Ok(())
}

/// One container run: times to its first line and to its exit.
fn container_run(ch07: &Path, rootfs: &Path) -> Result<Measured> {
    let start = Instant::now();
    let mut child = Command::new(ch07)
        .env("TINCAN_CGROUP_PARENT", PARENT)
        .env("TINCAN_STATE_DIR", state_dir())
        .args(["run", "--net", "none"])
        .arg(rootfs)
        .args(["uname", "-r"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let first_output = start.elapsed();
    let status = child.wait()?;
    let exit = start.elapsed();
    if !status.success() {
        bail!("the container failed: {status}");
    }
    Ok(Measured { first_output, exit, uname: line.trim().to_owned() })
}

/// The container's memory while it sits idle after its command: the resident
/// memory of the runtime and the container's processes, and what its memory
/// cgroup is charged.
fn container_memory(ch07: &Path, rootfs: &Path) -> Result<(u64, u64)> {
    let mut child = Command::new(ch07)
        .env("TINCAN_CGROUP_PARENT", PARENT)
        .env("TINCAN_STATE_DIR", state_dir())
        .args(["run", "--net", "none"])
        .arg(rootfs)
        .args(["sh", "-c", "uname -r; sleep 1"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    std::thread::sleep(Duration::from_millis(300));
    let rss = family(child.id()).iter().map(|pid| tincan_vm::rss_kib(*pid)).sum();
    let charged = cgroup_memory().unwrap_or(0);
    child.wait()?;
    Ok((rss, charged))
}

/// A process and all its descendants.
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", all[i]));
        for task in tasks.into_iter().flatten().flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
        i += 1;
    }
    all
}

/// The measurement's own state directory: it never touches a learner's containers'.
fn state_dir() -> PathBuf {
    vm::cache_dir().join("state")
}

/// The memory charged to the (one) container cgroup below our parent.
fn cgroup_memory() -> Option<u64> {
    let layout = Layout::detect().ok()?;
    let memory = layout.find(Controller::Memory)?;
    let parent: PathBuf = memory.mount.join(PARENT);
    let dir = std::fs::read_dir(parent).ok()?.flatten().find(|e| e.path().is_dir())?.path();
    let file = match memory.version {
        Version::V2 => "memory.current",
        Version::V1 => "memory.usage_in_bytes",
    };
    std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
}

fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// "a 2-core Intel(R) Xeon(R) ... running Linux 6.18.44 (2026-11-22)".
pub fn machine_description(kernel: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("a {cores}-core {model} running Linux {kernel} ({date})")
}
