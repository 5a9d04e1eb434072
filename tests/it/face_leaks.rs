//! Nothing leaks, ever: a thousand start/stop cycles, fifty starts at once,
//! and `kill -9` of `run`, the supervisor or the runtime at random points,
//! after which `system prune` leaves nothing behind.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::face::{Face, IMAGE, assert_left_nothing, cgroups_of, ok, traces};
use crate::support::root_or_skip;

/// A PID 1 that ends at SIGTERM (a shell with no trap would wait for the
/// SIGKILL, and each cycle would take `stop`'s timeout).
const POLITE: [&str; 3] = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"];

#[test]
fn a_thousand_start_stop_cycles_leave_nothing_and_reuse_no_id() {
    if !root_or_skip("face_leaks::a_thousand_start_stop_cycles_leave_nothing_and_reuse_no_id") {
        return;
    }
    let face = Face::new();
    let started = Instant::now();
    // Two at a time, as this machine has two cores.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    (0..500)
                        .map(|_| {
                            let mut run = vec!["run", "-d", IMAGE];
                            run.extend(POLITE);
                            let id = ok(&face.tincan(&run)).trim().to_owned();
                            assert_eq!(ok(&face.tincan(&["stop", &id])).trim(), id);
                            assert_eq!(ok(&face.tincan(&["rm", &id])).trim(), id);
                            id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let distinct: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct.len(), 1000, "an id was used twice");
    assert_eq!(cgroups_of(&distinct), Vec::<std::path::PathBuf>::new());
    assert_left_nothing(&face);
    eprintln!("1000 cycles in {:?}", started.elapsed());
}

#[test]
fn fifty_starts_at_once_make_fifty_containers_and_a_name_goes_to_one() {
    if !root_or_skip(
        "face_leaks::fifty_starts_at_once_make_fifty_containers_and_a_name_goes_to_one",
    ) {
        return;
    }
    let face = Face::new();
    let at_once = |count: usize, args: &[&str]| -> Vec<std::process::Output> {
        std::thread::scope(|scope| {
            let all: Vec<_> = (0..count).map(|_| scope.spawn(|| face.tincan(args))).collect();
            all.into_iter().map(|one| one.join().unwrap()).collect()
        })
    };
    let ran = at_once(50, &["run", "-d", IMAGE, "sleep", "60"]);
    let ids: HashSet<String> = ran.iter().map(|out| ok(out).trim().to_owned()).collect();
    assert_eq!(ids.len(), 50, "fifty distinct ids");
    let running = ok(&face.tincan(&["ps", "-q"]));
    assert_eq!(running.lines().count(), 50, "{running}");
    // Ten ask for one name at once: one gets it, nine are told it is taken.
    let named = at_once(10, &["run", "-d", "--name", "only", IMAGE, "sleep", "60"]);
    let won = named.iter().filter(|out| out.status.success()).count();
    assert_eq!(won, 1, "{named:?}");
    for lost in named.iter().filter(|out| !out.status.success()) {
        assert!(
            String::from_utf8_lossy(&lost.stderr).contains("the name only is in use"),
            "{lost:?}"
        );
    }
    let all = traces(&face);
    let listed = ok(&face.tincan(&["ps", "-aq"]));
    let ids: Vec<&str> = listed.lines().collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(&ids);
    ok(&face.tincan(&rm));
    assert_eq!(cgroups_of(&all), Vec::<std::path::PathBuf>::new());
    assert_left_nothing(&face);
}

/// Which process of a starting container to kill.
#[derive(Debug, Clone, Copy)]
enum Victim {
    /// `tincan run -d`.
    Run,
    /// `tincan-supervisor`.
    Supervisor,
    /// The core's `tincan create`, under the supervisor.
    Runtime,
}

#[test]
fn kill_9_at_random_points_then_prune_leaves_nothing() {
    if !root_or_skip("face_leaks::kill_9_at_random_points_then_prune_leaves_nothing") {
        return;
    }
    let face = Face::new();
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64;
    let mut random = Random(seed | 1);
    let store = face.store().to_string_lossy().into_owned();
    // Each container lives this long, so that all have ended when prune comes.
    let (life, command) = (Duration::from_secs(2), ["sleep", "2"]);
    let start = |face: &Face| {
        let mut run = face.command(&["run", "-d", IMAGE]);
        run.args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The points are spread over the time one whole `run -d` takes here,
    // warm: the first start also compiles the seccomp filter (then cached)
    // and makes the bridge, and would stretch the span past later starts.
    assert!(start(&face).wait().unwrap().success());
    let timed = Instant::now();
    assert!(start(&face).wait().unwrap().success());
    let span = timed.elapsed().as_micros() as u64 * 5 / 4;
    let mut killed = Vec::new();
    for round in 0..30 {
        let victim = [Victim::Run, Victim::Supervisor, Victim::Runtime][round % 3];
        let delay = Duration::from_micros(random.below(span));
        let mut run = start(&face);
        std::thread::sleep(delay);
        // This round's: the supervisor is `run`'s child, the runtime the
        // supervisor's (earlier rounds' supervisors are still there). A
        // `run` that has ended is no victim.
        let running = matches!(run.try_wait(), Ok(None));
        let supervisor = || child_of(run.id() as i32, &store);
        let pid = match victim {
            Victim::Run => running.then_some(run.id() as i32),
            Victim::Supervisor => supervisor(),
            Victim::Runtime => supervisor().and_then(|s| child_of(s, &store)),
        };
        if let Some(pid) = pid {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            killed.push((victim, delay));
        }
        let _ = run.wait();
    }
    // The points must have fallen inside starts, or nothing was tested.
    assert!(killed.len() >= 8, "only {} kills landed: {killed:?}", killed.len());
    // Every container that started has ended by now; some were created and
    // never started, some have no supervisor left to record their end.
    std::thread::sleep(life + Duration::from_millis(500));
    let all = traces(&face);
    let pruned = ok(&face.tincan(&["system", "prune"]));
    let after = format!("seed {seed}, killed {killed:?}, then {pruned}");
    eprintln!("{after}");
    assert_eq!(ok(&face.tincan(&["ps", "-aq"])), "", "{after}");
    assert_eq!(cgroups_of(&all), Vec::<std::path::PathBuf>::new(), "{after}");
    assert_left_nothing(&face);
}

/// A child of `parent` whose command line names `store`.
fn child_of(parent: i32, store: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // `PID (COMM) STATE PPID ...`: COMM may hold spaces; what follows it does not.
        let ppid: i32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let named = String::from_utf8_lossy(&cmdline).contains(store);
        (ppid == parent && named).then_some(pid)
    })
}

/// xorshift64: enough to pick points at random (the seed is in a failure's message).
struct Random(u64);

impl Random {
    fn below(&mut self, limit: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % limit
    }
}
