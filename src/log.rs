//! `--log FILE` and `--log-format text|json`: where a failure is written
//! besides stderr. containerd's shim reads the runtime's errors from a JSON
//! log (`--log B/log.json --log-format json`), one object a line, as runc
//! writes them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How bad what is logged is: runc's (logrus's) names for the levels.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// Where this command logs: set once, from its options.
static SINK: std::sync::OnceLock<(Option<PathBuf>, LogFormat)> = std::sync::OnceLock::new();

/// Log to `file` too (if any), in `format`.
pub fn init(file: Option<PathBuf>, format: LogFormat) {
    let _ = SINK.set((file, format));
}

/// A command's failure: one line on stderr, as engines expect, and the log.
pub fn error(message: &str) {
    emit(Level::Error, message);
}

/// Something that went wrong without failing the command (a `poststop`
/// hook): the same, at the warning level.
pub fn warning(message: &str) {
    emit(Level::Warning, message);
}

fn emit(level: Level, message: &str) {
    let (file, format) = SINK.get().cloned().unwrap_or((None, LogFormat::Text));
    let prefix = match level {
        Level::Error => "tincan: ",
        Level::Warning => "tincan: warning: ",
    };
    match (file, format) {
        (Some(file), format) => {
            if let Err(e) = append(&file, format, level, message) {
                eprintln!("tincan: write the log {}: {e}", file.display());
            }
            eprintln!("{prefix}{message}");
        }
        (None, LogFormat::Json) => eprint!("{}", line(LogFormat::Json, level, message)),
        (None, LogFormat::Text) => eprintln!("{prefix}{message}"),
    }
}

/// One line, in `format`.
pub fn line(format: LogFormat, level: Level, message: &str) -> String {
    let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let level = level.name();
    match format {
        LogFormat::Json => {
            let object = serde_json::json!({ "level": level, "msg": message, "time": time });
            format!("{object}\n")
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={message:?}\n"),
    }
}

/// Append `message` to the log file (made if missing).
fn append(file: &Path, format: LogFormat, level: Level, message: &str) -> std::io::Result<()> {
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    log.write_all(line(format, level, message).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_with_the_message() {
        let line = line(LogFormat::Json, Level::Error, "container \"x\" does not exist");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "container \"x\" does not exist");
        assert!(line.ends_with("}\n"));
    }
}
