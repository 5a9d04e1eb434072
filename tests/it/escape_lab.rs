//! The escape lab: small attacks against every stage, and which stage stops them.
//!
//! Here, on the host, run only the attacks that are harmless if they work; the
//! VM (`escape_vm`) runs every attack, these included. Each attack is run by `tincan-probe attack ...` inside the container, inside an
//! outer sandbox (see `support/sandbox.rs`), so an attack that succeeds harms only
//! the sandbox. The verdict never comes from what the attack says about itself:
//! an observer outside the container decides — did the host's file appear, did
//! its process die, did its hostname change, did its service see a client, how
//! much memory and how many processes did the run take — or checks what the
//! attack reports against a fact it was not told (a process's PID, a mount's
//! path). The attack's line must agree with the verdict. The expected outcomes
//! are `escape_vm::EXPECTED`; `table` renders it for the book.

use std::time::Duration;

use crate::support::{PROBE, Run, Sandbox, Sleeper, marker, root_or_skip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Escaped,
    Blocked,
}
use Outcome::{Blocked, Escaped};

/// The attacks harmless on a real host, which this suite runs in its sandbox
/// against every stage. The VM runs them too, and the one table of what each
/// attack does against each stage is `escape_vm::EXPECTED`.
const SANDBOX_ATTACKS: [&str; 11] = [
    "chroot-breakout",
    "see-host-processes",
    "kill-host-process",
    "read-host-mounts",
    "leak-mount",
    "rename-host",
    "attach-host-shm",
    "leak-ipc",
    "reach-host-loopback",
    "exhaust-memory",
    "fork-bomb",
];

/// The table's column headings, one per chapter.
const STAGES: [&str; 11] = [
    "ch00 process",
    "ch01 chroot",
    "ch02 pid",
    "ch03 mount",
    "ch04 uts",
    "ch05 ipc",
    "ch06 net",
    "ch07 cgroups",
    "ch08 images",
    "ch09 user",
    "ch10 harden",
];

/// The limits the ch07 and ch08 stages run with: Docker sets none by default,
/// and without them chapter 7 stops nothing that chapter 6 did not.
pub const STAGE_LIMITS: [&str; 4] = ["--memory", "64m", "--pids-limit", "64"];

/// Chapter 9's stage: root inside is 100000 outside. (The VM's stage uses
/// `--userns`, which needs a `tincan` range in /etc/subuid; the same map.)
pub const STAGE_USERNS: [&str; 2] = ["--uidmap", "0:100000:65536"];

/// A sandbox for an attack on `chapter`, with the stage's options.
fn stage(chapter: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    match chapter {
        "ch09" => sandbox.options(&[&STAGE_USERNS[..], &STAGE_LIMITS[..]].concat()),
        _ if chapter >= "ch07" => sandbox.options(&STAGE_LIMITS),
        _ => sandbox,
    }
}

fn expected(attack: &str, chapter: &str) -> Outcome {
    let stage = crate::support::CHAPTERS.iter().position(|c| *c == chapter).expect("a chapter");
    let (_, row) =
        crate::escape_vm::EXPECTED.iter().find(|(a, _)| *a == attack).expect("a row in the table");
    crate::escape_vm::outcomes(row)[stage]
}

/// Run `tincan-probe attack NAME ARGS` in `sandbox` against `chapter`: only an
/// attack the probe lists as harmless. The rest would harm the machine itself
/// if they worked (write kernel settings, load modules, read disks); they run
/// only inside the VM (`escape_vm`), and the probe refuses them elsewhere too.
fn attack(sandbox: &Sandbox, chapter: &str, name: &str, args: &[&str]) -> Run {
    assert!(
        harmless_attacks().iter().any(|a| a == name),
        "{name} is not a harmless attack: it runs only in the VM (escape_vm)"
    );
    let mut command = vec![PROBE, "attack", name];
    command.extend_from_slice(args);
    sandbox.run(chapter, &command)
}

/// The attacks the probe lists as `harmless` (`tincan-probe attacks`).
pub fn harmless_attacks() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let probe = crate::support::template_rootfs().join(PROBE);
        let out = std::process::Command::new(probe).arg("attacks").output().expect("run the probe");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(" harmless").map(str::to_owned))
            .collect()
    })
}

/// The attack's one line of output, after checking it is one.
fn verdict_line(run: &Run) -> &str {
    assert_eq!(run.code, 0, "the probe failed: {run:?}");
    run.stdout.trim_end()
}

