//! Chapter 6: a network namespace. With `--net none`, only its own `lo`, up;
//! with `--net host`, the host's stack; with `--net bridge`, a bridge (the
//! published ports are in `ch06_ports.rs`).
//!
//! Bridged tests run in a sandbox with a network namespace of its own, on the
//! sandbox's bridge and subnet (`tincan-test`, 10.123.0.0/24: `Sandbox::env`).

crate::every_chapter_checks!("ch06");
crate::terminal_checks!("ch06", "/dev/pts/0");

#[test]
fn none_has_only_lo_and_it_is_up() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let script = "ls /sys/class/net; ip -o addr show lo | grep -o 'inet [0-9./]*'";
    let run = Sandbox::new().run("ch06", &["--net", "none", "sh", "-c", script]);
    assert_eq!(run.stdout, "lo\ninet 127.0.0.1/8\n", "{run:?}");
}

#[test]
fn a_loopback_service_inside_is_the_containers_own() {
    if !root_or_skip(module_path!()) {
        return;
    }
    // busybox httpd puts itself in the background; PID 1's exit takes it down.
    let script =
        "httpd -p 127.0.0.1:8080 -h /etc && wget -qO- http://127.0.0.1:8080/group | head -1";
    let run = Sandbox::new().run("ch06", &["sh", "-c", script]);
    assert_eq!(run.stdout, "root:x:0:\n", "{run:?}");
}

/// `--net host` on the real host: the container sees the host's interfaces.
#[test]
fn host_shares_the_hosts_interfaces() {
    if !root_or_skip(module_path!()) {
        return;
    }
    // Other tests' containers come and go meanwhile, each with a veth on the
    // host (`tc` and 12 hex digits, chapter 6's names): not the host's own.
    let own = |name: &str| {
        let veth = name.len() == 14
            && name.starts_with("tc")
            && name[2..].bytes().all(|b| b.is_ascii_hexdigit());
        !veth
    };
    // The tests that make bridges and veths of their own hold the host.
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Sandbox::new();
    let mut ours: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| own(name))
        .collect();
    ours.sort();
    let run = sandbox.run_on_host("ch06", &["--net", "host", "ls", "/sys/class/net"]);
    let seen: Vec<&str> = run.stdout.lines().filter(|name| own(name)).collect();
    assert_eq!(seen, ours, "{run:?}");
}

#[test]
fn an_unknown_network_is_a_usage_error() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch06", &["--net", "bogus", "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains("invalid value 'bogus' for '--net <NET>'"), "{run:?}");
}

/// Two containers on the bridge reach each other by address; when both have
/// exited, no veth pair, bridge or lease is left.
#[test]
fn bridged_containers_reach_each_other_and_leave_nothing_behind() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let run_ch06 = ch06_in(&sandbox, "--net bridge");
    // The first container serves /etc over HTTP; it is the first on the bridge, so
    // it gets the first address after the gateway. PID 1 needs a TERM handler.
    let server = "sh -c 'trap \"exit 0\" TERM; httpd -f -p 80 -h /etc & wait'";
    let client = "sh -c 'ip -o -4 addr show eth0 | grep -o \"inet [0-9./]*\"; \
                  for i in $(seq 50); do wget -qO- http://10.123.0.2/group && exit 0; sleep 0.1; done; exit 1'";
    let script = format!(
        "{run_ch06} {server} & server=$!\n\
         n=0; while [ ! -e $TINCAN_STATE_DIR/net/$TINCAN_BRIDGE/10.123.0.2 ] && kill -0 $server 2>/dev/null && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done\n\
         {run_ch06} {client}\nclient=$?\nkill $server; wait $server\n\
         echo client $client server $?\n{VETHS_GONE}\nip -o link show | cut -d: -f2 | tr -d ' '\nls -A $TINCAN_STATE_DIR/net"
    );
    let run = sandbox.script(&script);
    assert_eq!(
        run.stdout, "inet 10.123.0.3/24\nroot:x:0:\nnogroup:x:65534:\nclient 0 server 0\nlo\n",
        "{run:?}"
    );
}

