//! A small virtual machine for tincan's tests and measurements.
//!
//! It boots Debian's kernel ([`kernel`]) in qemu's `microvm` machine (the
//! system's qemu, or Debian's fetched into a cache: [`qemu`]) with a busybox
//! initramfs ([`initramfs`]) that carries whatever the caller adds (chapter
//! binaries, the probe, a root filesystem), runs one shell script inside, and
//! reports its output, its exit code, and how long and how much memory it took.
//!
//! Why a VM at all? Two reasons, both in the book:
//!
//! - cgroups come in two versions, and a machine runs one (or a hybrid). The VM's
//!   kernel runs pure cgroup v2, so chapter 7 is tested on both whatever the host
//!   runs.
//! - "Virtual machines vs containers" is measured, not told: a VM boots its own
//!   kernel, a container shares the host's.
//!
//! The guest has no disk and no network: only the serial console, which is
//! qemu's standard output. Nothing is left behind: qemu is our child and is
//! killed by PID on a timeout, and the run's files live in a temporary directory.

mod accel;
mod error;
pub mod initramfs;
pub mod kernel;
mod modules;
pub mod qemu;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;

use accel::kvm_unusable;
pub use accel::{Accel, AccelChoice};
pub use error::BootError;
pub use initramfs::Initramfs;
pub use kernel::{Kernel, ensure_kernel};
pub use qemu::{Qemu, QemuError, ensure_qemu};

/// What a run inside the VM produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub accel: Accel,
    /// Under [`AccelChoice::Auto`], why KVM was not used (if it was not).
    pub kvm_unusable: Option<String>,
    /// The script's output (standard output and error both reach the console).
    pub output: String,
    /// The script's exit code.
    pub code: i32,
    /// From starting qemu to the script's first line of output.
    pub first_output: Option<Duration>,
    /// From starting qemu to its exit.
    pub total: Duration,
    /// qemu's largest resident set size seen while it ran, in KiB.
    pub peak_rss_kib: u64,
}

/// The markers the guest's init prints around the script.
const READY: &str = "TINCAN-VM-READY";
const EXIT: &str = "TINCAN-VM-EXIT ";

