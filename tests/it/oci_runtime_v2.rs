//! The OCI runtime on cgroup v2, inside the VM (pure v2; our machines are
//! hybrid, where v1's freezer and devices controllers decide).

use std::path::Path;

use crate::support::{qemu_or_skip, root_or_skip, try_in_vm_with};

/// Another container's cgroup — a process in it — named by `cgroupsPath`:
/// `create` is refused, and that cgroup is left as it was, its process
/// alive and not frozen. (On v2 the freezer is chapter 7's cgroup itself:
/// recorded as the container's only once chapter 7 has made it, else the
/// failed `create`'s clean-up would kill what is in it.)
const SCRIPT: &str = "mkdir -p /sys/fs/cgroup/p/theirs; sleep 300 & theirs=$!; \
    echo $theirs > /sys/fs/cgroup/p/theirs/cgroup.procs; \
    mkdir /b && ln -s /rootfs /b/rootfs && cd /b && tincan spec && \
    sed -i 's|\"linux\": {|\"linux\": { \"cgroupsPath\": \"/p/theirs\",|' config.json; \
    tincan create x > /dev/null 2> /b/err < /dev/null; echo \"create $?\"; \
    grep -c 'exists already' /b/err; \
    kill -0 $theirs && echo theirs alive; cat /sys/fs/cgroup/p/theirs/cgroup.freeze; \
    cat /sys/fs/cgroup/p/theirs/cgroup.procs | wc -l; tincan list -q | wc -l; kill $theirs";

#[test]
fn another_containers_cgroup_is_refused_and_left_alone() {
    if !(root_or_skip(module_path!()) && qemu_or_skip(module_path!())) {
        return;
    }
    let tincan = Path::new(env!("CARGO_BIN_EXE_tincan"));
    let outcome = try_in_vm_with(SCRIPT, std::time::Duration::from_secs(300), |vm, _| {
        vm.image.program(tincan, "/usr/local/bin/tincan")?;
        // Room for the runtime beside the chapters: the archive is unpacked
        // in memory, and one too large for it is cut short without a word.
        vm.memory_mib = 1024;
        Ok(String::new())
    })
    .expect("the VM ran");
    assert_eq!(outcome.output, "create 1\n1\ntheirs alive\n0\n1\n0\n", "{outcome:?}");
}
