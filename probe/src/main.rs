//! `tincan-probe`: what can this process see, and can it get out?
//!
//! It runs *inside* a container (every root filesystem that `cargo xtask rootfs`
//! builds has it at `/usr/local/bin/tincan-probe`):
//!
//! - `tincan-probe` prints a report of what the process sees: its PID and the
//!   process table, the hostname, its root and mount table, its user and ID maps,
//!   its five capability sets, seccomp and no_new_privs, and what it sees at
//!   Docker's masked and read-only paths. Every line can be checked by hand with
//!   ordinary commands (`echo $$`, `ps`, `hostname`, `ls /`,
//!   `cat /proc/self/mountinfo`, `id`, `grep Cap /proc/self/status`).
//!   The tests snapshot this report for every chapter.
//! - `tincan-probe cgroup` prints the cgroup it is in and that cgroup's limits,
//!   from `/proc/self/cgroup` and the files under `/sys/fs/cgroup`.
//! - `tincan-probe spin SECONDS` keeps a CPU busy and says how much CPU time it got.
//! - `tincan-probe fds` lists the file descriptors it inherited.
//! - `tincan-probe zombies N` makes N orphans and counts those left unreaped.
//! - `tincan-probe attack NAME [ARGS]` tries one escape from the escape lab and
//!   prints one line: `ESCAPED: evidence`, `BLOCKED: why`, or `TRIED: what`
//!   where only the host can tell.
//! - `tincan-probe peak-rss FILE COMMAND...` (on the host, for the tests)
//!   runs COMMAND and writes the peak memory of its process tree into FILE.
//! - `tincan-probe ticks MILLISECONDS` prints the wall clock (nanoseconds since
//!   1970) every MILLISECONDS, one line each, with no end: a reader that
//!   compares it with its own clock knows how late each line reached it
//!   (`cargo xtask bench-face` measures `logs -f` so).
//! - `tincan-probe attacks` lists the attacks, each with `harmless` or
//!   `harms-host`: the tests read it, so that none of the latter runs on the
//!   host (the probe also refuses them outside tincan's VM).

mod attack;
mod cgroup;
mod process;
mod report;
mod spin;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["report"] => {
            print!("{}", report::report());
            ExitCode::SUCCESS
        }
        ["cgroup"] => {
            print!("{}", cgroup::report());
            ExitCode::SUCCESS
        }
        ["fds"] => {
            println!("{}", process::fds());
            ExitCode::SUCCESS
        }
        ["zombies", n] => match n.parse() {
            Ok(n) => {
                println!("{}", process::zombies(n));
                ExitCode::SUCCESS
            }
            Err(_) => usage(),
        },
        ["spin", seconds] => match seconds.parse() {
            Ok(seconds) => {
                println!("{}", spin::spin(seconds));
                ExitCode::SUCCESS
            }
            Err(_) => usage(),
        },
        ["attacks"] => {
            for (name, _, _, harm) in attack::ATTACKS {
                let harm = if harm == attack::Harm::HarmsHost { "harms-host" } else { "harmless" };
                println!("{name} {harm}");
            }
            ExitCode::SUCCESS
        }
        ["peak-rss", file, command @ ..] if !command.is_empty() => process::peak_rss(file, command),
        ["ticks", period] => match period.parse::<u64>() {
            Ok(ms) => ticks(std::time::Duration::from_millis(ms)),
            Err(_) => usage(),
        },
        ["attack", name, rest @ ..] => match attack::run(name, rest) {
            Some(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            None => usage(),
        },
        _ => usage(),
    }
}

/// Print the wall clock every `period`, a line at a time (flushed: the
/// reader is a pipe), until the reader goes.
fn ticks(period: std::time::Duration) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let nanos = now.map_or(0, |d| d.as_nanos());
        if writeln!(out, "{nanos}").and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(period);
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: tincan-probe [report]\n       tincan-probe cgroup\n       tincan-probe spin SECONDS\n       tincan-probe fds\n       tincan-probe zombies N\n       tincan-probe ticks MILLISECONDS\n       tincan-probe attack NAME [ARGS...]\n       tincan-probe attacks"
    );
    eprintln!("attacks:");
    for (name, args, about, harm) in attack::ATTACKS {
        let vm_only = if harm == attack::Harm::HarmsHost { " (only in tincan's VM)" } else { "" };
        eprintln!("  {name} {args}\n      {about}{vm_only}");
    }
    ExitCode::from(2)
}
