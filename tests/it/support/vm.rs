//! The VM the cgroup v2 tests and the escape lab's harmful attacks run in (the
//! `tincan-vm` crate): Debian's kernel, with this build's chapter binaries, the
//! probe and the test rootfs at `/rootfs`.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::{CHAPTERS, PROBE, chapter_bin, template_rootfs};

/// Each VM keeps a CPU busy (software emulation). The CPU-quota test must not
/// compete with another VM for it: [`try_in_vm`] runs alone (a write lock);
/// the escape lab's VMs, which only need to finish, share the machine (a read
/// lock), two at a time on two cores.
static CPUS: RwLock<()> = RwLock::new(());

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

/// Run `script` in a fresh VM that may take `timeout`, boot included, with no
/// other VM running.
pub fn try_in_vm(script: &str, timeout: std::time::Duration) -> anyhow::Result<tincan_vm::Outcome> {
    let _alone = CPUS.write().unwrap_or_else(|e| e.into_inner());
    boot(script, timeout, |_, _| Ok(String::new()))
}

/// Run `script` in a fresh VM that `extra` adds to (programs, modules, memory):
/// what `extra` returns runs first, in the same shell. Other VMs of this kind
/// may run beside it.
pub fn try_in_vm_with(
    script: &str,
    timeout: std::time::Duration,
    extra: impl FnOnce(&mut tincan_vm::Vm, &tincan_vm::Kernel) -> anyhow::Result<String>,
) -> anyhow::Result<tincan_vm::Outcome> {
    let _shared = CPUS.read().unwrap_or_else(|e| e.into_inner());
    boot(script, timeout, extra)
}

fn boot(
    script: &str,
    timeout: std::time::Duration,
    extra: impl FnOnce(&mut tincan_vm::Vm, &tincan_vm::Kernel) -> anyhow::Result<String>,
) -> anyhow::Result<tincan_vm::Outcome> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let cache = cache_dir();
    // This run's own scratch directory: another VM may be running beside it.
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let scratch = cache.join("runs").join(format!("{}-{n}", std::process::id()));
    let kernel = tincan_vm::ensure_kernel(&cache).expect("the VM's kernel");
    let qemu = tincan_vm::ensure_qemu(&cache).expect("qemu");
    let rootfs: PathBuf = template_rootfs();
    let busybox = rootfs.join("bin/busybox");
    let mut vm = tincan_vm::Vm::new(kernel.clone(), qemu, &busybox, &scratch).expect("a VM");
    vm.timeout = timeout;
    for chapter in CHAPTERS {
        let guest = format!("/usr/local/bin/{chapter}");
        vm.image.program(&chapter_bin(chapter), &guest).expect("add a chapter binary");
    }
    vm.image.host_file(&rootfs.join(PROBE), "/usr/local/bin/tincan-probe").expect("add the probe");
    vm.image.tree(&rootfs, "/rootfs").expect("add the rootfs");
    let prelude = extra(&mut vm, &kernel)?;
    let outcome = vm.run(&format!("{prelude}{script}"));
    let left: Vec<_> =
        std::fs::read_dir(&scratch).expect("the run's directory").flatten().collect();
    assert!(left.is_empty(), "the VM left files behind: {left:?}");
    std::fs::remove_dir(&scratch).expect("remove the run's directory");
    assert_eq!(our_qemus(&scratch), 0, "a qemu process outlived its run");
    outcome
}

/// How many of this test process's children are qemu, run with files from
/// `scratch`.
fn our_qemus(scratch: &Path) -> usize {
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
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let scratch = scratch.as_os_str().as_encoded_bytes();
            cmdline.windows(scratch.len()).any(|w| w == scratch)
        })
        .count()
}
