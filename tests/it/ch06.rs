//! Chapter 6: a network namespace. With `--net none`, only its own `lo`, up;
//! with `--net host`, the host's stack.

crate::every_chapter_checks!("ch06");

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

#[test]
fn host_shares_the_hosts_interfaces() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let mut ours: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ours.sort();
    let run = Sandbox::new().run("ch06", &["--net", "host", "ls", "/sys/class/net"]);
    assert_eq!(run.stdout, ours.join("\n") + "\n", "{run:?}");
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
