//! `tincan-probe spin SECONDS`: keep one CPU busy for SECONDS of wall-clock time,
//! then say how much CPU time that got. Under `--cpus 0.5` it gets about half.

use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

pub fn spin(seconds: f64) -> String {
    let start = Instant::now();
    let window = Duration::from_secs_f64(seconds);
    let mut spins: u64 = 0;
    while start.elapsed() < window {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            secs(u.user_time()) + secs(u.system_time())
        })
        .unwrap_or(f64::NAN);
    format!("cpu {cpu:.3} s in {wall:.3} s of wall-clock time")
}
