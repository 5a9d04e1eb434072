//! Chapter 10: hardening, as the container sees it (the probe's report) and as
//! the attacks it stops feel it (an action that needs a capability, a
//! set-user-ID program, a disk's device node, a write to a read-only path).
//! Each sandbox has its own cgroup parent, so every test can check that nothing
//! is left (the v1 devices cgroup included). The cgroup v2 device program is
//! checked by the kernel's verifier in `device_program.rs`'s unit test; its run
//! on a v2 host belongs in the VM, with chapter 7's v2 tests.

crate::every_chapter_checks!("ch10");

use crate::support::images::{self, Format, ImageConfig};
use crate::support::{REGISTRY_TOOLS, Registry, RegistryAuth, Run, cgroups_named, tools_or_skip};

/// Docker's 14 but cap_net_raw, as the probe names them (in the kernel's order).
const DOCKER: &str = "cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,cap_setpcap,cap_net_bind_service,cap_sys_chroot,cap_mknod,cap_audit_write,cap_setfcap";

/// `ch10 run --net none OPTIONS ROOTFS ARGS` in a fresh sandbox; check that
/// it left no cgroup.
fn harden(options: &[&str], args: &[&str]) -> Run {
    run_in(Sandbox::new(), options, args)
}

fn run_in(sandbox: Sandbox, options: &[&str], args: &[&str]) -> Run {
    let sandbox = sandbox.options(&["--net", "none"]).options(options);
    let run = sandbox.run("ch10", args);
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<std::path::PathBuf>::new());
    run
}

/// The lines of one section of the probe's report (`capabilities`, `paths`).
fn section(report: &str, name: &str) -> String {
    let mut lines = report.lines().skip_while(|l| *l != name).skip(1);
    let mut out = String::new();
    while let Some(line) = lines.next().filter(|l| l.starts_with("  ")) {
        out.push_str(line.trim());
        out.push('\n');
    }
    out
}

fn caps(bounding: &str, effective: &str) -> String {
    format!(
        "bounding: {bounding}\neffective: {effective}\npermitted: {effective}\ninheritable: none\nambient: none\n"
    )
}

#[test]
fn root_gets_dockers_fourteen_but_net_raw_no_new_privs_and_a_filter() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = harden(&[], &[PROBE]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(section(&run.stdout, "capabilities"), caps(DOCKER, DOCKER), "{run:?}");
    assert_eq!(
        section(&run.stdout, "security"),
        "seccomp mode: 2 (filter)\nseccomp filters: 1\nno_new_privs: 1\n"
    );
}

/// A user that is not root gets the bounding set and nothing else: here made
/// so by the kernel when busybox's `su` calls setuid(2) (the image's `User`,
/// through chapter 8's switch: `an_image_user_holds_only_what_file_capabilities_give`).
#[test]
fn a_non_root_user_holds_no_capability() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = harden(&[], &["su", "-s", "/bin/sh", "nobody", "-c", PROBE]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(section(&run.stdout, "capabilities"), caps(DOCKER, "none"), "{run:?}");
}

/// `ch10 run OPTIONS IMAGE ARGS` in `sandbox` (whose store holds the image);
/// check that it left no cgroup.
fn run_image(sandbox: &Sandbox, options: &[&str], image: &str, args: &[&str]) -> Run {
    let ch10 = crate::support::chapter_bin("ch10").display().to_string();
    let words = [&[ch10.as_str(), "run", "--net", "none"], options, &[image], args].concat();
    let run = sandbox.script(&words.join(" "));
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<std::path::PathBuf>::new());
    run
}

