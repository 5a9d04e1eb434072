//! A container's output as JSON lines, in Docker's `json-file` format:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-12-02T12:00:00.123456789Z"}
//! ```
//!
//! One record per line the container printed, with the stream it came on and
//! when the supervisor read it. A program writes bytes, not lines: a line may
//! arrive in pieces, or never end. So each stream keeps the start of a line
//! until its end comes, and a line longer than [`MAX_LINE`] is cut into
//! records of that size (as Docker does), so that a program printing without
//! newlines cannot make the supervisor hold unbounded memory.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

/// The longest record: Docker's 16 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// Which of the container's outputs a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of the log file.
#[derive(Debug, Serialize)]
struct Record<'a> {
    log: &'a str,
    stream: &'static str,
    time: String,
}

/// What one stream has sent that is not yet a whole line.
#[derive(Debug)]
pub struct Lines {
    stream: Stream,
    pending: Vec<u8>,
}

impl Lines {
    pub fn new(stream: Stream) -> Lines {
        Lines { stream, pending: Vec::new() }
    }

    /// Take `bytes` just read, and write every line they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.next_end(start) {
            write_record(self.stream, &self.pending[start..end], out)?;
            start = end;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The stream has ended: what is left is a last line without its newline.
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            write_record(self.stream, &self.pending, out)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Where the record starting at `start` ends: after its newline, or
    /// [`MAX_LINE`] bytes on; `None` if neither is there yet.
    fn next_end(&self, start: usize) -> Option<usize> {
        let rest = &self.pending[start..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(newline) if newline < MAX_LINE => Some(start + newline + 1),
            // At the start of a character (a UTF-8 continuation byte is
            // 0b10xxxxxx): a cut inside one would spoil both halves.
            _ if rest.len() > MAX_LINE => {
                let starts_a_char = |k: usize| rest[k] & 0xc0 != 0x80;
                let cut = (MAX_LINE - 3..=MAX_LINE).rev().find(|&k| starts_a_char(k));
                Some(start + cut.unwrap_or(MAX_LINE))
            }
            _ => None,
        }
    }
}

// ANCHOR: record
fn write_record(stream: Stream, line: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    // A program may print bytes that are not UTF-8; JSON holds text, so those
    // become U+FFFD, as in Docker's logs.
    let log = String::from_utf8_lossy(line);
    let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    let record = Record { log: &log, stream: stream.name(), time };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}
// ANCHOR_END: record

#[cfg(test)]
mod tests {
    use super::*;

    fn records(out: &[u8]) -> Vec<(String, String)> {
        let text = std::str::from_utf8(out).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(v["time"].as_str().unwrap().ends_with('Z'), "{l}");
                (v["stream"].as_str().unwrap().to_owned(), v["log"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    #[test]
    fn a_line_in_pieces_is_one_record() {
        let (mut lines, mut out) = (Lines::new(Stream::Stdout), Vec::new());
        lines.push(b"hel", &mut out).unwrap();
        assert!(out.is_empty());
        lines.push(b"lo\nwor", &mut out).unwrap();
        lines.push(b"ld\n\n", &mut out).unwrap();
        let want = ["hello\n", "world\n", "\n"].map(|l| ("stdout".to_owned(), l.to_owned()));
        assert_eq!(records(&out), want);
    }

    #[test]
    fn the_last_line_without_a_newline_is_kept_at_the_end() {
        let (mut lines, mut out) = (Lines::new(Stream::Stderr), Vec::new());
        lines.push(b"a\nno newline", &mut out).unwrap();
        lines.finish(&mut out).unwrap();
        lines.finish(&mut out).unwrap();
        let want = [("stderr", "a\n"), ("stderr", "no newline")];
        assert_eq!(records(&out), want.map(|(s, l)| (s.to_owned(), l.to_owned())));
    }

    #[test]
    fn a_line_that_never_ends_is_cut_and_not_held() {
        let (mut lines, mut out) = (Lines::new(Stream::Stdout), Vec::new());
        lines.push(&vec![b'x'; MAX_LINE * 2 + 5], &mut out).unwrap();
        assert_eq!(lines.pending.len(), 5);
        let got = records(&out);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, l)| l.len() == MAX_LINE));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let (mut lines, mut out) = (Lines::new(Stream::Stdout), Vec::new());
        // "é" is two bytes, the second of them where the cut would fall.
        let mut long = vec![b'x'; MAX_LINE - 1];
        long.extend_from_slice("é and more\n".as_bytes());
        lines.push(&long, &mut out).unwrap();
        let got = records(&out);
        assert_eq!(got[0].1.len(), MAX_LINE - 1);
        assert_eq!(got[1].1, "é and more\n");
    }

    #[test]
    fn bytes_that_are_not_utf8_and_quotes_still_make_json() {
        let (mut lines, mut out) = (Lines::new(Stream::Stdout), Vec::new());
        lines.push(b"\"q\" \\ \xff\tend\n", &mut out).unwrap();
        assert_eq!(records(&out)[0].1, "\"q\" \\ \u{fffd}\tend\n");
    }
}
