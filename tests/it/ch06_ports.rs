//! Chapter 6's published ports (`-p HOSTPORT:CTRPORT`), as Docker's behave: at
//! every address of the host, one container per host port, and at once for a
//! container that takes over an address.
//!
//! Each test runs in a sandbox with a network namespace of its own, where the
//! containers' subnet is 10.123.0.0/24 (`SANDBOX_SUBNET`).

use crate::ch06::{VETHS_GONE, ch06_in};
use crate::support::{Sandbox, root_or_skip};

/// A container that serves its `/etc` over HTTP on port 80, and exits on TERM.
const SERVER: &str = "sh -c 'trap \"exit 0\" TERM; httpd -f -p 80 -h /etc & wait'";

/// A shell line that fetches `url` from the sandbox's host, retrying for up to
/// 5 s while the container starts (one try may take 1 s), unless the runtime
/// whose PID is in `$server` has ended.
fn fetch(url: &str) -> String {
    format!(
        "n=0; until timeout 1 busybox wget -q -O- {url} 2>/dev/null || ! kill -0 $server 2>/dev/null || [ $n -ge 100 ]; do sleep 0.05; n=$((n+1)); done"
    )
}

/// `-p 8080:80`: the container's port 80 answers at the host's 127.0.0.1:8080.
/// The container's /etc files are its own; the rootfs's stay as they were.
/// Afterwards, forwarding is as it was, and no nftables table or link is left.
#[test]
fn a_published_port_answers_on_the_hosts_loopback() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let hosts_on_disk = std::fs::read_to_string(sandbox.rootfs().join("etc/hosts")).unwrap();
    let run_ch06 = ch06_in(&sandbox, "-p 8080:80 --hostname web");
    let script = format!(
        "echo forwarding $(cat /proc/sys/net/ipv4/ip_forward)\n\
         {run_ch06} {SERVER} & server=$!\n\
         {}\nbusybox wget -qO- http://127.0.0.1:8080/hosts | tail -1\n\
         kill $server; wait $server; echo server $?\n{VETHS_GONE}\n\
         echo forwarding $(cat /proc/sys/net/ipv4/ip_forward)\nnft list tables\nip -o link show | cut -d: -f2 | tr -d ' '",
        fetch("http://127.0.0.1:8080/hostname")
    );
    let run = sandbox.script(&script);
    // Forwarding is as it was before (a new network namespace inherits the host's
    // IPv4 settings, so "before" is not always off).
    let lines: Vec<&str> = run.stdout.lines().collect();
    let before = lines.first().copied().unwrap_or_default();
    assert_eq!(lines[1..], ["web", "10.123.0.2\tweb", "server 0", before, "lo"], "{run:?}");
    assert_eq!(std::fs::read_to_string(sandbox.rootfs().join("etc/hosts")).unwrap(), hosts_on_disk);
}

/// The host's other addresses publish the port too (here one on an interface
/// of the sandbox's host, `lan0`, as a network card would have it), as `--help`
/// says.
#[test]
fn a_published_port_answers_at_the_hosts_other_addresses() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let run_ch06 = ch06_in(&sandbox, "-p 8080:80 --hostname web");
    let script = format!(
        "ip link add lan0 type veth peer name lan1 && ip addr add 192.0.2.10/24 dev lan0\n\
         ip link set lan0 up && ip link set lan1 up\n\
         {run_ch06} {SERVER} & server=$!\n{}\nkill $server; wait $server; echo server $?",
        fetch("http://192.0.2.10:8080/hostname")
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout, "web\nserver 0\n", "{run:?}");
}

/// A host port that a running container publishes is refused to the next one,
/// with a line that names the holder; the first one keeps its port.
#[test]
fn a_port_another_container_publishes_is_refused() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let first = ch06_in(&sandbox, "-p 18089:80");
    let second = ch06_in(&sandbox, "-p 18089:80");
    let script = format!(
        "{first} {SERVER} & server=$!\n{}\n\
         {second} true; echo second $?\n{}\nkill $server; wait $server",
        fetch("http://127.0.0.1:18089/hostname"),
        fetch("http://127.0.0.1:18089/hostname"),
    );
    let run = sandbox.script(&script);
    // The first container's hostname is its short id: the name the error gives.
    let holder = run.stdout.lines().next().unwrap_or_default();
    assert_eq!(run.stdout, format!("{holder}\nsecond 125\n{holder}\n"), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "ch06: connect to the bridge: publish the ports: Address already in use (port 18089/tcp is already published by container {holder})\n"
        )
    );
}

