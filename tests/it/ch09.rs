//! Chapter 9: user namespaces. Without `--userns` or maps, root's `ch09` is
//! chapter 8 (the checks every chapter passes); with them, the container's
//! root is 0 inside and an unprivileged ID outside: seen in its maps, in the
//! owners of the files it leaves, in what it may no longer do, and in an image
//! whose layers show their owners through idmapped mounts.

crate::every_chapter_checks!("ch09");
crate::terminal_checks!("ch09", "/dev/pts/0");

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::support::images::{self, Format, OPAQUE_DIR, OWNED, THREE};
use crate::support::{REGISTRY_TOOLS, Registry, RegistryAuth, chapter_bin, tools_or_skip};

/// A sandbox whose containers run with `options` and no network. (Its
/// directory, where the store is, lets others pass: the container's root, no
/// longer the host's root, must pass through it to reach its own directory.)
fn sandbox(options: &[&str]) -> Sandbox {
    Sandbox::new().options(&["--net", "none"]).options(options)
}

/// The names in `dir` (empty if it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// Nothing of the container is left: not its directory in the store, not
/// its state.
#[track_caller]
fn nothing_left(sandbox: &Sandbox) {
    assert_eq!(names(&sandbox.store_dir().join("containers")), Vec::<String>::new());
    assert_eq!(names(&sandbox.state_dir().join("containers")), Vec::<String>::new());
}

/// Inside, the maps are what `--uidmap` and `--gidmap` say and `id` is 0;
/// outside, the same process is the host's 300000 and 400000.
#[test]
fn the_maps_seen_inside_and_the_ids_seen_outside() {
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &[("pgrep", "procps")]) {
        return;
    }
    let sandbox = sandbox(&["--uidmap", "0:300000:65536", "--gidmap", "0:400000:1000"]);
    let inside = "cat /proc/self/uid_map /proc/self/gid_map; id; exec sleep 30";
    let script = format!(
        "{} sh -c '{inside}' &\n\
         for i in $(seq 100); do pid=$(pgrep -u 300000 -x sleep) && break; sleep 0.1; done\n\
         grep -E '^(Uid|Gid):' /proc/$pid/status\n\
         kill $pid; wait",
        sandbox.command_line("ch09")
    );
    let run = sandbox.script(&script);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "0     300000      65536",
            "0     400000       1000",
            "uid=0(root) gid=0(root)",
            "Uid:\t300000\t300000\t300000\t300000",
            "Gid:\t400000\t400000\t400000\t400000",
        ],
        "{run:?}"
    );
    nothing_left(&sandbox);
}

/// What the container writes lands in its upper directory as the host's
/// mapped IDs: its root's files are 100000's, its user 1000's are 101000's.
#[test]
fn files_the_container_creates_belong_to_the_mapped_ids_outside() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = sandbox(&["--keep", "--uidmap", "0:100000:65536"]);
    let run = sandbox
        .run("ch09", &["sh", "-c", "echo hi > /made; mkdir /d; touch /d/u; chown 1000:1000 /d/u"]);
    assert_eq!(run.code, 0, "{run:?}");
    let kept = names(&sandbox.store_dir().join("containers"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dir = sandbox.store_dir().join("containers").join(&kept[0]);
    let owner = |path: &str| {
        let meta = std::fs::symlink_metadata(dir.join(path)).unwrap();
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner("."), (0, 100000), "the container's directory stays root's");
    assert_eq!(owner("upper"), (100000, 100000));
    assert_eq!(owner("upper/made"), (100000, 100000));
    assert_eq!(owner("upper/d"), (100000, 100000));
    assert_eq!(owner("upper/d/u"), (101000, 101000));
    // The rootfs itself is untouched, and still the host's root's.
    assert!(!sandbox.rootfs().join("made").exists());
    assert_eq!(std::fs::metadata(sandbox.rootfs().join("bin")).unwrap().uid(), 0);
}

/// The container's directory stays root's (mode 710, the container's root's
/// group): the host's ID of the container's root may pass through it to its
/// `upper/`, and no more. Were the directory its own, it could swap `lower/`
/// for a symbolic link to any host directory while the runtime sets up, and
/// root would map that directory into the container. Tried here while the
/// runtime waits just before `clone`, with everything made.
#[test]
fn the_container_s_root_cannot_swap_the_directory_of_its_layers() {
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &[("setpriv", "util-linux")])
    {
        return;
    }
    let sandbox = sandbox(&["--uidmap", "0:100000:65536"]);
    let dir = sandbox.dir().display().to_string();
    let script = format!(
        "TINCAN_TEST_PAUSE_AFTER=clone {run} true 2> {dir}/err & runtime=$!\n\
         n=0; until grep -q 'paused after' {dir}/err || [ $n -ge 250 ]; do sleep 0.02; n=$((n+1)); done\n\
         d=$TINCAN_ROOT/containers/$(ls $TINCAN_ROOT/containers)\n\
         stat -c '%u:%g %a' $d\n\
         as='setpriv --reuid 100000 --regid 100000 --clear-groups'\n\
         $as mv $d/lower $d/moved 2>/dev/null && echo moved || echo not moved\n\
         $as ln -s / $d/planted 2>/dev/null && echo planted || echo not planted\n\
         $as ls $d >/dev/null 2>&1 && echo listed || echo not listed\n\
         $as touch $d/upper/mine && echo upper is its own\n\
         kill -KILL $runtime; wait $runtime\n\
         {bin} cleanup; echo cleanup $?",
        run = sandbox.command_line("ch09"),
        bin = chapter_bin("ch09").display(),
    );
    let run = sandbox.script(&script);
    assert_eq!(
        run.stdout,
        "0:100000 710\nnot moved\nnot planted\nnot listed\nupper is its own\ncleanup 0\n",
        "{run:?}"
    );
    nothing_left(&sandbox);
}