/// Many containers starting at once on one bridge get different addresses. All
/// eight hold their address at the same time: each waits on a shared FIFO until
/// the test has seen every address, so none can give its address back early.
#[test]
fn concurrent_starts_get_distinct_addresses() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let run_ch06 = ch06_in(&sandbox, "--net bridge");
    let dir = sandbox.dir().display().to_string();
    let script = format!(
        "mkfifo {dir}/gate; exec 3<>{dir}/gate\n\
         for i in 1 2 3 4 5 6 7 8; do {run_ch06} sh -c 'ip -o -4 addr show eth0; read x' <&3 > {dir}/out.$i 2>&1 & pids=\"$pids $!\"; done\n\
         alive() {{ for p in $pids; do kill -0 $p 2>/dev/null && return 0; done; return 1; }}\n\
         n=0; while [ $(cat {dir}/out.* | grep -c inet) -lt 8 ] && alive && [ $n -lt 300 ]; do sleep 0.05; n=$((n+1)); done\n\
         cat {dir}/out.* | grep -o 'inet [0-9.]*' | sort -u | wc -l\n\
         for i in 1 2 3 4 5 6 7 8; do echo go >&3; done; wait"
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout.trim(), "8", "{run:?}");
}

/// On the real host (not in a sandbox): a bridged container with a published port
/// leaves the host's interfaces, addresses, nftables tables and IP forwarding
/// exactly as it found them.
#[test]
fn a_bridged_container_leaves_the_hosts_network_as_it_was() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    let network = || {
        let run = |cmd: &[&str]| {
            let out =
                std::process::Command::new(cmd[0]).args(&cmd[1..]).output().expect("run ip/nft");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let forwarding =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("ip_forward");
        [run(&["ip", "-o", "addr", "show"]), run(&["nft", "list", "tables"]), forwarding].join("\n")
    };
    let before = network();
    // The sandbox's own bridge and subnet (`Sandbox::env`), never tincan0's.
    let run = sandbox.run_on_host(
        "ch06",
        &["-p", "18080:80", "sh", "-c", "ip -o -4 addr show eth0 | grep -c inet"],
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "1\n"), "{run:?}");
    // The kernel removes the container's veth pair with its namespace, just after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while network() != before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(network(), before, "ch06 left something in the host's network");
}

/// `ip_forward` is the host's, whatever state directory a runtime keeps:
/// two containers on the real host, each with a state directory, bridge and
/// subnet of its own (as a test's and yours would be). The first, which
/// switched forwarding on, ends while the second still needs it: it stays
/// on; then the second ends, and it is as it was.
#[test]
fn forwarding_stays_on_while_a_bridge_of_another_state_needs_it() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let _host = crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
    const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
    let forwarding = || std::fs::read_to_string(IP_FORWARD).unwrap();
    // Off to begin with, whatever it was (the host's value comes back at the
    // end): with it on already, tincan never switches it, and there would
    // be nothing to see.
    struct PutBack(String);
    impl Drop for PutBack {
        fn drop(&mut self) {
            let _ = std::fs::write(IP_FORWARD, &self.0);
        }
    }
    let _put_back = PutBack(forwarding());
    std::fs::write(IP_FORWARD, "0").expect("switch forwarding off");
    let (first, second) = (Sandbox::new(), Sandbox::new());
    let first_run = first.start_on_host("ch06");
    assert_eq!(forwarding(), "1\n", "on with the first bridge");
    let second_run = second.start_on_host("ch06");
    assert_eq!(first_run.finish(), 0);
    assert_eq!(forwarding(), "1\n", "still on: the second bridge needs it");
    assert_eq!(second_run.finish(), 0);
    assert_eq!(forwarding(), "0\n", "off again, once no bridge is left");
}

/// Outbound NAT, proven against an "upstream" host the test builds: a network
/// namespace at 198.51.100.2, reached from the sandbox's host through a veth pair.
/// Its web server reports the client address it sees: the host's, not the
/// container's.
#[test]
fn outbound_traffic_leaves_with_the_hosts_address() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let run = sandbox.script(&outbound_script(&sandbox, ""));
    // busybox httpd listens on IPv6 too, so it writes IPv4 clients as mapped addresses.
    assert_eq!(run.stdout, "[::ffff:198.51.100.1]\nclient 0\n", "{run:?}");
}

/// A host whose forward policy is "drop" (as Docker and ufw leave it, here in
/// the `filter` table that iptables-nft uses) still forwards the bridge's
/// traffic; when the bridge goes, its accept rules go too.
#[test]
fn nat_works_where_the_hosts_forward_policy_is_drop() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let drop_policy = "nft add table ip filter\n\
        nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }'";
    let script = format!(
        "{}\nnft list table ip filter | grep -c tincan",
        outbound_script(&sandbox, drop_policy)
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout, "[::ffff:198.51.100.1]\nclient 0\n0\n", "{run:?}");
}