/// An image whose config says `User: 1000`, through chapter 8's switch: the
/// list is the user's bounding, permitted and effective sets, as Docker sets
/// them today (`capabilities.rs`), and `execve(2)` of the probe empties the
/// permitted and effective ones — the kernel's rule for a user. A copy of the
/// probe with the file capability `cap_net_bind_service+ep` gets it (under
/// no_new_privs too) while the bounding set has it, and cannot run without.
#[test]
fn an_image_user_holds_only_what_file_capabilities_give() {
    let tools = [REGISTRY_TOOLS.as_slice(), &[("setcap", "libcap2-bin"), ("tar", "tar")]].concat();
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &tools) {
        return;
    }
    let sandbox = Sandbox::new();
    let fcap = "/usr/local/bin/fcap-probe";
    let copy = sandbox.rootfs().join(fcap.trim_start_matches('/'));
    std::fs::copy(sandbox.rootfs().join(PROBE), &copy).unwrap();
    let setcap = std::process::Command::new("setcap")
        .arg("cap_net_bind_service+ep")
        .arg(&copy)
        .status()
        .unwrap();
    assert!(setcap.success());
    let tar = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=security.capability", "-C"])
        .arg(sandbox.rootfs())
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", String::from_utf8_lossy(&tar.stderr));
    let registry = Registry::start(RegistryAuth::None);
    let config = ImageConfig {
        cmd: vec![format!("/{PROBE}")],
        user: Some("1000".to_owned()),
        ..ImageConfig::default()
    };
    images::push_layers(&registry, "user:v1", &[tar.stdout], &config, Format::Oci);
    let image = format!("{}/user:v1", registry.host());
    let pulled = sandbox.ch08(&["pull", &image]);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));

    let run = run_image(&sandbox, &[], &image, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("uid: 1000"), "{run:?}");
    assert_eq!(section(&run.stdout, "capabilities"), caps(DOCKER, "none"), "{run:?}");
    let only_bind = ["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"];
    let run = run_image(&sandbox, &only_bind, &image, &[]);
    assert_eq!(section(&run.stdout, "capabilities"), caps("cap_net_bind_service", "none"));
    let run = run_image(&sandbox, &only_bind, &image, &[fcap]);
    let bind = "cap_net_bind_service";
    assert_eq!(section(&run.stdout, "capabilities"), caps(bind, bind), "{run:?}");
    // Without it in the bounding set, the kernel will not run a program whose
    // file capabilities it cannot give (`man 7 capabilities`, "Safety checking
    // for capability-dumb binaries").
    let run = run_image(&sandbox, &["--cap-drop", "NET_BIND_SERVICE"], &image, &[fcap]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Operation not permitted"), "{run:?}");
}

#[test]
fn cap_drop_and_cap_add_change_every_set() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run =
        harden(&["--cap-drop", "ALL", "--cap-add", "chown", "--cap-add", "CAP_KILL"], &[PROBE]);
    assert_eq!(
        section(&run.stdout, "capabilities"),
        caps("cap_chown,cap_kill", "cap_chown,cap_kill")
    );
    // All that tincan holds (our machines' root lacks cap_sys_resource).
    let run = harden(&["--cap-add", "ALL", "--cap-drop", "sys_admin"], &[PROBE]);
    let sets = section(&run.stdout, "capabilities");
    for set in ["bounding", "effective", "permitted"] {
        let line = sets.lines().find(|l| l.starts_with(set)).unwrap_or_default();
        assert!(line.starts_with(&format!("{set}: all except ")), "{run:?}");
        assert!(line.contains("cap_sys_admin"), "{run:?}");
    }
}

// ANCHOR: chown
/// Giving a file away needs CAP_CHOWN: Docker's root has it; drop it and the
/// same command fails.
#[test]
fn without_cap_chown_root_cannot_give_a_file_away() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script = "touch /tmp/f && chown 1000 /tmp/f && echo given";
    let run = harden(&[], &["sh", "-c", script]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "given\n"), "{run:?}");
    let run = harden(&["--cap-drop", "CHOWN"], &["sh", "-c", script]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "chown: /tmp/f: Operation not permitted\n");
}
// ANCHOR_END: chown

/// A raw socket needs CAP_NET_RAW, which the default set leaves out (busybox's
/// `ping` opens one, and has no fallback to a ping socket); a new hostname
/// CAP_SYS_ADMIN, which Docker's set leaves out too (the container has its own
/// UTS namespace, in a sandbox of its own: the host's name is safe either way).
#[test]
fn net_raw_and_sys_admin_follow_the_options() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script =
        "ping -c1 -W1 127.0.0.1 >/dev/null && echo pinged; hostname renamed && echo renamed";
    let run = harden(&[], &["sh", "-c", script]);
    assert_eq!(run.stdout, "", "{run:?}");
    assert_eq!(
        run.stderr,
        "ping: permission denied (are you root?)\nhostname: sethostname: Operation not permitted\n"
    );
    let run = harden(&["--cap-add", "NET_RAW", "--cap-add", "SYS_ADMIN"], &["sh", "-c", script]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("pinged\nrenamed\n", ""), "{run:?}");
}

