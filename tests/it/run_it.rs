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
