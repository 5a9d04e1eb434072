//! Chapter 10 on cgroup v2, inside the VM (pure v2; our machines are hybrid,
//! where the v1 devices controller decides): the device program that `ch10`
//! writes by hand, loads and attaches to the container's cgroup, with the whole
//! of chapter 10 around it (Docker's seccomp profile included).

use std::path::Path;

use crate::support::{chapter_bin, qemu_or_skip, root_or_skip, try_in_vm_with};

/// In the container: any node may be made (`b 8:0`, the first disk's numbers,
/// and `c 1:11`, `/dev/kmsg`'s); of the two that exist here only the default
/// `/dev/null` opens. Then whether anything of tincan's is left in the VM's
/// cgroup tree. (A failed redirection ends busybox's shell: hence the subshells.)
const SCRIPT: &str = "ch10 run --net none /rootfs sh -c \
    'mknod /tmp/disk b 8 0 && mknod /tmp/kmsg c 1 11 && echo made; \
     (: </dev/null) && echo null; (: </tmp/kmsg) && echo kmsg; true'; \
    echo \"exit $?\"; ls /sys/fs/cgroup | grep -c tincan";

#[test]
fn only_the_default_devices_open_under_the_bpf_program() {
    if !(root_or_skip(module_path!()) && qemu_or_skip(module_path!())) {
        return;
    }
    let profile = ch10_harden::seccomp::DEFAULT_PROFILE;
    let outcome = try_in_vm_with(SCRIPT, std::time::Duration::from_secs(300), |vm, kernel| {
        vm.image.program(&chapter_bin("ch10"), "/usr/local/bin/ch10")?;
        vm.image.host_file(Path::new(profile), profile)?;
        let overlay = vm.image.modules(kernel, &["overlay"])?;
        Ok(overlay.iter().map(|m| format!("insmod {m}\n")).collect())
    })
    .expect("the VM ran");
    assert_eq!(
        outcome.output,
        "made\nnull\nsh: can't open /tmp/kmsg: Operation not permitted\nexit 0\n0\n",
        "{outcome:?}"
    );
}