/// Without CAP_NET_RAW, `ping` takes a ping socket: every group may open one
/// in the container's own network namespace, as in Docker's. With `--net
/// host` the namespace is the host's, and so is its setting: left as it was.
#[test]
fn every_group_may_ping_in_its_own_network_only() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sysctl = "/proc/sys/net/ipv4/ping_group_range";
    let run = harden(&[], &["cat", sysctl]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "0\t2147483647\n"), "{run:?}");
    let host = std::fs::read_to_string(sysctl).unwrap();
    let sandbox = Sandbox::new().options(&["--net", "host"]);
    let run = sandbox.run("ch10", &["cat", sysctl]);
    assert_eq!((run.code, run.stdout.as_str()), (0, host.as_str()), "{run:?}");
    assert_eq!(std::fs::read_to_string(sysctl).unwrap(), host);
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<std::path::PathBuf>::new());
}

/// A set-user-ID-root copy of the probe, run by `nobody`: with no_new_privs it
/// runs as nobody, with no capability. Chapter 8, without no_new_privs, is the
/// control: there the same program gets root's capabilities.
#[test]
fn a_set_user_id_program_gains_nothing() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let suid = "/usr/local/bin/suid-probe";
    let sandbox = || {
        let sandbox = Sandbox::new();
        let copy = sandbox.rootfs().join(suid.trim_start_matches('/'));
        std::fs::copy(sandbox.rootfs().join(PROBE), &copy).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
        sandbox
    };
    let args = ["su", "-s", "/bin/sh", "nobody", "-c", suid];
    let hardened = run_in(sandbox(), &[], &args);
    assert_eq!(hardened.code, 0, "{hardened:?}");
    let effective =
        |run: &Run| section(&run.stdout, "capabilities").lines().nth(1).map(str::to_owned);
    assert_eq!(effective(&hardened).as_deref(), Some("effective: none"), "{hardened:?}");
    let control = sandbox().options(&["--net", "none"]).run("ch08", &args);
    assert_ne!(effective(&control).as_deref(), Some("effective: none"), "{control:?}");
}

/// Every one of Docker's masked paths is masked in the container, and every
/// read-only path read-only — or absent on the host as well (this kernel may
/// lack `/proc/kcore`, `/proc/sysrq-trigger`, ...; the container's `/proc` and
/// `/sys` are the same kernel's). Then by hand: a masked file reads empty, a
/// read-only one refuses a write.
#[test]
fn masked_paths_are_empty_and_read_only_paths_refuse_writes() {
    use ch10_harden::paths::{MASKED, READ_ONLY};
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = harden(
        &[],
        &[
            "sh",
            "-c",
            &format!("{PROBE}; cat /proc/keys | wc -c; echo x > /proc/sys/kernel/hostname"),
        ],
    );
    let paths = section(&run.stdout, "paths");
    let expected =
        MASKED.map(|p| (p, "masked")).into_iter().chain(READ_ONLY.map(|p| (p, "read-only")));
    for (path, state) in expected {
        let on_host = std::path::Path::new(path).exists();
        let expected = if on_host { state } else { "absent" };
        assert!(paths.contains(&format!("{path}: {expected}\n")), "{path}: {expected}: {paths}");
    }
    let throttles = ch10_harden::paths::thermal_throttle().unwrap();
    let on_host = throttles.iter().any(|p| std::path::Path::new(p).exists());
    let expected = if on_host { "masked" } else { "absent" };
    let line = format!("/sys/devices/system/cpu/cpu*/thermal_throttle: {expected}\n");
    assert!(paths.contains(&line), "{line}: {paths}");
    assert_eq!(paths.lines().count(), MASKED.len() + READ_ONLY.len() + 1, "{paths}");
    assert!(run.stdout.ends_with("\n0\n"), "/proc/keys reads empty: {run:?}");
    assert!(run.stderr.contains("Read-only file system"), "{run:?}");
}

/// A character major no driver has: 60 is "for local/experimental use" in the
/// kernel's `Documentation/admin-guide/devices.txt`, never handed out
/// dynamically. Opening such a node reaches no driver (`ENXIO`), so the test is
/// harmless whatever happens — unlike a disk's `b 8 0`.
const NO_DRIVER_MAJOR: u32 = 60;

