//! Chapter 9 without root: `ch09 run` by an unprivileged user made for each test
//! (and removed after it, also when it fails; see `support/unprivileged.rs`).
//!
//! - The user is root inside, itself outside: its uid and its subordinate range
//!   in the maps, and on the files the container writes; a user without ranges
//!   gets one id, and its limits.
//! - `--net slirp4netns` (the default without root): a way out, published
//!   ports, and the host's loopback out of reach — with traffic only to
//!   addresses the test made on this machine. Without a usable `/dev/net/tun`,
//!   a clear error.
//! - Cgroups: without a delegated cgroup, a limit is refused with what to run.
//!   On a v1 host, after `ch09 delegate`, the kernel enforces memory and pids
//!   limits; root's own limits on the delegated cgroup bind whatever the user
//!   moves into it; `--cgroup-parent` stays inside the hierarchy; `--remove`
//!   removes what it made and nothing else. On a v2 host, `delegate` refuses.
//! - The bridge: refused, naming what to use instead.
//! - Images without sudo: `pull` from a registry on 127.0.0.1, `import`, `rmi`,
//!   as root of a user namespace: the image's owners seen inside, deletions and
//!   opaque directories as with root; device nodes left out with a warning;
//!   without subordinate IDs, refused with what to add.
//! - The support's own guards: `/dev/net/tun`'s mode comes back even after a
//!   test process is killed; a test user's containers' processes end with it.
//!
//! These need root (to make the users, change `/dev/net/tun`, delegate).

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::images::{self, DELETED_DIR, DELETED_FILE, Format, OPAQUE_DIR, OWNED, THREE};
use crate::support::unprivileged::{TestUser, TunMode, owner_of};
use crate::support::{
    LoopbackService, PROBE, REGISTRY_TOOLS, Registry, RegistryAuth, cgroups_named, chapter_bin,
    marker, root_or_skip, tools_or_skip,
};

/// What these tests run, with the Debian packages that have it.
const TOOLS: [(&str, &str); 6] = [
    ("useradd", "passwd"),
    ("setpriv", "util-linux"),
    ("newuidmap", "uidmap"),
    ("slirp4netns", "slirp4netns"),
    ("unshare", "util-linux"),
    ("ip", "iproute2"),
];

fn ready(test: &str) -> bool {
    root_or_skip(test) && tools_or_skip(test, &TOOLS)
}

