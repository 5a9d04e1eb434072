//! `cargo xtask vm`: run a script in a small VM that carries the chapter
//! binaries, the probe and a root filesystem (see the `tincan-vm` crate).
//!
//! ```text
//! cargo xtask vm -- 'ch07 run --net none --memory 32m /rootfs tincan-probe cgroup'
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};
use tincan_vm::{AccelChoice, Outcome, Vm};

use crate::{probe, rootfs, workspace_root};

/// Where the VM's kernel, qemu (if the system has none), root filesystem and
/// per-run files live.
pub fn cache_dir() -> PathBuf {
    workspace_root().join("target/tincan-vm")
}

/// A VM whose `/usr/local/bin` has every chapter binary (`ch00` ... `ch07`) and
/// the probe, and whose `/rootfs` is a fresh test root filesystem.
pub fn standard_vm(accel: AccelChoice) -> Result<Vm> {
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--bins"])
        .status()?;
    if !status.success() {
        bail!("building the chapter binaries failed");
    }
    let probe = probe::build_static()?;
    let rootfs = cache_dir().join("rootfs");
    rootfs::build(&rootfs, true)?;
    let kernel = tincan_vm::ensure_kernel(&cache_dir())?;
    let qemu = tincan_vm::ensure_qemu(&cache_dir())?;
    let mut vm = Vm::new(kernel, qemu, &rootfs::static_busybox()?, &cache_dir().join("runs"))?;
    vm.accel = accel;
    for chapter in crate::check::chapters(&workspace_root())? {
        let bin = workspace_root().join("target/debug").join(&chapter);
        vm.image.program(&bin, &format!("/usr/local/bin/{chapter}"))?;
    }
    vm.image.host_file(&probe, "/usr/local/bin/tincan-probe")?;
    vm.image.tree(&rootfs, "/rootfs")?;
    Ok(vm)
}

/// `cargo xtask vm SCRIPT...`: run it, show its output, exit with its code.
pub fn run(script: &[String], accel: AccelChoice, timeout: Duration) -> Result<i32> {
    let mut vm = standard_vm(accel)?;
    vm.echo = true;
    vm.timeout = timeout;
    let outcome = vm.run(&script.join(" "))?;
    eprintln!("vm: {}", describe(&outcome, &vm.kernel.release));
    Ok(outcome.code)
}

/// One line about a run: kernel, accelerator (and why not KVM), times.
pub fn describe(outcome: &Outcome, release: &str) -> String {
    format!(
        "Linux {release} on {}; script exited {} after {:.1} s",
        accelerator(outcome),
        outcome.code,
        outcome.total.as_secs_f64()
    )
}

/// Which accelerator ran the VM, and why not KVM if it was not.
pub fn accelerator(outcome: &Outcome) -> String {
    match (&outcome.accel, &outcome.kvm_unusable) {
        (tincan_vm::Accel::Kvm, _) => "KVM".to_owned(),
        (tincan_vm::Accel::Tcg, None) => "TCG (software emulation)".to_owned(),
        (tincan_vm::Accel::Tcg, Some(why)) => {
            format!("TCG (software emulation; KVM did not work: {why})")
        }
    }
}
