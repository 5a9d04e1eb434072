//! `--log FILE` and `--log-format text|json`: where a failure is written
//! besides stderr. containerd's shim reads the runtime's errors from a JSON
//! log (`--log B/log.json --log-format json`), one object a line, as runc
//! writes them.

use std::io::Write;
use std::path::Path;

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// One error line, in `format`.
pub fn line(format: LogFormat, message: &str) -> String {
    let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    match format {
        LogFormat::Json => {
            let object = serde_json::json!({ "level": "error", "msg": message, "time": time });
            format!("{object}\n")
        }
        LogFormat::Text => format!("time={time:?} level=error msg={message:?}\n"),
    }
}

/// Append `message` to the log file (made if missing).
pub fn append(file: &Path, format: LogFormat, message: &str) -> std::io::Result<()> {
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    log.write_all(line(format, message).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_with_the_message() {
        let line = line(LogFormat::Json, "container \"x\" does not exist");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "container \"x\" does not exist");
        assert!(line.ends_with("}\n"));
    }
}
