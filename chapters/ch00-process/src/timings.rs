//! `--debug-timings` (the OCI runtime's flag): how long each part of each
//! step takes, a line each on stderr — so that a slow start is profiled, not
//! guessed. Off unless [`enable`]d: then [`time`] costs one `OnceLock` read.
//!
//! A line: the time since `enable` (the same clock in the runtime and in the
//! child it clones: `CLOCK_MONOTONIC`), how long the part took, which process
//! ran it (PID 1: the container's, in its PID namespace), and what it was.
//!
//! ```text
//! timing:    0.412 ms    0.208 ms  [4242] before_clone cgroup
//! ```

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Print timings from now on (in this process, and in the children it clones).
pub fn enable() {
    let _ = START.set(Instant::now());
}

/// Parts quicker than this are not shown: most steps have nothing to do in
/// most of their parts, and 90 lines of nothing would hide the ten that count.
const SILENT_BELOW: Duration = Duration::from_micros(2);

/// Run `part`; if timings are on, say how long it took as `what`.
pub fn time<T>(what: impl FnOnce() -> String, part: impl FnOnce() -> T) -> T {
    timed(what, part, false)
}

fn timed<T>(what: impl FnOnce() -> String, part: impl FnOnce() -> T, marked: bool) -> T {
    let Some(start) = START.get() else { return part() };
    let began = Instant::now();
    let out = part();
    let took = began.elapsed();
    if took < SILENT_BELOW && !marked {
        return out; // a step with nothing to do in this part: no line
    }
    let since = began.duration_since(*start);
    let line = format!(
        "timing: {:>8.3} ms  {:>8.3} ms  [{}] {}\n",
        since.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e3,
        std::process::id(),
        what()
    );
    // One write: the runtime and its child share this stderr, and their
    // lines must not mix.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    out
}

/// Say that `what` happens now (took no time of its own: `execve`).
pub fn mark(what: &str) {
    timed(|| what.to_owned(), || (), true);
}
