//! The VM the cgroup v2 tests and the escape lab's harmful attacks run in (the
//! `tincan-vm` crate): Debian's kernel, with this build's chapter binaries, the
//! probe and the test rootfs at `/rootfs`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{CHAPTERS, PROBE, chapter_bin, template_rootfs};

/// One VM at a time: each keeps a CPU busy (software emulation), and the
/// CPU-quota test must not compete with another VM for it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where the VM's kernel (and qemu, if the system has none) is cached:
/// `cargo xtask test` and `check` say (a workshop's workspace shares it); run
/// directly, this workspace's target/.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("TINCAN_VM_CACHE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tincan-vm"),
        PathBuf::from,
    )
}

/// Run `script` in a fresh VM; return its output and exit code. Checks that the
/// VM left nothing: no qemu process, no file of the run.
pub fn run_in_vm(script: &str) -> tincan_vm::Outcome {
    try_in_vm(script, std::time::Duration::from_secs(180)).expect("run the script in the VM")
}

/// Run `script` in a fresh VM that may take `timeout`, boot included.
pub fn try_in_vm(script: &str, timeout: std::time::Duration) -> anyhow::Result<tincan_vm::Outcome> {
    try_in_vm_with(script, timeout, |_, _| Ok(String::new()))
}

/// Run `script` in a fresh VM that `extra` adds to (programs, modules, memory):
/// what `extra` returns runs first, in the same shell.
pub fn try_in_vm_with(
    script: &str,
    timeout: std::time::Duration,
    extra: impl FnOnce(&mut tincan_vm::Vm, &tincan_vm::Kernel) -> anyhow::Result<String>,
) -> anyhow::Result<tincan_vm::Outcome> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache_dir();
    let kernel = tincan_vm::ensure_kernel(&cache).expect("the VM's kernel");
    let qemu = tincan_vm::ensure_qemu(&cache).expect("qemu");
    let rootfs: PathBuf = template_rootfs();
    let busybox = rootfs.join("bin/busybox");
    let mut vm =
        tincan_vm::Vm::new(kernel.clone(), qemu, &busybox, &cache.join("runs")).expect("a VM");
    vm.timeout = timeout;
    for chapter in CHAPTERS {
        let guest = format!("/usr/local/bin/{chapter}");
        vm.image.program(&chapter_bin(chapter), &guest).expect("add a chapter binary");
    }
    vm.image.host_file(&rootfs.join(PROBE), "/usr/local/bin/tincan-probe").expect("add the probe");
    vm.image.tree(&rootfs, "/rootfs").expect("add the rootfs");
    let prelude = extra(&mut vm, &kernel)?;
    let outcome = vm.run(&format!("{prelude}{script}"));
    let runs: Vec<_> = std::fs::read_dir(cache.join("runs")).expect("runs/").flatten().collect();
    assert!(runs.is_empty(), "the VM left files behind: {runs:?}");
    assert_eq!(our_qemus(), 0, "a qemu process outlived its run");
    outcome
}

/// How many of this test process's children are qemu.
fn our_qemus() -> usize {
    let me = std::process::id();
    let tasks = std::fs::read_dir(format!("/proc/{me}/task")).expect("own tasks");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("qemu"))
        })
        .count()
}