/// Root inside is not root outside: it cannot read a host file that only the
/// host's root may (owned by an ID outside its map), nor make a device node.
/// Chapter 8's root can do both.
#[test]
fn root_inside_cannot_do_what_root_outside_can() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let attempts = "cat /secret && echo read; mknod /null c 1 3 && echo made; id -u";
    for (chapter, options, expected) in [
        ("ch08", &[][..], "secret\nread\nmade\n0\n"),
        ("ch09", &["--uidmap", "0:100000:65536"][..], "0\n"),
    ] {
        let sandbox = sandbox(options);
        let secret = sandbox.rootfs().join("secret");
        std::fs::write(&secret, "secret\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        // 70000 is the host's, mapped to no one in the container.
        std::os::unix::fs::chown(&secret, Some(70000), Some(70000)).unwrap();
        let run = sandbox.run(chapter, &["sh", "-c", attempts]);
        assert_eq!(run.stdout, expected, "{chapter}: {run:?}");
        if chapter == "ch09" {
            assert!(run.stderr.contains("cat: can't open '/secret': Permission denied"), "{run:?}");
            assert!(run.stderr.contains("mknod: /null: Operation not permitted"), "{run:?}");
        }
    }
}

/// The container's `/dev` has the host's own device nodes (bound: `mknod`
/// is refused in a user namespace), and they work; `/proc` and `/sys` are
/// mounted, and the container's; the bridge and its `/etc` files work too.
#[test]
fn dev_proc_sys_and_the_network_work_in_a_user_namespace() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().options(&["--uidmap", "0:100000:65536"]);
    let script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev/pts >/dev/null && echo pts; \
                  echo $$; test -d /sys/class/net/eth0 && echo sys; cat /etc/hostname | wc -l";
    let run = sandbox.run("ch09", &["sh", "-c", script]);
    assert_eq!(run.stdout, "4\npts\n1\nsys\n1\n", "{run:?}");
    nothing_left(&sandbox);
}

