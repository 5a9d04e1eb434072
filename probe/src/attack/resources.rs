//! Taking the host's memory and process table: what only limits (cgroups,
//! chapter 7) stop. `man 7 cgroups`.

use nix::sys::signal::{Signal, kill};

/// Take memory and write to every page of it (untouched memory costs nothing).
/// The host sees what it cost: the largest resident memory of the run.
/// Bounded, so that where nothing stops it the host loses only `mib` MiB for a
/// moment. A memory limit stops it the hard way: the kernel kills this process,
/// and this line is never printed; the runtime says why.
pub fn exhaust_memory(mib: usize) -> String {
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for _ in 0..mib {
        held.push(vec![0x5a; 1 << 20]);
    }
    let touched: usize = held.iter().map(|chunk| chunk[chunk.len() - 1] as usize).sum();
    format!("ESCAPED: held {mib} MiB ({touched} chunks touched); nothing stopped it")
}

/// The fork bomb, bounded: start `n` processes that wait, hold them for a moment
/// (while the host counts them in its process table), and end them all again.
/// A real one (`:(){ :|:& };:`) never stops; on a host without a pids limit it
/// fills the process table.
pub fn fork_bomb(n: usize) -> String {
    use nix::unistd::{ForkResult, fork};
    let mut children = Vec::new();
    let mut refused = None;
    for _ in 0..n {
        // SAFETY: the probe is single-threaded, and the child only calls
        // async-signal-safe functions before it ends.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Die with the parent, whatever happens to it.
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                loop {
                    nix::unistd::pause();
                }
            }
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let started = children.len();
    std::thread::sleep(super::HOLD);
    for child in children {
        let _ = kill(child, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
    }
    match refused {
        Some(e) => format!("BLOCKED: fork refused after {started} processes: {e}"),
        None => format!("ESCAPED: started {started} processes; nothing stopped it"),
    }
}
