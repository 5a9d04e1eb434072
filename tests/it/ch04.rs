//! Chapter 4: a UTS namespace. Its own hostname, which it may change.

crate::every_chapter_checks!("ch04");
crate::terminal_checks!("ch04", "/dev/pts/0");

#[test]
fn the_default_hostname_is_the_start_of_the_container_id() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch04", &["hostname"]);
    let name = run.stdout.trim();
    assert!(name.len() == 12 && name.chars().all(|c| c.is_ascii_hexdigit()), "{run:?}");
}

#[test]
fn hostname_names_the_container() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let run = Sandbox::new().run("ch04", &["--hostname", "web-1", "hostname"]);
    assert_eq!(run.stdout, "web-1\n", "{run:?}");
}

#[test]
fn a_hostname_change_inside_stays_inside() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new().after("hostname");
    let run = sandbox.run("ch04", &["sh", "-c", "hostname changed-inside && hostname"]);
    assert_eq!(run.stdout, "changed-inside\n", "{run:?}");
    assert_eq!(
        run.after,
        format!("{}\n", crate::support::SANDBOX_HOSTNAME),
        "the sandbox's host was renamed"
    );
}

#[test]
fn an_invalid_hostname_is_one_clear_line_and_125() {
    if !root_or_skip(module_path!()) {
        return;
    }
    // Checked before anything is made: a usage error, like any bad option.
    let long = "x".repeat(65); // the kernel's limit is 64 bytes
    for (name, why) in [
        (long.as_str(), "65 characters; a host name has at most 64"),
        (
            "web_1",
            "use letters, digits and '-' (not first or last), in labels separated by dots, such as web-1 or db.internal",
        ),
    ] {
        let sandbox = Sandbox::new();
        let run = sandbox.run("ch04", &["--hostname", name, "true"]);
        assert_eq!(run.code, 125, "{run:?}");
        assert!(
            run.stderr.starts_with(&format!(
                "error: invalid value '{name}' for '--hostname <NAME>': {why}\n"
            )),
            "{run:?}"
        );
        assert!(!sandbox.state_dir().exists(), "nothing was made");
    }
}