/// Maps that are wrong are refused before anything is made, in words.
#[test]
fn bad_maps_are_refused_with_what_to_do() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = sandbox(&[]);
    let rootfs = sandbox.rootfs();
    let refused = |options: &[&str]| {
        let out = Command::new(chapter_bin("ch09"))
            .arg("run")
            .args(options)
            .arg(&rootfs)
            .arg("true")
            .envs(sandbox.env(true))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{options:?} ran");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let error = refused(&["--uidmap", "0:100000"]);
    assert!(error.contains("\"0:100000\" is not a map: write CONTAINER:HOST:COUNT"), "{error}");
    let error = refused(&["--uidmap", "0:100000:0"]);
    assert!(error.contains("a map of 0 IDs maps nothing"), "{error}");
    let error = refused(&["--uidmap", "0:100000:100", "--uidmap", "50:300000:10"]);
    assert_eq!(
        error,
        "ch09: --uidmap 0:100000:100 and 50:300000:10 overlap inside the container: each ID may be mapped once\n"
    );
    let error = refused(&["--gidmap", "0:100000:100", "--gidmap", "100:100050:10"]);
    assert!(error.contains("--gidmap 0:100000:100 and 100:100050:10 overlap outside"), "{error}");
    let error = refused(&["--uidmap", "0:0:65536"]);
    assert!(
        error.contains("--uidmap 0:0:65536 maps the host's root (0) into the container"),
        "{error}"
    );
    let error = refused(&[
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:1000",
        "--gidmap",
        "1000:0:1",
    ]);
    assert!(error.contains("--gidmap 1000:0:1 maps the host's root (0)"), "{error}");
    let error = refused(&["--uidmap", "1:100000:100"]);
    assert!(error.contains("--uidmap does not map the container's 0"), "{error}");
    let error = refused(&["--userns", "--uidmap", "0:100000:1"]);
    assert!(error.contains("cannot be used with"), "{error}");
    let error = refused(&["--uidmap", "0:100000:10", "--net", "host"]);
    assert!(error.contains("--net host and a user namespace"), "{error}");
    // Unless this machine gives `tincan` a range of its own:
    let _turn = REMAP_TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !has_range("/etc/subuid") {
        let error = refused(&["--userns"]);
        assert!(error.contains("--userns maps the container into the subordinate IDs of the user tincan, and /etc/subuid gives it none"), "{error}");
        assert!(error.contains("usermod --add-subuids"), "{error}");
    }
    nothing_left(&sandbox);
}