/// `uid_map`'s lines with the kernel's padding squeezed: "0 1001 1".
fn squeeze(map: &str) -> Vec<String> {
    map.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

/// Nothing of the user's runs is left: no process (slirp4netns), no state.
fn assert_nothing_left(user: &TestUser) {
    assert_eq!(user.processes(), Vec::<(i32, String)>::new(), "processes left behind");
    let containers = user.runtime_dir().join("tincan/containers");
    let left: Vec<_> = std::fs::read_dir(&containers).into_iter().flatten().flatten().collect();
    assert!(left.is_empty(), "state left in {}: {left:?}", containers.display());
}

#[test]
fn a_user_is_root_inside_and_itself_outside() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let (subuid, subgid) = user.subordinate.expect("ranges");
    let rootfs = user.rootfs();
    let script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; \
                  touch /by-root; mkdir /by-1000; touch /by-1000/file; chown -R 1000:1000 /by-1000";
    let run = user.ch09(&[
        "run",
        "--net",
        "none",
        "--keep",
        rootfs.to_str().unwrap(),
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let (uid, gid) = (user.uid, user.gid);
    let mut expected = vec!["0".to_owned(), "0".to_owned()];
    expected.extend(squeeze(&format!("0 {uid} 1\n1 {subuid} 65536\n0 {gid} 1\n1 {subgid} 65536")));
    assert_eq!(squeeze(&run.stdout), expected, "{run:?}");
    // Outside, what root made is the user's; what 1000 made is its subordinate 999's.
    let kept = kept_dir(&run.stderr);
    assert!(kept.starts_with(user.store_dir()), "the user's store: {}", kept.display());
    assert_eq!(owner_of(&kept.join("upper/by-root")), (uid, gid));
    let shifted = (subuid + 999, subgid + 999);
    assert_eq!(owner_of(&kept.join("upper/by-1000")), shifted);
    assert_eq!(owner_of(&kept.join("upper/by-1000/file")), shifted);
    assert_nothing_left(&user);
}

/// "ch09: kept DIR" -> DIR.
fn kept_dir(stderr: &str) -> PathBuf {
    let line = stderr.lines().find_map(|l| l.strip_prefix("ch09: kept "));
    PathBuf::from(line.unwrap_or_else(|| panic!("no 'kept' line in {stderr:?}")))
}

/// Without ranges in /etc/subuid: one id, root; its limits show: there is no
/// other user to give a file to, and groups cannot be dropped (setgroups is
/// denied, so that a user cannot shed a group that keeps it out of a file).
#[test]
fn without_subordinate_ids_the_container_has_one_user() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(false);
    let rootfs = user.rootfs();
    let script = "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
                  touch /f; chown 1000 /f 2>/dev/null || echo 'chown 1000: refused'";
    let run = user.ch09(&["run", "--net", "none", rootfs.to_str().unwrap(), "sh", "-c", script]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "0\n0 {uid} 1\n0 {gid} 1\ndeny\nchown 1000: refused",
        uid = user.uid,
        gid = user.gid
    );
    assert_eq!(squeeze(&run.stdout), squeeze(&expected), "{run:?}");
    assert_nothing_left(&user);
}

#[test]
fn the_bridge_needs_root_and_says_what_to_use() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let run = user.ch09(&["run", "--net", "bridge", user.rootfs().to_str().unwrap(), "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch09: --net bridge needs root: a bridge, its cables and its firewall rules are the host's; without root use --net slirp4netns (a user-mode network, the default) or --net none\n"
    );
    assert_nothing_left(&user);
}

/// A host where `/dev/net/tun` is root's alone (as on our machines): the
/// default network cannot work, and the error says why and what root can do.
#[test]
fn without_a_usable_tun_device_the_user_is_told_what_to_do() {
    if !ready(module_path!()) {
        return;
    }
    let _mode = TunMode::set(0o600);
    let user = TestUser::create(true);
    let run = user.ch09(&["run", user.rootfs().to_str().unwrap(), "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch09: user-mode network: open /dev/net/tun: Permission denied (slirp4netns needs to open /dev/net/tun, which this host lets only root use; root can allow everyone, as Debian does: `chmod 0666 /dev/net/tun` (or use --net none))\n"
    );
    assert_nothing_left(&user);
}

/// The mode of `/dev/net/tun` now.
fn tun_mode() -> u32 {
    std::os::unix::fs::MetadataExt::mode(&std::fs::metadata("/dev/net/tun").expect("the tun"))
        & 0o7777
}

/// A test process killed while its guard had `/dev/net/tun` changed (here a
/// child that leaves with `_exit`, running no destructor): the next guard
/// puts the original mode back first, and takes that, not the change, for
/// the original — in another process, as separate test binaries are.
#[test]
fn a_tun_mode_left_by_a_killed_test_is_restored_by_the_next_guard() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let found = {
        let guard = TunMode::set(0o600);
        drop(guard);
        tun_mode()
    };
    // SAFETY: the child takes the guard and leaves at once with _exit.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            let guard = TunMode::set(0o666);
            std::mem::forget(guard);
            // SAFETY: ends the child without running the guard's Drop.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).expect("wait for the child");
        }
    }
    let guard = TunMode::set(0o666);
    assert_eq!(tun_mode(), 0o666);
    drop(guard);
    let now = tun_mode();
    if now != found {
        // Failed: still, leave the host as found.
        let mode = std::fs::Permissions::from_mode(found);
        std::fs::set_permissions("/dev/net/tun", mode).expect("chmod");
    }
    assert_eq!(now, found, "the killed test's 0666 was taken for the original");
}