/// The observer's verdict, after checking that the attack's own line agrees.
fn observed(escaped: bool, line: &str) -> Outcome {
    let (outcome, prefix) = if escaped { (Escaped, "ESCAPED") } else { (Blocked, "BLOCKED") };
    assert!(line.starts_with(prefix), "the observer says {outcome:?}, the attack says {line:?}");
    outcome
}

/// Judged from outside: did the file appear on the host?
fn chroot_breakout(chapter: &str) -> Outcome {
    let sandbox = stage(chapter);
    let file = sandbox.dir().join(marker("breakout"));
    let run = attack(&sandbox, chapter, "chroot-breakout", &[file.to_str().unwrap()]);
    observed(file.exists(), verdict_line(&run))
}

/// The attack reports the PID it found; only the host knows whether that is
/// its process's.
fn see_host_processes(chapter: &str) -> Outcome {
    let sleeper = Sleeper::start();
    let run = attack(&stage(chapter), chapter, "see-host-processes", &[&sleeper.marker]);
    let line = verdict_line(&run);
    observed(line.ends_with(&format!(" as pid {}", sleeper.pid())), line)
}

/// Judged from outside: is the host's process still alive?
fn kill_host_process(chapter: &str) -> Outcome {
    let mut sleeper = Sleeper::start();
    let run = attack(&stage(chapter), chapter, "kill-host-process", &[&sleeper.pid().to_string()]);
    let line = verdict_line(&run);
    // A signal is delivered asynchronously: give a killed process time to die.
    let patience =
        if line.starts_with("ESCAPED") { Duration::from_secs(2) } else { Duration::ZERO };
    observed(sleeper.dies_within(patience), line)
}

/// The attack reports where it found the host's mount; only the host knows
/// where that is (the attack is told the mount's name, not its place).
fn read_host_mounts(chapter: &str) -> Outcome {
    let secret = marker("hostmount");
    let sandbox = stage(chapter);
    let at = sandbox.dir().join("host-mount");
    let sandbox =
        sandbox.before(format!("mkdir -p {at} && mount -t tmpfs {secret} {at}", at = at.display()));
    let run = attack(&sandbox, chapter, "read-host-mounts", &[&secret]);
    let line = verdict_line(&run);
    observed(line.ends_with(&format!(" at {}", at.display())), line)
}

/// Judged from outside: after the container exits, does the sandbox's mount
/// table have the container's mount?
fn leak_mount(chapter: &str) -> Outcome {
    let secret = marker("leak");
    let sandbox = stage(chapter).after(format!("grep -c {secret} /proc/self/mountinfo || true"));
    let run = attack(&sandbox, chapter, "leak-mount", &[&secret]);
    let line = verdict_line(&run);
    // Up to chapter 9 the container's root may mount in its own namespace;
    // chapter 10 takes CAP_SYS_ADMIN away, and the mount itself is refused.
    let may_mount = chapter < "ch10";
    let prefix = if may_mount { "MOUNTED" } else { "BLOCKED" };
    assert!(line.starts_with(prefix), "{chapter}: expected {prefix}: {line:?}");
    if run.after.trim() == "0" { Blocked } else { Escaped }
}

/// Judged from outside: after the container exits, is the sandbox's host still
/// called by its name?
fn rename_host(chapter: &str) -> Outcome {
    let name = marker("renamed");
    let sandbox = stage(chapter).after("hostname");
    let run = attack(&sandbox, chapter, "rename-host", &[&name]);
    let line = verdict_line(&run);
    // Root may rename its own UTS namespace up to chapter 9; chapter 10 takes
    // CAP_SYS_ADMIN away, and `sethostname` itself is refused.
    let may_rename = chapter < "ch10";
    let prefix = if may_rename { "RENAMED" } else { "BLOCKED" };
    assert!(line.starts_with(prefix), "{chapter}: expected {prefix}: {line:?}");
    if run.after.trim() == name { Escaped } else { Blocked }
}

/// Judged from outside: the sandbox's segment records the last process that
/// attached it (`lpid`, 0 until someone does).
fn attach_host_shm(chapter: &str) -> Outcome {
    let sandbox = stage(chapter)
        .before(crate::support::MAKE_HOST_IPC)
        .after("awk 'NR == 2 { print $6 }' /proc/sysvipc/shm");
    let run = attack(&sandbox, chapter, "attach-host-shm", &["0"]);
    observed(run.after.trim() != "0", verdict_line(&run))
}

