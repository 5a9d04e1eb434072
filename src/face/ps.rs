//! `tincan ps [-a] [-q]`: the face's containers, as `docker ps` lists them —
//! running ones, or (`-a`) all, with how those that ended did.

use std::time::{Duration, SystemTime};

use ch08_images::store::default_root;
use tincan_supervisor::exit::Exit;

use super::store::{Containers, Record};
use crate::Failure;
use crate::lifecycle::Status;

pub fn ps(all: bool, quiet: bool) -> Result<(), Failure> {
    let containers = Containers::new(&default_root());
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for record in containers.all().into_iter().rev() {
        let exit = Exit::read(&containers.dir(&record.id)).ok().flatten();
        let (oci, up_since) = super::oci(&record.oci_root, &record.id).unzip();
        let up_since = up_since.flatten().and_then(|t| humantime::parse_rfc3339(&t).ok());
        let status = status(oci, up_since, exit.as_ref(), now);
        if all || status.starts_with("Up") {
            rows.push((record, status));
        }
    }
    if quiet {
        for (record, _) in rows {
            println!("{}", short(&record.id));
        }
        return Ok(());
    }
    let mut table =
        vec![["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"].map(String::from)];
    for (record, status) in rows {
        table.push(row(&record, status, now));
    }
    print!("{}", columns(&table));
    Ok(())
}

fn row(record: &Record, status: String, now: SystemTime) -> [String; 6] {
    let created = humantime::parse_rfc3339(&record.created)
        .ok()
        .map_or_else(|| "?".to_owned(), |t| format!("{} ago", human(since(t, now))));
    [
        short(&record.id).to_owned(),
        record.image.clone(),
        command(&record.command),
        created,
        status,
        record.name.clone(),
    ]
}

/// What `docker ps` says of a container: `Up 3 minutes`, `Up 2 seconds
/// (Paused)`, `Created`, `Exited (137) 5 seconds ago`.
fn status(
    oci: Option<Status>,
    up_since: Option<SystemTime>,
    exit: Option<&Exit>,
    now: SystemTime,
) -> String {
    let up = up_since.map_or_else(String::new, |t| format!(" {}", human(since(t, now))));
    let ago = |exit: &Exit| {
        humantime::parse_rfc3339(&exit.finished_at)
            .map_or_else(|_| String::new(), |t| format!(" {} ago", human(since(t, now))))
    };
    match (oci, exit) {
        (_, Some(exit)) => format!("Exited ({}){}", exit.status, ago(exit)),
        (Some(Status::Running), None) => format!("Up{up}"),
        (Some(Status::Paused), None) => format!("Up{up} (Paused)"),
        (Some(Status::Created | Status::Creating), None) => "Created".to_owned(),
        // Ended with no supervisor to record how: it was killed.
        (Some(Status::Stopped) | None, None) => "Exited (unknown)".to_owned(),
    }
}

fn since(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// Docker's words for a duration (go-units' `HumanDuration`).
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        2..60 => format!("{s} seconds"),
        60..120 => "About a minute".to_owned(),
        120..3600 => format!("{} minutes", s / 60),
        3600..7200 => "About an hour".to_owned(),
        7200..172_800 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The command, quoted and cut as `docker ps` shows it.
fn command(argv: &[String]) -> String {
    let line = argv.join(" ");
    let cut: String = line.chars().take(20).collect();
    if cut.len() < line.len() { format!("\"{cut}…\"") } else { format!("\"{line}\"") }
}

/// Left-aligned columns, three spaces apart.
fn columns(rows: &[[String; 6]]) -> String {
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_says_them() {
        let words = [0, 1, 59, 60, 125, 3600, 7300, 200_000].map(|s| human(Duration::from_secs(s)));
        let want = [
            "Less than a second",
            "1 second",
            "59 seconds",
            "About a minute",
            "2 minutes",
            "About an hour",
            "2 hours",
            "2 days",
        ];
        assert_eq!(words, want);
    }

    #[test]
    fn an_ended_container_says_how_and_a_killed_supervisor_is_not_hidden() {
        let now = SystemTime::now();
        let exit = Exit {
            pid: 1,
            status: 137,
            signal: Some(9),
            finished_at: humantime::format_rfc3339(now - Duration::from_secs(5)).to_string(),
        };
        assert_eq!(status(None, None, Some(&exit), now), "Exited (137) 5 seconds ago");
        let up = Some(now - Duration::from_secs(180));
        assert_eq!(status(Some(Status::Running), up, None, now), "Up 3 minutes");
        assert_eq!(status(Some(Status::Paused), up, None, now), "Up 3 minutes (Paused)");
        assert_eq!(status(Some(Status::Stopped), up, None, now), "Exited (unknown)");
    }

    #[test]
    fn a_long_command_is_cut() {
        assert_eq!(command(&["sh".into(), "-c".into(), "echo hi".into()]), "\"sh -c echo hi\"");
        let long = command(&["sh".into(), "-c".into(), "while :; do sleep 1; done".into()]);
        assert_eq!(long, "\"sh -c while :; do sl…\"");
    }
}