/// A test user's drop ends its containers' processes too, which run as its
/// subordinate IDs (here a `sleep` as user 1000 of a user namespace of its
/// own): left running, they would belong to whoever gets the range next.
#[test]
fn a_test_users_drop_ends_its_containers_processes_too() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let (subuid, _) = user.subordinate.expect("ranges");
    let mut sleeper = user
        .command("unshare")
        .args(["--user", "--map-root-user", "--map-auto"])
        .args(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", "sleep", "60"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start a sleeper");
    let pid = sleeper.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    let uid = loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")?.split_whitespace().next());
        match uid.and_then(|u| u.parse::<u32>().ok()) {
            Some(uid) if comm.trim() == "sleep" => break uid,
            _ if Instant::now() > deadline => panic!("no sleeper: {status}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert!((subuid..subuid + 65536).contains(&uid), "uid {uid} is not subordinate");
    drop(user);
    let ended = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match sleeper.try_wait().expect("wait") {
            Some(status) => break status,
            None if Instant::now() > ended => {
                let _ = sleeper.kill();
                panic!("the container's process outlived its user");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status:?}");
}

/// An address of the host's own, on a veth pair the test makes, for the
/// container to reach through slirp4netns: an address this machine delivers to
/// itself, so no packet leaves it. (A veth and not a dummy interface: these
/// machines' kernels have no dummy driver.) Removed when dropped.
struct TestAddress {
    name: String,
    address: Ipv4Addr,
}

impl TestAddress {
    fn new() -> TestAddress {
        let name = format!("tcrl{}", std::process::id() % 100_000);
        let peer = format!("{name}p");
        let address = Ipv4Addr::new(192, 0, 2, 77); // TEST-NET-1: routed nowhere
        let made = TestAddress { name, address };
        for args in [
            vec!["link", "add", &made.name, "type", "veth", "peer", "name", &peer],
            vec!["addr", "add", &format!("{address}/32"), "dev", &made.name],
            vec!["link", "set", &made.name, "up"],
            vec!["link", "set", &peer, "up"],
        ] {
            let status = Command::new("ip").args(&args).status().expect("run ip");
            assert!(status.success(), "ip {args:?}");
        }
        made
    }
}

impl Drop for TestAddress {
    fn drop(&mut self) {
        // Its peer goes with it.
        let _ = Command::new("ip").args(["link", "del", &self.name]).status();
    }
}

/// A port nobody listens on now (the kernel's pick; free again once dropped).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port()
}

/// The IPv4 address a TCP socket listens on at `port` (`/proc/net/tcp`, whose
/// addresses are hexadecimal, in the kernel's byte order), waiting up to 10 s
/// for one to appear.
fn listening_on(port: u16) -> Option<Ipv4Addr> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some("0A")) = (fields.get(1), fields.get(3).copied()) else {
                continue; // 0A: LISTEN
            };
            let Some((address, p)) = local.split_once(':') else { continue };
            if u16::from_str_radix(p, 16) == Ok(port) {
                let raw = u32::from_str_radix(address, 16).expect("hex");
                return Some(Ipv4Addr::from(u32::from_be(raw)));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Connect to 127.0.0.1:`port` until something answers with a line, for up to 10 s.
fn read_from(port: u16) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if !answer.is_empty() {
                return Some(answer);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// slirp4netns: out to an address on this machine (not its loopback), in
/// through a published port, and the host's 127.0.0.1 — which slirp4netns
/// would show at 10.0.2.2 — out of reach.
#[test]
fn slirp4netns_goes_out_and_publishes_ports_but_keeps_the_hosts_loopback_closed() {
    if !ready(module_path!()) {
        return;
    }
    let _mode = TunMode::set(0o666);
    let user = TestUser::create(true);
    let local = TestAddress::new();
    let outside = TcpListener::bind((local.address, 0)).expect("listen on the test address");
    let outside_port = outside.local_addr().expect("address").port();
    let secret = marker("outside");
    let answer = secret.clone();
    // Waits for its client a while, not for ever: a container that never
    // started (a workshop's missing exercise) must fail the test, not hang it.
    outside.set_nonblocking(true).expect("a non-blocking listener");
    let server = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut client = loop {
            match outside.accept() {
                Ok((client, _)) => break client,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no client within 30 s");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        client.set_nonblocking(false).expect("a blocking stream");
        std::io::Write::write_all(&mut client, answer.as_bytes()).expect("answer");
    });
    let loopback = LoopbackService::start();
    let published = free_port();
    let greeting = marker("inside");
    let script = format!(
        "nc -w 5 {addr} {outside_port} </dev/null; echo; \
         nc -w 2 10.0.2.2 {loop_port} </dev/null && echo 'LOOPBACK REACHED' || echo 'loopback: no way'; \
         echo {greeting} | nc -l -p 80",
        addr = local.address,
        loop_port = loopback.port,
    );
    let rootfs = user.rootfs();
    let ch09 = user.ch09_bin();
    // On the host's loopback alone: no test port is reachable from the network.
    let publish = format!("127.0.0.1:{published}:80");
    let container = user
        .command(ch09.to_str().unwrap())
        .args(["run", "-p", &publish, rootfs.to_str().unwrap(), "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ch09");
    assert_eq!(listening_on(published), Some(Ipv4Addr::LOCALHOST), "the published port's address");
    let from_inside = read_from(published);
    let output = container.wait_with_output().expect("wait for ch09");
    server.join().expect("the outside listener saw its client");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [secret.as_str(), "loopback: no way"],
        "{stderr}"
    );
    assert_eq!(from_inside.as_deref(), Some(format!("{greeting}\n").as_str()), "{stderr}");
    assert_eq!(loopback.clients(), 0, "the host's loopback saw a client from the container");
    drop(local);
    assert_nothing_left(&user);
}

/// `ch09 delegate` as root, with a state directory of the test's own, for the
/// test user's cgroup parent; taken back when dropped if the test did not.
struct Delegation<'a> {
    user: &'a TestUser,
    state: tempfile::TempDir,
}

impl<'a> Delegation<'a> {
    fn new(user: &'a TestUser) -> Delegation<'a> {
        Delegation { user, state: tempfile::tempdir().expect("a state dir") }
    }

    /// Delegate with `limits` (`--memory 256m ...`); it must work.
    fn give(user: &'a TestUser, limits: &[&str]) -> Delegation<'a> {
        let delegation = Delegation::new(user);
        let output = delegation.ch09(limits, user.cgroup_parent());
        assert!(output.status.success(), "delegate: {output:?}");
        delegation
    }

    /// `ch09 delegate ARGS --cgroup-parent PARENT USER`.
    fn ch09(&self, args: &[&str], parent: &str) -> std::process::Output {
        let mut ch09 = Command::new(chapter_bin("ch09"));
        ch09.arg("delegate").env("TINCAN_STATE_DIR", self.state.path()).args(args);
        ch09.args(["--cgroup-parent", parent, &self.user.name]);
        ch09.output().expect("run ch09 delegate")
    }

    fn take_back(&self) -> std::process::Output {
        self.ch09(&["--remove"], self.user.cgroup_parent())
    }

    /// What the record says was made: (the user's cgroups, the parents).
    fn recorded(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let path = self.state.path().join(format!("delegated/{}.json", self.user.uid));
        let text = std::fs::read_to_string(&path).expect("the record");
        let record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let paths = |key: &str| -> Vec<PathBuf> {
            let list = record[key].as_array().unwrap_or_else(|| panic!("{key} in {text}"));
            list.iter().map(|p| PathBuf::from(p.as_str().expect("a path"))).collect()
        };
        (paths("dirs"), paths("parents"))
    }
}

impl Drop for Delegation<'_> {
    fn drop(&mut self) {
        let _ = self.take_back();
        // The tests' shared parent goes once empty, as chapter 7's container
        // clean-up removes it: a delegation it outlived would leave it.
        for dir in cgroups_named("tincan-test") {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A pure cgroup v2 host (where a user's limits are not supported yet).
fn v2_host() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// On a v2 host, `ch09 delegate` refuses plainly.
fn assert_delegate_refused_on_v2(user: &TestUser) {
    let output = Delegation::new(user).ch09(&["--memory", "64m", "--pids-limit", "8"], "tincan");
    assert_eq!(output.status.code(), Some(125), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ch09: delegate: on a cgroup v2 host, tincan cannot use a delegated cgroup yet (a user's runtime would have to start inside it); a user's containers run without limits, or with sudo\n"
    );
}

/// Without a delegated cgroup: no limit, no cgroup, and the container runs;
/// a limit is refused, saying what to do — on v1, the command root runs
/// once; on v2, that it is not supported yet (and `delegate` refuses too).
#[test]
fn a_limit_without_a_delegated_cgroup_is_refused_saying_what_to_do() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let rootfs = user.rootfs();
    let rootfs = rootfs.to_str().unwrap();
    let parent = user.cgroup_parent().to_owned();
    let run = user.ch09(&["run", "--net", "none", rootfs, "true"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    let run = user.ch09(&["run", "--net", "none", "--memory", "32m", rootfs, "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    if v2_host() {
        assert!(run.stderr.contains("not supported on a cgroup v2 host yet"), "{run:?}");
        assert_delegate_refused_on_v2(&user);
        return assert_nothing_left(&user);
    }
    let missing =
        Path::new("/sys/fs/cgroup/memory").join(&parent).join(format!("user-{}", user.uid));
    assert_eq!(
        run.stderr,
        format!(
            "ch09: --memory needs a cgroup, and without root a container gets one only under a cgroup root delegated to you ({} is missing or not yours); root can delegate one, once, with the most all your containers may use together: `sudo ch09 delegate --memory SIZE --pids-limit N --cgroup-parent {parent} {name}` — or run without --memory\n",
            missing.display(),
            name = user.name,
        )
    );
    assert_eq!(cgroups_named(&parent), Vec::<PathBuf>::new(), "cgroups made");
    assert_nothing_left(&user);
}

/// After `ch09 delegate` on a v1 host, the kernel enforces a user's memory and
/// pids limits in the user's own cgroups; `--remove` leaves nothing. (On v2,
/// `delegate` refuses.)
#[test]
fn after_delegate_the_kernel_enforces_limits_on_cgroup_v1_and_delegate_refuses_on_v2() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    if v2_host() {
        assert_delegate_refused_on_v2(&user);
        return assert_nothing_left(&user);
    }
    let rootfs = user.rootfs();
    let rootfs = rootfs.to_str().unwrap();
    let parent = user.cgroup_parent().to_owned();
    // More than the containers' own limits below, which must be what stops them.
    let delegation = Delegation::give(&user, &["--memory", "512m", "--pids-limit", "128"]);
    let run = user.ch09(&[
        "run",
        "--net",
        "none",
        "--memory",
        "32m",
        rootfs,
        PROBE,
        "attack",
        "exhaust-memory",
        "256",
    ]);
    assert_eq!(run.code, 137, "128 + SIGKILL: {run:?}");
    assert_eq!(
        run.stderr,
        "ch09: out of memory: the kernel killed a process of the container at its memory limit of 32 MiB (--memory)\n"
    );
    let run = user.ch09(&[
        "run",
        "--net",
        "none",
        "--pids-limit",
        "16",
        rootfs,
        PROBE,
        "attack",
        "fork-bomb",
        "200",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "BLOCKED: fork refused after 15 processes: EAGAIN: Try again\n");
    assert_eq!(
        run.stderr,
        "ch09: the container reached its limit of 16 processes (--pids-limit): the kernel refused a fork\n"
    );
    // The containers' cgroups are gone; the delegated ones stay until taken back.
    let delegated = cgroups_named(&format!("{parent}/user-{}", user.uid));
    assert!(!delegated.is_empty(), "the delegation is there");
    for dir in &delegated {
        let children =
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().is_dir()).count();
        assert_eq!(children, 0, "a container's cgroup left in {}", dir.display());
    }
    let taken = delegation.take_back();
    assert!(taken.status.success(), "delegate --remove: {taken:?}");
    assert_eq!(cgroups_named(&parent), Vec::<PathBuf>::new(), "cgroups left behind");
    assert_nothing_left(&user);
}

/// cgroup v1 has no common-ancestor rule: the user may move *any* of its
/// processes into the cgroup it owns. So root's limits on that cgroup are
/// what bind them there: written by `delegate`, root's files, and enforced
/// on a process the user moved in by hand. (On v2, `delegate` refuses.)
#[test]
fn on_cgroup_v1_roots_limits_bind_what_the_user_moves_into_its_cgroup_and_delegate_refuses_on_v2() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    if v2_host() {
        assert_delegate_refused_on_v2(&user);
        return assert_nothing_left(&user);
    }
    let delegation = Delegation::give(&user, &["--memory", "64m", "--pids-limit", "8"]);
    let dirs = cgroups_named(&format!("{}/user-{}", user.cgroup_parent(), user.uid));
    let file = |name: &str| {
        let found = dirs.iter().map(|d| d.join(name)).find(|f| f.exists());
        found.unwrap_or_else(|| panic!("no {name} in {dirs:?}"))
    };
    let (memory, pids) = (file("memory.limit_in_bytes"), file("pids.max"));
    assert_eq!(std::fs::read_to_string(&memory).unwrap(), format!("{}\n", 64 << 20));
    assert_eq!(std::fs::read_to_string(&pids).unwrap(), "8\n");
    assert_eq!((owner_of(&memory), owner_of(&pids)), ((0, 0), (0, 0)), "root's files");
    let raise = format!("echo max > {} && echo RAISED", pids.display());
    let run = user.sh(&raise);
    assert!(!run.stdout.contains("RAISED"), "the user raised root's limit: {run:?}");
    // The user's shell moves itself into the pids hierarchy's (v1 lets it),
    // then starts sleepers until a fork is refused: itself and 7 more make 8.
    let procs = pids.with_file_name("cgroup.procs");
    let escape = format!(
        "echo $$ > {} || exit 1; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 >/dev/null 2>&1 & echo started; done",
        procs.display()
    );
    let run = user.sh(&escape);
    assert_eq!(run.stdout.lines().filter(|l| *l == "started").count(), 7, "{run:?}");
    user.end_processes();
    let taken = delegation.take_back();
    assert!(taken.status.success(), "delegate --remove: {taken:?}");
    assert_eq!(cgroups_named(user.cgroup_parent()), Vec::<PathBuf>::new(), "cgroups left");
    assert_nothing_left(&user);
}

/// Directories a test made in the cgroup tree, removed (deepest last made
/// first) when dropped.
struct MadeCgroups(Vec<PathBuf>);

impl Drop for MadeCgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `--cgroup-parent` stays inside each hierarchy (chapter 7's check). On v1:
/// a second delegation under another parent is refused; a user's cgroup that
/// delegate did not make is refused; `--remove` removes what it recorded
/// making, and a parent that was there before stays. (On v2, `delegate` refuses.)
#[test]
fn delegate_keeps_to_its_parent_and_on_cgroup_v1_removes_only_what_it_made() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let escape = format!("../../../../tmp/{}", user.name);
    for bad in [escape.as_str(), "/sys/fs/cgroup", "tincan/../.."] {
        let output = Delegation::new(&user).ch09(&["--memory", "64m", "--pids-limit", "8"], bad);
        assert_eq!(output.status.code(), Some(125), "{bad}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("give a relative path of names"), "{bad}: {stderr}");
    }
    let made_outside = Path::new("/tmp").join(&user.name);
    assert!(!made_outside.exists(), "delegate made {}", made_outside.display());
    if v2_host() {
        assert_delegate_refused_on_v2(&user);
        return assert_nothing_left(&user);
    }
    let limits = ["--memory", "64m", "--pids-limit", "8"];
    let parent = user.cgroup_parent().to_owned();
    let delegation = Delegation::give(&user, &limits);
    let (dirs, parents) = delegation.recorded();
    assert!(!dirs.is_empty() && dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
    let own_parents: Vec<PathBuf> =
        parents.iter().filter(|p| p.ends_with(&parent)).cloned().collect();
    assert_eq!(own_parents.len(), dirs.len(), "the test's parent, made in each: {parents:?}");
    // Again with the same parent: fine (the limits set again). With another: refused.
    let again = delegation.ch09(&limits, &parent);
    assert!(again.status.success(), "{again:?}");
    let elsewhere = delegation.ch09(&limits, &format!("{parent}-other"));
    assert_eq!(elsewhere.status.code(), Some(125), "{elsewhere:?}");
    assert_eq!(
        String::from_utf8_lossy(&elsewhere.stderr),
        format!(
            "ch09: delegate: {name} already has cgroups delegated under {parent}: take them back first (`ch09 delegate --remove {name}`), then delegate under the other parent\n",
            name = user.name
        )
    );
    assert_eq!(cgroups_named(&format!("{parent}-other")), Vec::<PathBuf>::new());
    let taken = delegation.take_back();
    assert!(taken.status.success(), "{taken:?}");
    assert_eq!(cgroups_named(&parent), Vec::<PathBuf>::new(), "what it made is gone");

    // The parent there before: it stays. The user's cgroup there before: refused.
    let mut made = MadeCgroups(Vec::new());
    for dir in &own_parents {
        for ancestor in [dir.parent().expect("tincan-test"), dir.as_path()] {
            if std::fs::create_dir(ancestor).is_ok() {
                made.0.push(ancestor.to_owned());
            }
        }
    }
    std::fs::create_dir(&dirs[0]).expect("a user's cgroup made by hand");
    made.0.push(dirs[0].clone());
    let delegation = Delegation::new(&user);
    let refused = delegation.ch09(&limits, &parent);
    assert_eq!(refused.status.code(), Some(125), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let expected =
        format!("ch09: delegate: {} exists, and tincan did not make it", dirs[0].display());
    assert!(stderr.starts_with(&expected), "{stderr}");
    std::fs::remove_dir(made.0.pop().expect("the hand-made one")).expect("rmdir");
    let given = delegation.ch09(&limits, &parent);
    assert!(given.status.success(), "{given:?}");
    let taken = delegation.take_back();
    assert!(taken.status.success(), "{taken:?}");
    assert!(dirs.iter().all(|d| !d.exists()), "the user's cgroups are gone");
    assert!(own_parents.iter().all(|p| p.is_dir()), "a parent delegate did not make was removed");
    drop(made);
    assert_eq!(cgroups_named(&parent), Vec::<PathBuf>::new());
    assert_nothing_left(&user);
}

/// A port slirp4netns cannot bind: the error says the kernel's reason, and
/// what to do; the below-1024 hint only for a port below 1024.
#[test]
fn a_port_that_cannot_be_published_says_why() {
    if !ready(module_path!()) {
        return;
    }
    let _mode = TunMode::set(0o666);
    let user = TestUser::create(true);
    let rootfs = user.rootfs();
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port of the test's");
    let port = taken.local_addr().expect("its address").port();
    let publish = format!("127.0.0.1:{port}:80");
    let run = user.ch09(&["run", "-p", &publish, rootfs.to_str().unwrap(), "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "ch09: user-mode network: publish port 127.0.0.1:{port}:80/tcp: Address already in use (another program has 127.0.0.1:{port} already: choose another port)\n"
        )
    );
    let run = user.ch09(&["run", "-p", "127.0.0.1:80:80", rootfs.to_str().unwrap(), "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch09: user-mode network: publish port 127.0.0.1:80:80/tcp: Permission denied (port 80 is below 1024, which only root may bind (see sysctl net.ipv4.ip_unprivileged_port_start): choose a higher one)\n"
    );
    assert_nothing_left(&user);
}

/// slirp4netns that ends before it configures `tap0` (here a stand-in that
/// fails as slirp4netns does, with perror's line): the error says it exited,
/// with its status and its own words — not a bare errno of ours.
#[test]
fn slirp4netns_ending_at_once_is_reported_as_such() {
    if !ready(module_path!()) {
        return;
    }
    let _mode = TunMode::set(0o666);
    let user = TestUser::create(true);
    let rootfs = user.rootfs();
    let bin = rootfs.parent().expect("the user's directory").join("bin");
    std::fs::create_dir(&bin).expect("a bin directory");
    let fake = bin.join("slirp4netns");
    std::fs::write(&fake, "#!/bin/sh\necho 'open(\"/dev/net/tun\"): No such device' >&2\nexit 3\n")
        .expect("the stand-in");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let output = user
        .command(user.ch09_bin().to_str().unwrap())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["run", rootfs.to_str().unwrap(), "true"])
        .output()
        .expect("run ch09");
    assert_eq!(output.status.code(), Some(125), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ch09: user-mode network: slirp4netns exited with status 3 before it configured tap0: No such device (it said: open(\"/dev/net/tun\"): No such device)\n"
    );
    assert_nothing_left(&user);
}

/// A runtime killed with SIGKILL once slirp4netns runs: slirp4netns ends by
/// itself (its exit pipe closes with the runtime), and `ch09 cleanup` removes
/// the rest of what was recorded.
#[test]
fn a_killed_runtime_leaves_no_slirp4netns() {
    if !ready(module_path!()) {
        return;
    }
    let _mode = TunMode::set(0o666);
    let user = TestUser::create(true);
    let rootfs = user.rootfs();
    let mut runtime = user
        .command(user.ch09_bin().to_str().unwrap())
        .env("TINCAN_TEST_PAUSE_AFTER", "user-mode network")
        .args(["run", rootfs.to_str().unwrap(), "sleep", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ch09");
    let mut stderr = std::io::BufReader::new(runtime.stderr.take().expect("its stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("read its stderr");
    assert_eq!(line, "paused after user-mode network\n");
    let slirp = |user: &TestUser| user.processes().into_iter().any(|(_, n)| n == "slirp4netns");
    assert!(slirp(&user), "slirp4netns runs while the runtime waits");
    // In its cage: a mount namespace of its own, and a seccomp filter (mode 2).
    for (pid, _) in user.processes().into_iter().filter(|(_, n)| n == "slirp4netns") {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(status.lines().any(|l| l == "Seccomp:\t2"), "no seccomp filter: {status}");
        let mounts = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        assert_ne!(mounts(&pid.to_string()), mounts("self"), "no sandbox: our mount namespace");
    }
    runtime.kill().expect("SIGKILL the runtime");
    runtime.wait().expect("reap it");
    let deadline = Instant::now() + Duration::from_secs(5);
    while slirp(&user) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!slirp(&user), "slirp4netns outlived its runtime");
    let run = user.ch09(&["cleanup"]);
    assert_eq!(run.stderr, "ch09: cleaned up after 1 container whose runtime had died\n");
    let sockets = user.runtime_dir().join("tincan/slirp4netns");
    assert_eq!(std::fs::read_dir(&sockets).map(|d| d.count()).unwrap_or(0), 0, "a socket left");
    assert_nothing_left(&user);
}

/// Chapters 6 to 8 know the value (it is chapter 6's `--net`), and say where
/// the network comes from instead of running a container with no way out.
#[test]
fn before_chapter_9_slirp4netns_says_where_it_comes_from() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = crate::support::Sandbox::new().options(&["--net", "slirp4netns"]);
    let run = sandbox.run("ch08", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch08: user-mode network: start a user-mode network: Invalid argument (--net slirp4netns comes with chapter 9: use ch09, or --net bridge or none here)\n"
    );
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<PathBuf>::new());
}

/// Root may choose the user-mode network too (in the sandbox's own network
/// namespace here), and its slirp4netns ends with the container.
#[test]
fn root_may_use_slirp4netns_too() {
    if !ready(module_path!()) {
        return;
    }
    let sandbox = crate::support::Sandbox::new().options(&["--net", "slirp4netns"]);
    let sandbox = sandbox.options(&["--hostname", "rootful"]);
    let script =
        "ip -4 addr show tap0 | grep -o 'inet [0-9./]*'; tail -n 1 /etc/hosts; cat /etc/hostname";
    let run = sandbox.run("ch09", &["sh", "-c", script]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "inet 10.0.2.100/24\n10.0.2.100\trootful\nrootful\n", "{run:?}");
    let state = sandbox.state_dir().display().to_string();
    let slirps: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("slirp4netns") && c.contains(&state))
        .collect();
    assert_eq!(slirps, Vec::<String>::new(), "slirp4netns outlived its container");
}

/// The layer directory of the user's store that holds `path` (relative).
fn layer_with(user: &TestUser, path: &str) -> PathBuf {
    let layers = user.store_dir().join("layers/sha256");
    let found = std::fs::read_dir(&layers).into_iter().flatten().flatten().map(|e| e.path());
    found
        .into_iter()
        .find(|layer| layer.join(path).symlink_metadata().is_ok())
        .unwrap_or_else(|| panic!("no layer in {} holds {path}", layers.display()))
}

/// The layers left in the user's store.
fn layers_left(user: &TestUser) -> Vec<PathBuf> {
    let layers = user.store_dir().join("layers/sha256");
    std::fs::read_dir(layers).into_iter().flatten().flatten().map(|e| e.path()).collect()
}

/// The three-layer image, pulled from a registry on 127.0.0.1 by a user without
/// sudo: its layers are unpacked as root of a user namespace with the map
/// `run` gives the user's containers, so a file of 1000 is the user's
/// subordinate 999's outside and 1000's inside, root's files are 0's; the
/// deletions are gone and the opaque directory hides the lower layers' files
/// (overlayfs reads the `user.overlay.opaque` mark). `rmi` removes the layers,
/// subordinate-owned files too.
#[test]
fn a_user_pulls_runs_and_removes_an_image_whose_files_keep_their_owners() {
    let tools = [TOOLS.as_slice(), &REGISTRY_TOOLS].concat();
    if !root_or_skip(module_path!()) || !tools_or_skip(module_path!(), &tools) {
        return;
    }
    let registry = Registry::start(RegistryAuth::None);
    images::push(images::shared_layout(), THREE, &registry, "three:v1", Format::Oci);
    let user = TestUser::create(true);
    let (subuid, subgid) = user.subordinate.expect("ranges");
    let image = format!("{}/three:v1", registry.host());
    let pulled = user.ch09(&["pull", &image]);
    assert_eq!(pulled.code, 0, "{pulled:?}");
    assert!(!pulled.stderr.contains("warning"), "{pulled:?}");
    assert_eq!(owner_of(&layer_with(&user, OWNED).join(OWNED)), (subuid + 999, subgid + 999));
    assert_eq!(owner_of(&layer_with(&user, "bin/sh").join("bin/sh")), (user.uid, user.gid));

    let inside = format!(
        "stat -c '%n %u:%g %a' / /bin/sh /{OWNED}; ls /{OPAQUE_DIR}; \
         for f in /{DELETED_FILE} /{DELETED_DIR}; do test -e $f && echo $f is there; done; id -u"
    );
    // The image's entrypoint is `sh -c`; its user, 1000.
    let run = user.ch09(&["run", "--net", "none", &image, &inside]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!("/ 0:0 755\n/bin/sh 0:0 777\n/{OWNED} 1000:1000 640\nnew-c\n1000\n");
    assert_eq!(run.stdout, expected, "{run:?}");

    let removed = user.ch09(&["rmi", &image]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(layers_left(&user), Vec::<PathBuf>::new());
    assert_nothing_left(&user);
}

/// A tar with a block and a character device, a FIFO and a whiteout.
fn tar_with_devices() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let entries = [
        ("dev/", tar::EntryType::Directory, 0, 0),
        ("dev/sda", tar::EntryType::Block, 8, 0),
        ("dev/null", tar::EntryType::Char, 1, 3),
        ("dev/fifo", tar::EntryType::Fifo, 0, 0),
        ("srv/", tar::EntryType::Directory, 0, 0),
        ("srv/.wh.old", tar::EntryType::Regular, 0, 0),
    ];
    for (path, kind, major, minor) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        header.set_size(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_device_major(major).expect("a major number");
        header.set_device_minor(minor).expect("a minor number");
        tar.append_data(&mut header, path, std::io::empty()).expect("a tar entry");
    }
    tar.into_inner().expect("finish a tar")
}

/// Root of a user namespace may make no device node: a user's import leaves
/// them out, with one warning for the layer that counts them, and makes the
/// rest — the FIFO, and the whiteout (a 0/0 character device, which a user
/// namespace may make since Linux 5.8).
#[test]
fn a_users_import_leaves_out_device_nodes_with_a_warning() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(true);
    let tarball = user.runtime_dir().with_file_name("devices.tar");
    std::fs::write(&tarball, tar_with_devices()).expect("write the tarball");
    std::fs::set_permissions(&tarball, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let imported = user.ch09(&["import", tarball.to_str().unwrap(), "devices:v1"]);
    assert_eq!(imported.code, 0, "{imported:?}");
    let warnings: Vec<&str> = imported.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{imported:?}");
    assert!(warnings[0].contains("2 device nodes left out"), "{imported:?}");
    let layer = layer_with(&user, "dev/fifo");
    assert!(layer.join("dev/sda").symlink_metadata().is_err(), "a block device was made");
    assert!(layer.join("dev/null").symlink_metadata().is_err(), "a character device was made");
    let whiteout = layer.join("srv/old").symlink_metadata().expect("the whiteout");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0, "{whiteout:?}");

    let removed = user.ch09(&["rmi", "devices:v1"]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(layers_left(&user), Vec::<PathBuf>::new());
    assert_nothing_left(&user);
}

/// Without subordinate IDs every file of an image would be the user's own:
/// the pull is refused, saying what to add to /etc/subuid and /etc/subgid.
#[test]
fn without_subordinate_ids_a_pull_is_refused_saying_what_to_add() {
    if !ready(module_path!()) {
        return;
    }
    let user = TestUser::create(false);
    let pulled = user.ch09(&["pull", "127.0.0.1:1/nothing:v1"]);
    assert_eq!(pulled.code, 125, "{pulled:?}");
    let expected = format!(
        "ch09: without root, a layer's files keep their owners only through subordinate IDs, and /etc/subuid gives {:?} none: as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}\n",
        user.name, user.name
    );
    assert_eq!(pulled.stderr, expected, "{pulled:?}");
}