/// Judged from outside: after the container exits, does the sandbox have objects
/// with the container's key?
fn leak_ipc(chapter: &str) -> Outcome {
    let key = 0x7e5c_0000 + std::process::id() % 0x1_0000;
    let count = format!(
        "cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | awk '$1 == {key}' | wc -l"
    );
    let run = attack(&stage(chapter).after(count), chapter, "leak-ipc", &[&key.to_string()]);
    let line = verdict_line(&run);
    assert!(line.starts_with("CREATED"), "creating IPC objects works at every stage: {line:?}");
    match run.after.trim() {
        "0" => Blocked,
        "3" => Escaped,
        other => panic!("expected 0 or 3 objects with key {key}, found {other}"),
    }
}

/// Judged from outside: did the host's service see a client?
fn reach_host_loopback(chapter: &str) -> Outcome {
    let service = crate::support::LoopbackService::start();
    let run = attack(&stage(chapter), chapter, "reach-host-loopback", &[&service.port.to_string()]);
    observed(service.clients() > 0, verdict_line(&run))
}

/// Judged from outside: the largest resident memory of the run's processes, as
/// the kernel reports it to the process that waits for them (`wait4(2)`).
fn exhaust_memory(chapter: &str) -> Outcome {
    let run = attack(&stage(chapter), chapter, "exhaust-memory", &["256"]);
    let held_256_mib = run.peak_rss_kib >= 256 * 1024;
    if !held_256_mib {
        assert_eq!(run.code, 137, "stopped means killed: {run:?}");
        assert!(run.stderr.contains("out of memory"), "and the runtime says why: {run:?}");
        return Blocked;
    }
    observed(held_256_mib, verdict_line(&run))
}

/// Judged from outside: the most processes of this bomb the host's process table
/// held at once (the bomb holds them a moment; its argv carries a marker).
fn fork_bomb(chapter: &str) -> Outcome {
    let bomb = marker("bomb");
    let sandbox = stage(chapter);
    let (run, most) = std::thread::scope(|s| {
        let run = s.spawn(|| attack(&sandbox, chapter, "fork-bomb", &["256", &bomb]));
        let mut most = 0;
        while !run.is_finished() {
            most = most.max(processes_with(&bomb));
            std::thread::sleep(Duration::from_millis(5));
        }
        (run.join().expect("the run"), most)
    });
    // The bomb and its 256 children.
    observed(most > 256, verdict_line(&run))
}

/// How many processes on the host have `marker` in their command line.
fn processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            cmdline.windows(marker.len()).any(|w| w == marker.as_bytes())
        })
        .count()
}

fn check(chapter: &str, attack: &str, run: fn(&str) -> Outcome) {
    if !root_or_skip(&format!("escape_lab::{chapter}::{attack}")) {
        return;
    }
    let want = expected(attack, chapter);
    assert_eq!(run(chapter), want, "{attack} against {chapter}");
}

macro_rules! stage {
    ($chapter:ident) => {
        mod $chapter {
            use super::*;
            const CHAPTER: &str = stringify!($chapter);

            #[test]
            fn chroot_breakout() {
                check(CHAPTER, "chroot-breakout", super::chroot_breakout);
            }
            #[test]
            fn see_host_processes() {
                check(CHAPTER, "see-host-processes", super::see_host_processes);
            }
            #[test]
            fn kill_host_process() {
                check(CHAPTER, "kill-host-process", super::kill_host_process);
            }
            #[test]
            fn read_host_mounts() {
                check(CHAPTER, "read-host-mounts", super::read_host_mounts);
            }
            #[test]
            fn leak_mount() {
                check(CHAPTER, "leak-mount", super::leak_mount);
            }
            #[test]
            fn rename_host() {
                check(CHAPTER, "rename-host", super::rename_host);
            }
            #[test]
            fn attach_host_shm() {
                check(CHAPTER, "attach-host-shm", super::attach_host_shm);
            }
            #[test]
            fn leak_ipc() {
                check(CHAPTER, "leak-ipc", super::leak_ipc);
            }
            #[test]
            fn reach_host_loopback() {
                check(CHAPTER, "reach-host-loopback", super::reach_host_loopback);
            }
            #[test]
            fn exhaust_memory() {
                check(CHAPTER, "exhaust-memory", super::exhaust_memory);
            }
            #[test]
            fn fork_bomb() {
                check(CHAPTER, "fork-bomb", super::fork_bomb);
            }
        }
    };
}