/// A script that builds an "upstream" host — a network namespace at 198.51.100.2
/// behind a veth pair, whose web server reports the client's address — runs
/// `setup`, then a bridged container that asks the upstream who it is.
fn outbound_script(sandbox: &Sandbox, setup: &str) -> String {
    let dir = sandbox.dir().display().to_string();
    let cgi = sandbox.dir().join("www/cgi-bin/addr");
    std::fs::create_dir_all(cgi.parent().unwrap()).unwrap();
    std::fs::write(
        &cgi,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run_ch06 = ch06_in(sandbox, "--net bridge");
    let client = "sh -c 'for i in $(seq 50); do wget -qO- http://198.51.100.2:9000/cgi-bin/addr && exit 0; sleep 0.1; done; exit 1'";
    format!(
        "unshare --net sh -c 'touch {dir}/up; exec busybox httpd -f -p 9000 -h {dir}/www' & upstream=$!\n\
         n=0; while [ ! -e {dir}/up ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done\n\
         ip link add up0 type veth peer name up1 && ip link set up1 netns $upstream\n\
         ip addr add 198.51.100.1/24 dev up0 && ip link set up0 up\n\
         nsenter -t $upstream -n ip addr add 198.51.100.2/24 dev up1 && nsenter -t $upstream -n ip link set up1 up\n\
         {setup}\n\
         {run_ch06} {client}; echo client $?\n\
         kill $upstream; wait $upstream || true"
    )
}

/// A bridged container killed from outside while it runs: the runtime still takes
/// down its veth pair, its address, its port rules and (being the last) the bridge.
#[test]
fn a_killed_container_leaves_nothing_behind() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let run_ch06 = ch06_in(&sandbox, "-p 8080:80");
    // The runtime's children include short-lived `nft` processes: find the one
    // that runs `sleep`, which is the container once it has started.
    let script = format!(
        "{run_ch06} sleep 60 & runtime=$!\n\
         container=; n=0\n\
         while [ -z \"$container\" ] && kill -0 $runtime 2>/dev/null && [ $n -lt 200 ]; do\n\
           for pid in $(cat /proc/$runtime/task/$runtime/children); do\n\
             [ \"$(cat /proc/$pid/comm 2>/dev/null)\" = sleep ] && container=$pid\n\
           done; sleep 0.05; n=$((n+1))\n\
         done\n\
         kill -KILL $container; wait $runtime; echo runtime $?\n\
         {VETHS_GONE}\nnft list tables; ip -o link show | cut -d: -f2 | tr -d ' '; ls -A $TINCAN_STATE_DIR/net $TINCAN_STATE_DIR/containers"
    );
    let run = sandbox.script(&script);
    assert_eq!(
        run.stdout,
        format!(
            "runtime 137\nlo\n{state}/containers:\n\n{state}/net:\n",
            state = sandbox.state_dir().display()
        ),
        "{run:?}"
    );
}

/// A bridge tincan did not make (`docker0`, `virbr0`, a host's `br0`) is never
/// used, and never removed.
#[test]
fn a_bridge_tincan_did_not_make_is_left_alone() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new()
        .own_network()
        .before("ip link add br0 type bridge")
        .after("ip -o link show br0 | wc -l");
    let run = sandbox.run("ch06", &["--bridge", "br0", "true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "ch06: connect to the bridge: use the bridge br0: File exists (br0 is an interface tincan did not make: choose another --bridge)\n"
    );
    assert_eq!(run.after, "1\n", "br0 is still there");
}

/// The bridge has a MAC address of its own, made from its address (10.123.0.1):
/// the containers' gateway keeps it whichever containers come and go.
#[test]
fn the_bridge_has_a_mac_address_made_from_its_own() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().own_network();
    let script = format!(
        "{} sh -c 'ip neigh show 10.123.0.1; ping -c1 -W1 10.123.0.1 >/dev/null; ip neigh show 10.123.0.1 | cut -d\" \" -f5'",
        ch06_in(&sandbox, "")
    );
    let run = sandbox.script(&script);
    assert_eq!(run.stdout, "02:42:0a:7b:00:01\n", "{run:?}");
}

/// A shell line that waits (up to 2 s) for the kernel to remove the veth pairs
/// of containers that ended: it does so with their network namespaces, just after.
pub const VETHS_GONE: &str = "n=0; while [ -n \"$(ip -o link show type veth)\" ] && [ $n -lt 100 ]; do sleep 0.02; n=$((n+1)); done";

/// The shell command line `ch06 run OPTIONS ROOTFS` for a sandbox's script.
pub fn ch06_in(sandbox: &Sandbox, options: &str) -> String {
    format!(
        "{} run {options} {}",
        crate::support::chapter_bin("ch06").display(),
        sandbox.rootfs().display()
    )
}