/// CAP_MKNOD is in Docker's set, so a node can be made; the devices cgroup
/// refuses to open it (EPERM) before the kernel looks for its driver. The
/// control, chapter 8 (no devices cgroup), gets as far as the missing driver
/// (ENXIO). The nodes are in the sandboxes' own rootfs copies.
#[test]
fn a_device_node_can_be_made_but_not_opened() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let devices = std::fs::read_to_string("/proc/devices").unwrap();
    let char_majors = devices.lines().skip(1).take_while(|l| !l.is_empty());
    let taken = char_majors.filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok());
    assert!(!taken.collect::<Vec<_>>().contains(&NO_DRIVER_MAJOR), "{devices}");
    let script = format!(
        "mknod /tmp/node c {NO_DRIVER_MAJOR} 0 && echo made; head -c1 /tmp/node; head -c1 /dev/urandom | wc -c"
    );
    let run = harden(&[], &["sh", "-c", &script]);
    assert_eq!(run.stdout, "made\n1\n", "{run:?}");
    assert_eq!(run.stderr, "head: /tmp/node: Operation not permitted\n");
    // runc's list has /dev/net/tun (c 10:200): it opens (an interface would
    // take CAP_NET_ADMIN). A failed redirection ends busybox's shell: a subshell.
    let tun = "mknod /tmp/tun c 10 200 && (: </tmp/tun) && echo tun";
    let run = harden(&[], &["sh", "-c", tun]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("tun\n", ""), "{run:?}");
    let control = Sandbox::new().options(&["--net", "none"]).run("ch08", &["sh", "-c", &script]);
    assert_eq!(control.stdout, "made\n1\n", "{control:?}");
    assert_eq!(control.stderr, "head: /tmp/node: No such device or address\n");
}

/// Devices never fail open: in a sandbox whose mount table lacks the v1
/// devices controller (unmounted in the sandbox's own mount namespace; the
/// host keeps it), and where chapter 7 puts the container in no v2 cgroup (a
/// hybrid host's v2 tree holds no controller it uses), root is refused, with a
/// line saying what to do. On a pure v2 host the program is always attached.
#[test]
fn no_device_control_no_container() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let layout = ch07_cgroups::Layout::detect().unwrap();
    if layout.used().iter().any(|h| h.version == ch07_cgroups::Version::V2) {
        // The program is attached here whatever v1 has: nothing to refuse.
        eprintln!("{}: the container gets a v2 cgroup on this host", module_path!());
        return;
    }
    let devices = layout.hierarchies.iter().find(|h| h.controllers.iter().any(|c| c == "devices"));
    let devices = devices.expect("the v1 devices controller, as there is no v2 cgroup");
    let sandbox = Sandbox::new().before(format!("umount {}", devices.mount.display()));
    let run = run_in(sandbox, &[], &["echo", "started"]);
    assert_eq!((run.code, run.stdout.as_str()), (125, ""), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains(ch10_harden::devices::NO_DEVICE_CONTROL), "{run:?}");
}

#[test]
fn read_only_keeps_the_root_and_leaves_dev_writable() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script = "touch /tmp/x; touch /dev/shm/x && echo shm";
    let run = harden(&["--read-only"], &["sh", "-c", script]);
    assert_eq!(run.stdout, "shm\n", "{run:?}");
    assert_eq!(run.stderr, "touch: /tmp/x: Read-only file system\n");
    let run = harden(&[], &["sh", "-c", script]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("shm\n", ""), "{run:?}");
}

#[test]
fn seccomp_unconfined_and_a_profile_of_ones_own() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = harden(&["--security-opt", "seccomp=unconfined"], &[PROBE]);
    assert!(
        section(&run.stdout, "security").starts_with("seccomp mode: 0 (disabled)\n"),
        "{run:?}"
    );
    // Allow everything but mkdir, which fails with EPERM (1).
    let sandbox = Sandbox::new();
    let profile = sandbox.dir().join("no-mkdir.json");
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
    std::fs::write(&profile, json).unwrap();
    let option = format!("seccomp={}", profile.display());
    let run = run_in(sandbox, &["--security-opt", &option], &["mkdir", "/tmp/d"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "mkdir: can't create directory '/tmp/d': Operation not permitted\n");
}

/// Docker's default filter at work, with the probe's attacks: a new user
/// namespace (in which the container's root would hold every capability
/// again) and the kernel's key rings (not namespaced: root's keyring is every
/// container's) are refused by seccomp. The control, `seccomp=unconfined` with
/// the same capabilities: the namespace is made (the attack mounts a tmpfs in
/// a mount namespace of its own, which goes with it), and the key search
/// reaches the kernel, which has no such key.
#[test]
fn the_default_filter_refuses_user_namespaces_and_key_rings() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script = format!(
        "/{PROBE} attack unshare-user tincan-ch10-userns; /{PROBE} attack keyctl tincan-ch10-key"
    );
    let run = harden(&[], &["sh", "-c", &script]);
    assert_eq!(
        run.stdout,
        "BLOCKED: unshare(CLONE_NEWUSER): EPERM: Operation not permitted\n\
         BLOCKED: search root's keyring for tincan-ch10-key: EPERM: Operation not permitted\n",
        "{run:?}"
    );
    let control = harden(&["--security-opt", "seccomp=unconfined"], &["sh", "-c", &script]);
    let lines: Vec<&str> = control.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{control:?}");
    assert!(
        lines[0].starts_with("TRIED: in a new user namespace with capabilities "),
        "{control:?}"
    );
    assert!(lines[0].ends_with("; mounted a tmpfs on /tmp"), "{control:?}");
    assert_eq!(
        lines[1],
        "BLOCKED: search root's keyring for tincan-ch10-key: ENOKEY: Required key not available",
        "{control:?}"
    );
}