/// A user (here `nobody`) may not choose the maps: its container always maps
/// its own IDs and its ranges, which its store's layers were unpacked for.
/// Said plainly, rather than ignored.
#[test]
fn a_user_giving_maps_is_told_they_are_for_root() {
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &[("setpriv", "util-linux")])
    {
        return;
    }
    // A directory of nobody's own, with a copy of the binary (the build's
    // directory need not be passable for other users).
    let home = tempfile::TempDir::new().unwrap();
    std::os::unix::fs::chown(home.path(), Some(65534), Some(65534)).unwrap();
    let bin = home.path().join("ch09");
    std::fs::copy(chapter_bin("ch09"), &bin).unwrap();
    for options in [&["--uidmap", "0:100000:10"][..], &["--gidmap", "0:100000:10"], &["--userns"]] {
        let out = Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(&bin)
            .arg("run")
            .args(options)
            .args(["/", "true"])
            .env("HOME", home.path())
            .env("TINCAN_ROOT", home.path().join("store"))
            .env("XDG_RUNTIME_DIR", home.path().join("run"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{options:?}: {stderr}");
        let expected = format!("ch09: {} is for root: a user's container always maps", options[0]);
        assert!(stderr.starts_with(&expected), "{options:?}: {stderr}");
        assert!(stderr.contains("leave"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A device node in the container's root (an image's layer may hold one: the
/// image names a device of the host by its numbers) opens for chapter 8's
/// root, and not in a user namespace: the overlay is mounted there, and the
/// kernel makes every file system mounted in a user namespace ignore device
/// nodes (`SB_I_NODEV`). The device here is /dev/zero's (1, 5): harmless, as
/// this runs on the host.
#[test]
fn a_device_node_in_the_rootfs_cannot_be_opened_in_a_user_namespace() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let attempt = "head -c 4 /zero | wc -c";
    for (chapter, options, expected) in
        [("ch08", &[][..], "4\n"), ("ch09", &["--uidmap", "0:100000:65536"][..], "0\n")]
    {
        let sandbox = sandbox(options);
        let zero = sandbox.rootfs().join("zero");
        let status = Command::new("mknod").arg(&zero).args(["c", "1", "5"]).status().unwrap();
        assert!(status.success(), "mknod");
        let run = sandbox.run(chapter, &["sh", "-c", attempt]);
        assert_eq!(run.stdout, expected, "{chapter}: {run:?}");
        if chapter == "ch09" {
            assert!(run.stderr.contains("/zero: Permission denied"), "{run:?}");
        }
        nothing_left(&sandbox);
    }
}

/// A store the container's root cannot pass through is an error that says
/// which directory, and what to do.
#[test]
fn a_store_the_container_cannot_reach_is_an_error_that_says_where() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().options(&["--net", "none", "--uidmap", "0:100000:10"]);
    std::fs::set_permissions(sandbox.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let run = sandbox.run("ch09", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    let dir = sandbox.dir().display().to_string();
    assert!(run.stderr.contains(&format!("{dir} (mode 700) does not let it pass")), "{run:?}");
    assert!(run.stderr.contains("the container's root is 100000 on the host"), "{run:?}");
    nothing_left(&sandbox);
}

/// The user `tincan` with subordinate ranges, for `--userns`: made for the
/// test when the machine has none (and removed after, with its ranges);
/// left alone when it has. The tests that use it take turns.
struct RemapUser {
    made: bool,
    _turn: MutexGuard<'static, ()>,
}

const REMAP_USER: &str = "tincan";

fn has_range(file: &str) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines().any(|l| l.starts_with(&format!("{REMAP_USER}:")))
}

/// Held by the tests that make, use or look for `tincan`'s range.
static REMAP_TURN: Mutex<()> = Mutex::new(());

fn remap_user() -> RemapUser {
    let turn = REMAP_TURN.lock().unwrap_or_else(|e| e.into_inner());
    if has_range("/etc/subuid") && has_range("/etc/subgid") {
        return RemapUser { made: false, _turn: turn };
    }
    // The user database and its ranges are the machine's: other test binaries
    // may add users at the same time (support/unprivileged.rs).
    let _users = crate::support::unprivileged::user_database_lock();
    let exists = Command::new("id").arg(REMAP_USER).output().unwrap().status.success();
    assert!(!exists, "the user {REMAP_USER} exists without ranges: give it some, or remove it");
    // A range past every range the files hand out.
    let end = ["/etc/subuid", "/etc/subgid"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| {
            let mut f = l.split(':').skip(1).map(|n| n.parse::<u64>().ok());
            Some(f.next()?? + f.next()??)
        })
        .max()
        .unwrap_or(0);
    let start = end.max(1_000_000).div_ceil(65536) * 65536;
    let range = format!("{start}-{}", start + 65535);
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", REMAP_USER])
        .status()
        .unwrap();
    assert!(status.success(), "useradd {REMAP_USER}");
    let made = RemapUser { made: true, _turn: turn };
    let status = Command::new("usermod")
        .args(["--add-subuids", &range, "--add-subgids", &range, REMAP_USER])
        .status()
        .unwrap();
    assert!(status.success(), "usermod --add-subuids {range}");
    made
}

impl RemapUser {
    /// The first host ID of the range (`/etc/subuid`).
    fn start(&self) -> u32 {
        let text = std::fs::read_to_string("/etc/subuid").unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{REMAP_USER}:"))).unwrap();
        line.split(':').nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for RemapUser {
    fn drop(&mut self) {
        if self.made {
            // userdel removes the user's subordinate ranges too.
            let _users = crate::support::unprivileged::user_database_lock();
            let _ = Command::new("userdel").arg(REMAP_USER).status();
        }
    }
}

/// The three-layer image, pulled from a registry and run with `--userns`:
/// its files keep the owners the image gives them, seen inside; its user
/// (1000) is who runs; the opaque directory hides the lower layers' files,
/// as it does without a user namespace; the container's root is the host's
/// first ID of `tincan`'s range.
#[test]
fn an_image_runs_with_userns_and_its_owners_seen_inside() {
    let tools = [REGISTRY_TOOLS.as_slice(), &[("useradd", "passwd"), ("pgrep", "procps")]].concat();
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &tools) {
        return;
    }
    let registry = Registry::start(RegistryAuth::None);
    images::push(images::shared_layout(), THREE, &registry, "three:v1", Format::Oci);
    let remap = remap_user();
    let sandbox = sandbox(&["--userns"]);
    let image = format!("{}/three:v1", registry.host());
    let pulled = sandbox.ch08(&["pull", &image]);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));

    let inside = format!(
        "stat -c \"%n %u:%g %a\" / /bin/sh /{OWNED}; ls /{OPAQUE_DIR}; id -u; cat /proc/self/uid_map; exec sleep 30"
    );
    let script = format!(
        "{bin} run --net none --userns {image} '{inside}' &\n\
         for i in $(seq 100); do pid=$(pgrep -u {start} -x sleep) && break; sleep 0.1; done\n\
         test -n \"$pid\" && echo outside $(stat -c %u /proc/$pid)\n\
         kill $pid; wait",
        bin = chapter_bin("ch09").display(),
        start = remap.start() + 1000,
    );
    let run = sandbox.script(&script);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<String> =
        run.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let start = remap.start();
    assert_eq!(
        lines,
        [
            "/ 0:0 755".to_owned(),
            "/bin/sh 0:0 777".to_owned(),
            format!("/{OWNED} 1000:1000 640"),
            "new-c".to_owned(),
            "1000".to_owned(),
            format!("0 {start} 65536"),
            format!("outside {}", start + 1000),
        ],
        "{run:?}"
    );
    nothing_left(&sandbox);
}

/// A runtime killed with SIGKILL once the layers are idmapped and sent (after
/// the overlay's parent-side part), or once the command runs: the container
/// dies with it (its parent-death signal survives the change of IDs), and
/// `ch09 cleanup` removes the container's directory, owned by the container's
/// root, and its state; nothing is left. (A range of this test's own, so that
/// `pgrep` sees only its processes.)
#[test]
fn cleanup_after_a_killed_runtime_leaves_nothing() {
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &[("pgrep", "procps")]) {
        return;
    }
    for point in ["user namespace", "overlay", "start"] {
        let sandbox = sandbox(&["--uidmap", "0:500000:65536"]);
        let bin = chapter_bin("ch09").display().to_string();
        let dir = sandbox.dir().display().to_string();
        let script = format!(
            "TINCAN_TEST_PAUSE_AFTER='{point}' {} sleep 30 2> {dir}/err & runtime=$!\n\
             n=0; until grep -q 'paused after' {dir}/err || ! kill -0 $runtime 2>/dev/null || [ $n -ge 250 ]; do sleep 0.02; n=$((n+1)); done\n\
             cat {dir}/err; ls $TINCAN_ROOT/containers | wc -l\n\
             kill -KILL $runtime; wait $runtime; echo killed $?\n\
             n=0; while pgrep -u 500000 >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done\n\
             echo left: $(pgrep -u 500000 -l)\n\
             {bin} cleanup; echo cleanup $?",
            sandbox.command_line("ch09")
        );
        let run = sandbox.script(&script);
        assert_eq!(
            run.stdout,
            format!("paused after {point}\n1\nkilled 137\nleft:\ncleanup 0\n"),
            "killed after {point}: {run:?}"
        );
        nothing_left(&sandbox);
    }
}

/// Debian 12's kernel (6.1), in the VM whose root (and so the store) is a
/// tmpfs: tmpfs keeps `user.*` attributes only from 6.6 and takes idmapped
/// mounts only from 6.3, so a container in a user namespace cannot run there.
/// `ch09` says so, and why, before the container starts; nothing is left.
#[test]
fn on_the_vm_s_tmpfs_a_user_namespace_says_why_it_cannot() {
    if !root_or_skip(module_path!()) || !crate::support::qemu_or_skip(module_path!()) {
        return;
    }
    let vm = crate::support::run_in_vm(
        "uname -r | cut -d. -f1-2; ch09 run --net none --uidmap 0:100000:65536 /rootfs true; echo exit $?; ls /var/lib/tincan/containers | wc -l",
    );
    let lines: Vec<&str> = vm.output.lines().collect();
    assert_eq!(lines[0], "6.1", "{}", vm.output);
    let error = lines[1];
    assert!(
        error.starts_with(
            "ch09: overlay: keep user.* extended attributes in /var/lib/tincan/containers/"
        ),
        "{error}"
    );
    assert!(error.contains("it is on tmpfs, which keeps user.* attributes only from Linux 6.6, and this kernel is 6.1."), "{error}");
    assert_eq!(lines[2..], ["exit 125", "0"], "{}", vm.output);
}
