//! `tincan list [--format table|json] [--quiet]`: the containers under `--root`.

use std::path::Path;

use crate::Failure;
use crate::commands::state::{self, OciState};

/// How `list` and `ps` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn list(root: &Path, format: Format, quiet: bool) -> Result<(), Failure> {
    let states = all(root)?;
    if quiet {
        states.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    match format {
        Format::Json => {
            let json = serde_json::to_string(&states).map_err(|e| Failure::new(e.to_string()))?;
            println!("{json}");
        }
        Format::Table => {
            let rows = states.iter().map(|s| {
                let pid = s.pid.to_string();
                [
                    s.id.clone(),
                    pid,
                    s.status.to_string(),
                    s.bundle.clone(),
                    s.created.clone(),
                    s.owner.clone(),
                ]
            });
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            print!("{}", table(std::iter::once(header).chain(rows).collect()));
        }
    }
    Ok(())
}

/// Every container's state, by id. A directory without a lock file is not a
/// container's; one still being created is left out.
fn all(root: &Path) -> Result<Vec<OciState>, Failure> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Failure::new(format!("read {}: {e}", root.display()))),
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("lock").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids.iter().filter_map(|id| state::of(root, id).ok()).collect())
}

/// Columns padded to their widest cell, as runc's tabwriter prints them.
fn table(rows: Vec<[String; 6]>) -> String {
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}
