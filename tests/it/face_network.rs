//! User-defined networks: two containers on one reach each other by name;
//! a port published on the host reaches a container; and when the last
//! container goes, so do the bridge and its rules.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::support::face::{Face, IMAGE, assert_left_nothing, ok};
use crate::support::root_or_skip;

/// A server on port 7000 that answers `pong` to each connection.
const SERVER: [&str; 3] = ["sh", "-c", "while :; do echo pong | nc -l -p 7000; done"];

/// The bridges and nftables rules on the host that name `bridge`.
fn host_traces(bridge: &str) -> (bool, String) {
    let link = std::path::Path::new("/sys/class/net").join(bridge).exists();
    let rules = std::process::Command::new("nft").args(["-a", "list", "ruleset"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    let ours: String =
        rules.lines().filter(|l| l.contains(bridge)).map(|l| format!("{l}\n")).collect();
    (link, ours)
}

#[test]
fn two_containers_on_a_network_reach_each_other_by_name() {
    if !root_or_skip("face_network::two_containers_on_a_network_reach_each_other_by_name") {
        return;
    }
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let face = Face::new();
    ok(&face.tincan(&["network", "create", "app"]));
    let listed = ok(&face.tincan(&["network", "ls"]));
    assert!(listed.lines().any(|l| l.contains(" app ")), "{listed}");
    let mut server = vec!["run", "-d", "--name", "db", "--network", "app", IMAGE];
    server.extend(SERVER);
    ok(&face.tincan(&server));
    // The client asks for `db` by name, again until the server listens.
    let script = "for i in $(seq 50); do nc db 7000 </dev/null && exit; sleep 0.1; done; exit 1";
    let asked = ok(&face.tincan(&[
        "run",
        "--rm",
        "--name",
        "web",
        "--network",
        "app",
        IMAGE,
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(asked, "pong\n");
    // The server's /etc/hosts names another member while it runs, and not after.
    ok(&face.tincan(&["run", "-d", "--name", "cache", "--network", "app", IMAGE, "sleep", "60"]));
    let hosts = ok(&face.tincan(&["exec", "db", "cat", "/etc/hosts"]));
    assert!(hosts.contains("\tcache\t"), "cache runs:\n{hosts}");
    assert!(!hosts.contains("\tweb\t"), "web is gone:\n{hosts}");
    ok(&face.tincan(&["stop", "-t", "0", "cache"]));
    let hosts = ok(&face.tincan(&["exec", "db", "cat", "/etc/hosts"]));
    assert!(!hosts.contains("\tcache\t"), "cache stopped:\n{hosts}");
    ok(&face.tincan(&["rm", "cache"]));
    // One that ends on its own leaves the others' /etc/hosts by itself: its
    // supervisor's exit command tells the network.
    let brief = ["run", "-d", "--name", "brief", "--network", "app", IMAGE, "sleep", "3"];
    ok(&face.tincan(&brief));
    let hosts = ok(&face.tincan(&["exec", "db", "cat", "/etc/hosts"]));
    assert!(hosts.contains("\tbrief\t"), "brief runs:\n{hosts}");
    face.wait_for_status("brief", "Exited (0)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ok(&face.tincan(&["exec", "db", "cat", "/etc/hosts"])).contains("\tbrief\t") {
        assert!(Instant::now() < deadline, "brief ended, and db's /etc/hosts still names it");
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&face.tincan(&["rm", "brief"]));
    let network: serde_json::Value =
        serde_json::from_slice(&std::fs::read(face.store().join("networks/app.json")).unwrap())
            .unwrap();
    let bridge = network["bridge"].as_str().unwrap().to_owned();
    assert!(host_traces(&bridge).0, "the bridge {bridge} is up while db runs");
    // In use: not removed.
    let refused = face.tincan(&["network", "rm", "app"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has containers: db"), "{refused:?}");
    // On the default bridge, no names: `db` is not known there.
    let alone = ["run", "--rm", "--network", "bridge", IMAGE, "nc", "-w", "1", "db", "7000"];
    let alone = face.tincan(&alone);
    assert!(String::from_utf8_lossy(&alone.stderr).contains("bad address 'db'"), "{alone:?}");
    // Nor by its address: another network's containers are not reachable
    // (the host routes between the bridges; the isolation rules drop it).
    let shown = ok(&face.tincan(&["exec", "db", "ip", "-4", "-o", "addr", "show", "dev", "eth0"]));
    let address = shown.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap();
    let address = address.split('/').next().unwrap();
    let across = ["run", "--rm", "--network", "bridge", IMAGE, "nc", "-w", "1", address, "7000"];
    let across = face.tincan(&across);
    assert!(!across.status.success() && across.stdout.is_empty(), "{address}: {across:?}");
    ok(&face.tincan(&["rm", "-f", "db"]));
    assert_eq!(host_traces(&bridge), (false, String::new()), "the last one out takes the bridge");
    assert_eq!(ok(&face.tincan(&["network", "rm", "app"])), "app\n");
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), forwarding);
    assert_left_nothing(&face);
}

#[test]
fn a_published_port_reaches_the_container_from_the_hosts_loopback() {
    if !root_or_skip("face_network::a_published_port_reaches_the_container_from_the_hosts_loopback")
    {
        return;
    }
    let face = Face::new();
    ok(&face.tincan(&["network", "create", "web"]));
    let port = 20_000 + std::process::id() % 10_000;
    let publish = format!("127.0.0.1:{port}:7000");
    let mut server = vec!["run", "-d", "--name", "srv", "--network", "web", "-p", &publish, IMAGE];
    server.extend(SERVER);
    ok(&face.tincan(&server));
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let mut answer = String::new();
        let read = std::net::TcpStream::connect(("127.0.0.1", port as u16))
            .and_then(|mut s| s.read_to_string(&mut answer));
        if read.is_ok() && !answer.is_empty() {
            break answer;
        }
        assert!(Instant::now() < deadline, "nothing at {publish}: {read:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(answer, "pong\n");
    // On `none`, -p has nothing to publish to: a clear error.
    let refused =
        face.tincan(&["run", "--rm", "--network", "none", "-p", "8080:80", IMAGE, "true"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("-p publishes"), "{refused:?}");
    ok(&face.tincan(&["rm", "-f", "srv"]));
    ok(&face.tincan(&["network", "rm", "web"]));
    assert_left_nothing(&face);
}

/// With no bridge, chapter 6 writes no `/etc` files: the face does. On
/// `none`, `localhost` and the container's own name; on `host`, the host's
/// name and files.
#[test]
fn none_and_host_get_etc_files_of_their_own() {
    if !root_or_skip("face_network::none_and_host_get_etc_files_of_their_own") {
        return;
    }
    let face = Face::new();
    let script = "hostname; cat /etc/hostname; cat /etc/hosts";
    let none = ok(&face.tincan(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", script]));
    let mut lines = none.lines();
    let (name, file) = (lines.next().unwrap(), lines.next().unwrap());
    assert_eq!((name.len(), file), (12, name), "the short id:\n{none}");
    assert!(none.contains("127.0.0.1\tlocalhost\n"), "{none}");
    assert!(none.contains(&format!("127.0.0.1\t{name}\n")), "{none}");
    let script = "hostname; cat /etc/resolv.conf /etc/hosts";
    let host = ok(&face.tincan(&["run", "--rm", "--network", "host", IMAGE, "sh", "-c", script]));
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let files = std::fs::read_to_string("/etc/resolv.conf").unwrap()
        + &std::fs::read_to_string("/etc/hosts").unwrap();
    assert_eq!(host, format!("{host_name}\n{files}"));
    assert_left_nothing(&face);
}