stage!(ch00);
stage!(ch01);
stage!(ch02);
stage!(ch03);
stage!(ch04);
stage!(ch05);
stage!(ch06);
stage!(ch07);
stage!(ch08);
stage!(ch09);
stage!(ch10);

/// Every row of the book's table: (attack, what it tries, where it is judged,
/// its outcome against each stage). Every attack runs in the VM
/// (`escape_vm`); those harmless on a host run in this suite's sandbox too,
/// and a hostile rootfs in `hostile_rootfs`'s.
type Row = (&'static str, &'static str, &'static str, Vec<Outcome>);

fn all_rows() -> Vec<Row> {
    crate::escape_vm::EXPECTED
        .iter()
        .map(|(a, row)| {
            let attack = crate::escape_vm::vm_attacks().find(|v| v.name == *a).expect("observer");
            let judged_in = if SANDBOX_ATTACKS.contains(a) {
                "VM and sandbox"
            } else if *a == "symlink-rootfs" {
                "VM and sandbox (`hostile_rootfs`)"
            } else {
                "VM"
            };
            (*a, attack.what, judged_in, crate::escape_vm::outcomes(row))
        })
        .collect()
}

/// Whether the stage `i` is where the attack is stopped: blocked there, and
/// not by the stage before. (An attack may escape again after a stage stopped
/// it: chapter 3's `pivot_root` undoes what chapter 1's chroot stopped.)
fn stops_here(outcomes: &[Outcome], i: usize) -> bool {
    outcomes[i] == Blocked && (i == 0 || outcomes[i - 1] == Escaped)
}

/// The table the book prints, rendered from the expected outcomes, which the
/// tests here and in `escape_vm` prove.
#[test]
fn table() {
    let mut md = format!(
        "| attack | what it tries | judged in | {} |\n|---|---|---|{}\n",
        STAGES.join(" | "),
        "---|".repeat(STAGES.len())
    );
    for (attack, what, judged_in, outcomes) in all_rows() {
        let cells: Vec<&str> = (0..outcomes.len())
            .map(|i| match outcomes[i] {
                Escaped => "escapes",
                Blocked if stops_here(&outcomes, i) => "**stopped**",
                Blocked => "stopped",
            })
            .collect();
        md.push_str(&format!("| `{attack}` | {what} | {judged_in} | {} |\n", cells.join(" | ")));
    }
    insta::assert_snapshot!("table", md);
}

/// Each chapter's own row of the table, for its page: what this stage stops
/// first, what an earlier stage stopped, and what still escapes.
#[test]
fn rows() {
    for (stage, heading) in STAGES.iter().enumerate() {
        let mut md = format!("| attack | what it tries | {heading} |\n|---|---|---|\n");
        for (attack, what, _, outcomes) in all_rows() {
            let cell = match outcomes[stage] {
                Escaped => "escapes",
                Blocked if stops_here(&outcomes, stage) => "**stopped here**",
                Blocked => "stopped by an earlier chapter",
            };
            md.push_str(&format!("| `{attack}` | {what} | {cell} |\n"));
        }
        let chapter = &heading[..4];
        insta::assert_snapshot!(format!("row_{chapter}"), md);
    }
}

/// The host's suite runs only what the probe calls harmless; every attack the
/// probe calls harmful has its row in the VM's table.
#[test]
fn harmful_attacks_run_only_in_the_vm() {
    let harmless = harmless_attacks();
    for attack in SANDBOX_ATTACKS {
        assert!(harmless.iter().any(|a| a == attack), "{attack} runs on the host but harms it");
        assert!(
            crate::escape_vm::EXPECTED.iter().any(|(a, _)| *a == attack),
            "{attack} runs in the sandbox, and has no row in the table"
        );
    }
    let probe = crate::support::template_rootfs().join(PROBE);
    let out = std::process::Command::new(probe).arg("attacks").output().expect("run the probe");
    for harmful in
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.strip_suffix(" harms-host"))
    {
        assert!(
            crate::escape_vm::EXPECTED.iter().any(|(a, _)| *a == harmful),
            "{harmful} harms a host, and has no row in the VM's table"
        );
    }
}
