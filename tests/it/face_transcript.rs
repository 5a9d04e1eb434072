//! A session with the face, as the book shows it: `run -d`, `ps`, `logs`,
//! `exec`, `inspect`, `stop`, `ps -a`, `rm`, pinned with insta. What differs
//! from run to run is a placeholder: `[ID]` (64 hex digits), `[SHORT ID]`
//! (12), `[TIME]` (RFC 3339), `[AGO]` (a duration `ps` prints), `[PID]`,
//! `[STORE]` (the test's image store) and `[RUNTIME]` (its OCI root); `ps`'s
//! columns are aligned again after the placeholders are in.

use regex::Regex;

use crate::support::face::{Face, IMAGE, assert_left_nothing, ok};
use crate::support::root_or_skip;

#[test]
fn a_session_with_the_face() {
    if !root_or_skip("face_transcript::a_session_with_the_face") {
        return;
    }
    let face = Face::new();
    let mut transcript = String::new();
    let mut say = |args: &[&str], shown: &str| {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { (*a).to_owned() })
            .collect();
        transcript.push_str(&format!("$ sudo tincan {}\n{shown}", quoted.join(" ")));
    };
    // `exec`: PID 1 is `sleep` alone, so `ps` in it is always PID 2.
    let script = "echo hello; echo oops >&2; exec sleep 1000";
    let run = ["run", "-d", "--name", "web", "-m", "64m", IMAGE, "sh", "-c", script];
    say(&run, &ok(&face.tincan(&run)));
    face.wait_for_status("web", "Up");
    // Both lines written before we look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(&face.tincan(&["logs", "web"]).stderr).contains("oops") {
        assert!(std::time::Instant::now() < deadline, "no logs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    say(&["ps"], &align(&ok(&face.tincan(&["ps"]))));
    let logs = face.tincan(&["logs", "web"]);
    say(&["logs", "web"], &format!("{}{}", ok(&logs), String::from_utf8_lossy(&logs.stderr)));
    say(&["exec", "web", "ps"], &ok(&face.tincan(&["exec", "web", "ps"])));
    say(&["inspect", "web"], &ok(&face.tincan(&["inspect", "web"])));
    say(&["stop", "-t", "1", "web"], &ok(&face.tincan(&["stop", "-t", "1", "web"])));
    say(&["ps", "-a"], &align(&ok(&face.tincan(&["ps", "-a"]))));
    say(&["rm", "web"], &ok(&face.tincan(&["rm", "web"])));
    assert_left_nothing(&face);
    let store = face.store().display().to_string();
    let runtime = face.oci_root().display().to_string();
    insta::assert_snapshot!("face_session", placeholders(&transcript, &store, &runtime));
}

/// Run-to-run values as placeholders (see the module's comment).
fn placeholders(text: &str, store: &str, runtime: &str) -> String {
    let text = text.replace(store, "[STORE]").replace(runtime, "[RUNTIME]");
    let rules = [
        (r"\b[0-9a-f]{64}\b", "[ID]"),
        (r"\b[0-9a-f]{12}\b", "[SHORT ID]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
        (r"(Less than a second|About a minute|\d+ (seconds|minutes)|1 second)", "[AGO]"),
        (r#""Pid": \d+"#, r#""Pid": [PID]"#),
    ];
    rules.iter().fold(text, |text, (pattern, with)| {
        Regex::new(pattern).unwrap().replace_all(&text, *with).into_owned()
    })
}

/// `ps`'s table with its columns aligned again (each column as wide as its
/// widest cell, then three spaces), once its cells have placeholders.
fn align(table: &str) -> String {
    let split = Regex::new(r" {2,}").unwrap();
    let rows: Vec<Vec<String>> = table
        .lines()
        .map(|l| placeholders(l, "\0", "\0"))
        .map(|l| split.split(&l).map(str::to_owned).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}