/// The first init, on the initramfs. `pivot_root(2)` (chapter 3 on) refuses to
/// move the initramfs itself (it is the kernel's "rootfs" mount), so we move
/// everything to a tmpfs and switch the whole system onto it first. (Moving, not
/// copying: across file systems `mv` copies and deletes file by file, so the
/// files are in memory once, not twice.)
const STAGE1: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /new
/bin/busybox mount -t tmpfs -o mode=755,size=90% tmpfs /new
/bin/busybox cp -a /bin /new/
for entry in /*; do
    case "$entry" in /new|/bin|/init) ;; *) /bin/busybox mv "$entry" /new/ ;; esac
done
exec /bin/busybox switch_root /new /tincan/stage2
"#;

/// The second init: a minimal system with cgroup v2 as systemd would set it up
/// (the controllers handed down from the root), then the script.
const STAGE2: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
hostname tincan-vm
echo TINCAN-VM-READY
sh /tincan/script
echo "TINCAN-VM-EXIT $?"
reboot -f
"#;

/// A VM to run scripts in.
#[derive(Debug, Clone)]
pub struct Vm {
    pub kernel: Kernel,
    pub qemu: Qemu,
    /// What the guest's file system holds besides busybox and the init scripts.
    pub image: Initramfs,
    pub accel: AccelChoice,
    pub memory_mib: u32,
    /// The longest a run may take, boot included.
    pub timeout: Duration,
    /// Print the script's output as it comes, as well as returning it.
    pub echo: bool,
    /// Where the run's temporary files go.
    pub scratch: PathBuf,
}

impl Vm {
    /// A VM with `kernel`, run by `qemu`, busybox from `busybox` (a static
    /// one), and its temporary files under `scratch`.
    pub fn new(kernel: Kernel, qemu: Qemu, busybox: &Path, scratch: &Path) -> Result<Vm> {
        let mut image = Initramfs::new();
        image.host_file(busybox, "/bin/busybox")?;
        image.file("/init", STAGE1, 0o755);
        image.file("/tincan/stage2", STAGE2, 0o755);
        Ok(Vm {
            kernel,
            qemu,
            image,
            accel: AccelChoice::Auto,
            memory_mib: 512,
            timeout: Duration::from_secs(300),
            echo: false,
            scratch: scratch.to_owned(),
        })
    }

    /// Boot, run `script` with `sh`, power off.
    pub fn run(&self, script: &str) -> Result<Outcome> {
        std::fs::create_dir_all(&self.scratch)?;
        let dir = tempfile::Builder::new().prefix("run-").tempdir_in(&self.scratch)?;
        let mut image = self.image.clone();
        image.file("/tincan/script", script, 0o644);
        let initramfs = dir.path().join("initramfs.cpio");
        image.write(&initramfs)?;
        match self.accel {
            AccelChoice::Tcg => Ok(self.boot(Accel::Tcg, &initramfs)?),
            AccelChoice::Kvm => Ok(self.boot(Accel::Kvm, &initramfs)?),
            AccelChoice::Auto => {
                let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
                let dev_kvm = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm");
                let why = match kvm_unusable(&cpuinfo, dev_kvm.map(drop)) {
                    Some(why) => why,
                    None => match self.boot(Accel::Kvm, &initramfs) {
                        Ok(outcome) => return Ok(outcome),
                        Err(e) => e.summary(),
                    },
                };
                let mut outcome = self.boot(Accel::Tcg, &initramfs)?;
                outcome.kvm_unusable = Some(why);
                Ok(outcome)
            }
        }
    }

    fn boot(&self, accel: Accel, initramfs: &Path) -> Result<Outcome, BootError> {
        let mut qemu = self.qemu.command();
        qemu.args(["-M", "microvm,pit=on,pic=on,rtc=on", "-m", &self.memory_mib.to_string()])
            .args(["-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
            .args(["-serial", "stdio"])
            .arg("-kernel")
            .arg(&self.kernel.vmlinux)
            .arg("-initrd")
            .arg(initramfs);
        // `panic=-1`: a failing init reboots at once, and -no-reboot makes
        // that qemu's exit instead of a hang.
        // `tincan.vm`: a mark any program in the guest can read in /proc/cmdline
        // (the kernel ignores a dotted parameter no module claims). The escape
        // lab's harmful attacks refuse to run on a kernel without it.
        let mut cmdline = "console=ttyS0 quiet loglevel=1 panic=-1 tincan.vm".to_owned();
        match accel {
            Accel::Kvm => qemu.args(["-accel", "kvm", "-cpu", "host"]),
            Accel::Tcg => {
                // Emulated, the kernel's early clock calibration against the timer
                // chip fails now and then and hangs; telling it the TSC's speed
                // skips the calibration.
                if let Some(khz) = host_tsc_khz() {
                    cmdline.push_str(&format!(" tsc_early_khz={khz}"));
                }
                qemu.args(["-accel", "tcg", "-cpu", "max"])
            }
        };
        qemu.arg("-append").arg(cmdline);
        qemu.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let failed =
            |source| BootError::Run { program: self.qemu.program.display().to_string(), source };
        let child = qemu.spawn().map_err(failed)?;
        let mut qemu = Running(child);
        let lines = read_lines(qemu.0.stdout.take().expect("piped"));
        // KVM that cannot run a guest fails at once or never boots: give it less time.
        let boot_deadline = match accel {
            Accel::Kvm => Duration::from_secs(20),
            Accel::Tcg => self.timeout,
        };
        let mut outcome = Outcome {
            accel,
            kvm_unusable: None,
            output: String::new(),
            code: -1,
            first_output: None,
            total: Duration::ZERO,
            peak_rss_kib: 0,
        };
        let (mut booted, mut exited, mut console) = (false, false, Vec::new());
        loop {
            match lines.recv_timeout(Duration::from_millis(10)) {
                Ok((at, line)) => {
                    if !booted {
                        booted = line == READY;
                        console.push(line);
                    } else if let Some(code) = line.strip_prefix(EXIT) {
                        outcome.code = code.trim().parse().unwrap_or(-1);
                        exited = true;
                    } else if !exited {
                        outcome.first_output.get_or_insert(at - start);
                        if self.echo {
                            eprintln!("{line}");
                        }
                        outcome.output.push_str(&line);
                        outcome.output.push('\n');
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break, // qemu closed its output
            }
            outcome.peak_rss_kib = outcome.peak_rss_kib.max(rss_kib(qemu.0.id()));
            let deadline = if booted { self.timeout } else { boot_deadline };
            if start.elapsed() > deadline {
                // Stopped, qemu's error output ends, and tells what it knows.
                let _ = qemu.0.kill();
                let _ = qemu.0.wait();
                // Where it stopped: the boot's last lines, or the script's.
                console.extend(outcome.output.lines().map(str::to_owned));
                let (console, stderr) = (tail(&console), qemu.stderr());
                return Err(BootError::Timeout { limit: deadline, console, stderr });
            }
        }
        let status = qemu.0.wait().map_err(failed)?;
        outcome.total = start.elapsed();
        if !exited {
            let (console, stderr) = (tail(&console), qemu.stderr());
            return Err(BootError::Ended { accel, status, stderr, console });
        }
        Ok(outcome)
    }
}

/// The last lines of the console, to show where a boot (or a script) stopped.
fn tail(console: &[String]) -> String {
    console[console.len().saturating_sub(10)..].join("\n")
}

/// A running qemu, killed (by its PID) and reaped if we leave early.
struct Running(Child);

impl Running {
    /// What qemu wrote on its standard error, once it has ended.
    fn stderr(&mut self) -> String {
        let mut stderr = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        stderr.trim().to_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The serial console's lines, each with the moment it arrived.
fn read_lines(out: std::process::ChildStdout) -> mpsc::Receiver<(Instant, String)> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned();
            if send.send((Instant::now(), text)).is_err() {
                break;
            }
        }
    });
    receive
}

/// A process's resident set size, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The host CPU's clock in kHz, which is the TSC's on machines with a constant
/// TSC (all recent x86): what the guest would otherwise have to measure.
fn host_tsc_khz() -> Option<u64> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz")?.split(':').nth(1)?.trim().parse().ok())?;
    Some((mhz * 1000.0).round() as u64)
}