/// The next container on an address gets the MAC address the last one had
/// (both are made from the address): the host's neighbour cache, still holding
/// that MAC, is right at once. (With a new random MAC, the first connection
/// waits some 20 s for the stale entry to expire.)
#[test]
fn a_container_on_a_reused_address_is_reachable_at_once() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    // A first container keeps the bridge (and the host's neighbour cache on it)
    // while two others take 10.123.0.3 one after the other.
    let script = format!(
        "{keeper} {SERVER} & keeper=$!; server=$keeper\n{ready}\n\
         {a} {SERVER} & server=$!\n{fetch}\nkill $server; wait $server\n\
         {b} {SERVER} & server=$!\n\
         start=$(date +%s%N)\n{fetch}\necho took $(( ($(date +%s%N) - start) / 1000000 ))\n\
         kill $server $keeper; wait $server $keeper",
        keeper = ch06_in(&sandbox, ""),
        ready = fetch("http://10.123.0.2/hostname >/dev/null"),
        a = ch06_in(&sandbox, "--hostname first"),
        b = ch06_in(&sandbox, "--hostname second"),
        fetch = fetch("http://10.123.0.3/hostname"),
    );
    let run = sandbox.script(&script);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[..2], ["first", "second"], "{run:?}");
    let took: u64 = lines[2].trim_start_matches("took ").parse().expect("a time");
    assert!(took < 2_000, "the second container took {took} ms to answer: {run:?}");
}

/// A container reaches a port another container publishes at the host's
/// address, as it would from any other machine (the answer comes back through
/// the host: its source is translated too). Without `br_netfilter` — on many
/// hosts, and here switched off for the sandbox — nothing else would do that.
#[test]
fn a_container_reaches_a_port_another_one_publishes_at_the_hosts_address() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let client = "sh -c 'for i in $(seq 20); do timeout 1 wget -qO- http://192.0.2.10:8080/hostname && exit 0; sleep 0.1; done; exit 1'";
    let script = format!(
        "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables\n\
         ip link add lan0 type veth peer name lan1 && ip addr add 192.0.2.10/24 dev lan0\n\
         ip link set lan0 up && ip link set lan1 up\n\
         {server} {SERVER} & server=$!\n{ready}\n\
         {client_run} {client}; echo client $?\nkill $server; wait $server",
        server = ch06_in(&sandbox, "-p 8080:80 --hostname web"),
        ready = fetch("http://127.0.0.1:8080/hostname >/dev/null"),
        client_run = ch06_in(&sandbox, ""),
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout, "web\nclient 0\n", "{run:?}");
}

/// The host's loopback services stay out of reach even for a container that
/// routes 127.0.0.1 through its gateway (the bridge accepts loopback-sourced
/// packets for published ports, which would otherwise let these in: the class of
/// CVE-2020-8558).
#[test]
fn the_hosts_loopback_stays_out_of_reach_through_the_bridge() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let www = sandbox.dir().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("secret"), "the host's\n").unwrap();
    // Root in the container gives up its own 127.0.0.1 and routes it to the host.
    let attack = "ip addr del 127.0.0.1/8 dev lo; echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet; \
                  ip route add 127.0.0.1/32 via 10.123.0.1 dev eth0; \
                  timeout 2 wget -qO- http://127.0.0.1:9999/secret || echo blocked";
    let script = format!(
        // In the foreground (-f), so that `kill` ends the server itself; the
        // attack starts once it listens (port 9999 is 270F in /proc/net/tcp).
        "busybox httpd -f -p 127.0.0.1:9999 -h {www} & httpd=$!\n\
         until grep -q ':270F ' /proc/net/tcp; do sleep 0.05; done\n\
         {run} sh -c '{attack}'\nkill $httpd",
        www = www.display(),
        run = ch06_in(&sandbox, ""),
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout, "blocked\n", "{run:?}");
}
