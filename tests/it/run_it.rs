//! What a learner sees when they run each chapter: the "Run it" sessions of the
//! book, run for real and pinned as snapshots the book includes.
//!
//! Each session is a few command lines, run in a sandbox (its hostname is
//! `tincan-host`; from chapter 6 on its bridge's subnet is 10.123.0.0/24, where
//! yours is 10.89.0.0/24). What differs from run to run is a placeholder:
//! `[HOSTPID]` for a PID on the host, `[SHORT ID]` for a container's id.

use regex::Regex;

use crate::support::{Sandbox, root_or_skip};

/// (options and command after `chNN run`, before the rootfs and after it).
type Line = (&'static [&'static str], &'static [&'static str]);

fn session(chapter: &str, lines: &[Line]) {
    if !root_or_skip(chapter) {
        return;
    }
    let mut transcript = String::new();
    for (options, command) in lines {
        let sandbox = Sandbox::new().options(options);
        let run = sandbox.run(chapter, command);
        let quoted: Vec<String> = command.iter().map(|word| shell_word(word)).collect();
        let options = options.iter().map(|o| format!("{o} ")).collect::<String>();
        let output =
            (run.stdout + &run.stderr).replace(&sandbox.rootfs().display().to_string(), "./rootfs");
        transcript.push_str(&format!(
            "$ sudo target/debug/{chapter} run {options}./rootfs {}\n{}",
            quoted.join(" "),
            placeholders(&output)
        ));
        if run.code != 0 {
            transcript.push_str(&format!("$ echo $?\n{}\n", run.code));
        }
    }
    insta::assert_snapshot!(chapter, transcript);
}

/// What differs from run to run, replaced (see the module's comment).
fn placeholders(output: &str) -> String {
    let pid = Regex::new(r"(?m)^\d{3,}$").unwrap();
    let output = pid.replace_all(output, "[HOSTPID]");
    let short_id = Regex::new(r"\b[0-9a-f]{12}\b").unwrap();
    short_id.replace_all(&output, "[SHORT ID]").into_owned()
}