#[test]
fn bad_options_say_what_to_do() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = harden(&["--cap-add", "CAP_FLY"], &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(
        run.stderr
            .contains("unknown capability \"CAP_FLY\": give a name from `man 7 capabilities`"),
        "{run:?}"
    );
    let run = harden(&["--security-opt", "seccomp=/no/such/profile.json"], &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(
        run.stderr.starts_with("ch10: the seccomp profile /no/such/profile.json does not exist: "),
        "{run:?}"
    );
    let run = harden(&["--security-opt", "label=disable"], &["true"]);
    assert!(
        run.stderr
            .contains("tincan knows --security-opt seccomp=PROFILE.json and seccomp=unconfined"),
        "{run:?}"
    );
}

/// The cgroup v2 device program, in the kernel: a shell in a v2 cgroup that
/// has it may open `/dev/null` but not `/dev/kmsg` (c 1:11, not in the list;
/// harmless to open had the program failed). On a hybrid host such as ours the
/// v2 tree (`/sys/fs/cgroup/unified`) decides alone for a process whose v1
/// devices cgroup is the root's; the VM runs the whole of `ch10` on pure v2.
#[test]
fn the_v2_device_program_lets_only_the_default_devices_be_opened() {
    use ch10_harden::device_program::{attach, load, program};
    use std::os::fd::AsFd;
    if !root_or_skip(module_path!()) {
        return;
    }
    let layout = ch07_cgroups::Layout::detect().unwrap();
    let v2 = layout.hierarchies.iter().find(|h| h.version == ch07_cgroups::Version::V2);
    let v2 = v2.expect("a cgroup v2 hierarchy (hybrid or pure)");
    /// Removes the cgroup (and tincan-test/, once empty), also when the test fails.
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
            let _ = self.0.parent().map(std::fs::remove_dir); // others' cgroups may be in it
        }
    }
    let cgroup = v2.mount.join("tincan-test").join(crate::support::marker("devices"));
    std::fs::create_dir_all(&cgroup).unwrap();
    let _removed = Removed(cgroup.clone());
    let loaded = load(&program(&ch10_harden::devices::DEFAULT_RULES)).unwrap();
    let dir = std::fs::File::open(&cgroup).unwrap();
    attach(loaded.as_fd(), dir.as_fd()).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && : </dev/null && echo null && : </dev/kmsg && echo kmsg",
        cgroup.display()
    );
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null\n", "{stderr}");
    assert!(stderr.contains("/dev/kmsg: Operation not permitted"), "{stderr}");
}

/// A runtime killed once the devices cgroup is made (and once the command
/// runs) leaves its record; `ch10 cleanup` removes the cgroup from it.
#[test]
fn cleanup_removes_the_devices_cgroup_of_a_killed_runtime() {
    if !root_or_skip(module_path!()) {
        return;
    }
    for point in ["devices", "start"] {
        let sandbox = Sandbox::new();
        let ch10 = crate::support::chapter_bin("ch10").display().to_string();
        let (rootfs, dir) = (sandbox.rootfs(), sandbox.dir().display().to_string());
        let script = format!(
            "TINCAN_TEST_PAUSE_AFTER='{point}' {ch10} run --net none {rootfs} sleep 100 2> {dir}/err & runtime=$!\n\
             n=0; until grep -q 'paused after' {dir}/err || ! kill -0 $runtime 2>/dev/null || [ $n -ge 250 ]; do sleep 0.02; n=$((n+1)); done\n\
             cat {dir}/err; kill -KILL $runtime; wait $runtime; echo killed $?\n\
             {ch10} cleanup; echo cleanup $?",
            rootfs = rootfs.display()
        );
        let run = sandbox.script(&script);
        assert_eq!(run.stdout, format!("paused after {point}\nkilled 137\ncleanup 0\n"), "{run:?}");
        let left = cgroups_named(&sandbox.cgroup_parent());
        assert_eq!(left, Vec::<std::path::PathBuf>::new(), "after {point}");
    }
}