/// A word as a person would type it in a shell: quoted with `'` when it must be
/// (a `'` inside becomes `'\''`).
fn shell_word(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.=:".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[test]
fn ch00() {
    session("ch00", &[(&[], &["sh", "-c", "echo $$; pwd; hostname"])]);
}

#[test]
fn ch01() {
    session("ch01", &[(&[], &["sh", "-c", "pwd; ls /; ls /proc | wc -l"])]);
}

#[test]
fn ch02() {
    session(
        "ch02",
        &[
            // `; true`: the shell stays, instead of replacing itself with ps.
            (&[], &["sh", "-c", "echo $$; ps -o pid,comm; true"]),
            (&["--init"], &["sh", "-c", "echo $$; ps -o pid,comm; true"]),
        ],
    );
}

#[test]
fn ch03() {
    session("ch03", &[(&[], &["sh", "-c", "cut -d\" \" -f5 /proc/self/mountinfo; ls /dev"])]);
}

#[test]
fn ch04() {
    session("ch04", &[(&[], &["hostname"]), (&["--hostname", "web"], &["hostname"])]);
}

#[test]
fn ch05() {
    session(
        "ch05",
        &[(&[], &["sh", "-c", "cat /proc/sysvipc/shm; ls -A /dev/mqueue; mount | grep mqueue"])],
    );
}

#[test]
fn ch06() {
    session(
        "ch06",
        &[
            (&["--net", "none"], &["ip", "-o", "-4", "addr"]),
            (&[], &["sh", "-c", "ip -o -4 addr; ip route; tail -1 /etc/hosts"]),
        ],
    );
}

#[test]
fn ch07() {
    session(
        "ch07",
        &[
            (
                &["--net", "none", "--memory", "32m"],
                &["tincan-probe", "attack", "exhaust-memory", "256"],
            ),
            (
                &["--net", "none", "--pids-limit", "16"],
                &["tincan-probe", "attack", "fork-bomb", "200"],
            ),
        ],
    );
}

/// Chapter 8: a root file system in a tarball becomes an image (`import`), and
/// runs on an overlay of its one layer; what a container changes stays in its
/// own upper directory, where a deleted file is a whiteout.
#[test]
fn ch08() {
    if !root_or_skip("ch08") {
        return;
    }
    let sandbox = Sandbox::new().options(&["--net", "none"]);
    let dir = sandbox.dir().display().to_string();
    let store = sandbox.store_dir().display().to_string();
    let tar = std::process::Command::new("tar")
        .args([
            "-C",
            &sandbox.rootfs().display().to_string(),
            "-czf",
            &format!("{dir}/rootfs.tar.gz"),
            ".",
        ])
        .status()
        .expect("run tar");
    assert!(tar.success());
    let mut transcript = String::from("$ tar -C ./rootfs -czf rootfs.tar.gz .\n");
    for args in [&["import", "rootfs.tar.gz", "busybox"][..], &["images"]] {
        let full: Vec<String> = args
            .iter()
            .map(|a| if a.ends_with(".tar.gz") { format!("{dir}/{a}") } else { a.to_string() })
            .collect();
        let out = sandbox.ch08(&full.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{out:?}");
        transcript.push_str(&format!(
            "$ sudo target/debug/ch08 {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let script = "echo hello > /srv-note; head -1 /proc/self/mountinfo";
    let run = sandbox.run_image("busybox", &["sh", "-c", script]);
    assert_eq!(run.code, 0, "{run:?}");
    transcript.push_str(&format!(
        "$ sudo target/debug/ch08 run --net none busybox sh -c '{script}'\n{}",
        run.stdout
    ));
    // The same store, with one option more.
    let sandbox = sandbox.options(&["--keep"]);
    let run = sandbox.run_image("busybox", &["rm", "/bin/ls"]);
    assert_eq!(run.code, 0, "{run:?}");
    let kept_dir =
        run.stderr.trim().strip_prefix("ch08: kept ").expect("where it was kept").to_owned();
    let upper = std::process::Command::new("ls")
        .args(["-ln", &format!("{kept_dir}/upper/bin")])
        .output()
        .unwrap();
    transcript.push_str(&format!(
        "$ sudo target/debug/ch08 run --net none --keep busybox rm /bin/ls\n{}$ sudo ls -ln STORE/containers/ID/upper/bin\n{}",
        run.stderr,
        String::from_utf8_lossy(&upper.stdout)
    ));
    std::fs::remove_dir_all(&kept_dir).unwrap();
    let transcript = transcript.replace(&store, "STORE");
    let digest = Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let transcript = digest.replace_all(&transcript, "sha256:[DIGEST]");
    let id = Regex::new(r"containers/[0-9a-f]{64}").unwrap();
    let transcript = id.replace_all(&transcript, "containers/ID");
    let size = Regex::new(r"\d+(\.\d+)? [KMG]iB").unwrap();
    let transcript = size.replace_all(&transcript, "[SIZE]");
    let mount_ids = Regex::new(r"(?m)^\d+ \d+ \d+:\d+ ").unwrap();
    let transcript = mount_ids.replace_all(&transcript, "[MOUNT IDS] ");
    let date = Regex::new(r"\w{3} +\d+ \d\d:\d\d").unwrap();
    let transcript = date.replace_all(&transcript, "[DATE]");
    insta::assert_snapshot!("ch08", placeholders(&transcript));
}

/// Chapter 9: the same container as chapter 8's, then in a user namespace:
/// root inside, 100000 outside, and no device nodes of its own making.
#[test]
fn ch09() {
    session(
        "ch09",
        &[
            (&["--net", "none"], &["sh", "-c", "id; cat /proc/self/uid_map"]),
            (
                &["--net", "none", "--uidmap", "0:100000:65536"],
                &[
                    "sh",
                    "-c",
                    "id; cat /proc/self/uid_map; stat -c \"%u:%g %n\" /bin/busybox; mknod /null c 1 3",
                ],
            ),
        ],
    );
}
