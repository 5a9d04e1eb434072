//! The escape lab's harmful half: attacks that would damage a real host if they
//! worked (write the kernel's settings, load a module, read its disk...), run
//! against every stage inside tincan's VM (`support/vm.rs`), where working
//! harms nothing. One VM per stage runs every attack in turn; the VM's own
//! script is the observer, outside the container, and judges each from the
//! VM's state after the attack (see `escape_vm/attacks.rs`). The attack's own
//! line must agree where it claims anything. `escape_lab` renders the table.
//!
//! The VM is a small host as a container engine sees it: the stage's binary,
//! Debian's kernel with the modules a runtime needs (bridge, veth, nftables,
//! overlayfs), a disk (an ext2 file system on a loop device) that holds the
//! runtime's state as `/var/lib/docker` would, a cgroup v1 hierarchy beside
//! v2 as hybrid hosts have, a key in root's keyring, and a terminal.

mod attacks;
mod walls;

use crate::escape_lab::Outcome::{self, Blocked, Escaped};
use crate::escape_lab::STAGE_LIMITS;
use crate::support::{marker, qemu_or_skip, root_or_skip, tools_or_skip, try_in_vm_with};

use attacks::VmAttack;

/// Every attack the VM runs, in the table's order: the walls' first.
pub fn vm_attacks() -> impl Iterator<Item = &'static VmAttack> {
    walls::WALLS.iter().chain(attacks::VM_ONLY)
}

/// What each attack does against each stage of [`STAGES`], in order: one
/// letter a stage, `E` escapes, `B` blocked. (A chrooted process may not make a
/// user namespace, `man 2 unshare`: the chroot of chapters 1 and 2 stops
/// `unshare-user`, and chapter 3's `pivot_root` lets it through again.)
pub const EXPECTED: &[(&str, &str)] = &[
    ("chroot-breakout", "E E E B B B B B B B B"),
    ("see-host-processes", "E E B B B B B B B B B"),
    ("kill-host-process", "E E B B B B B B B B B"),
    ("read-host-mounts", "E E B B B B B B B B B"),
    ("leak-mount", "E E E B B B B B B B B"),
    ("rename-host", "E E E E B B B B B B B"),
    ("attach-host-shm", "E E E E E B B B B B B"),
    ("leak-ipc", "E E E E E B B B B B B"),
    ("reach-host-loopback", "E E E E E E B B B B B"),
    ("exhaust-memory", "E E E E E E E B B B B"),
    ("fork-bomb", "E E E E E E E B B B B"),
    ("symlink-rootfs", "B B B B B B B B B B B"),
    ("mknod-disk", "E E E E E E E E E B B"),
    ("core-pattern", "E E E E E E E E E B B"),
    ("sysrq", "E E E E E E E E E B B"),
    ("reboot", "E E B B B B B B B B B"),
    ("load-module", "E E E E E E E E E B B"),
    ("ptrace-host", "E E B B B B B B B B B"),
    ("keyctl", "E E E E E E E E E B B"),
    ("unshare-user", "E B B E E E E E E E B"),
    ("read-kcore", "E E E E E E E E E B B"),
    ("shocker", "E E E E E E E E E B B"),
    ("fd-leak", "B B B B B B B B B B B"),
    ("perf-event", "E E E E E E E E E B B"),
    ("bpf-load", "E E E E E E E E E B B"),
    ("remount-sys", "E E E E E E E E E B B"),
    ("raise-limits", "E E E E E E E E E B B"),
    ("release-agent", "E E E E E E E E E B B"),
    ("tiocsti", "E E E B B B B B B B B"),
    ("route-localnet", "E E E E E E B B B B B"),
    ("arp-spoof", "E E E E E E E E E E B"),
];

/// An expected row as outcomes.
pub fn outcomes(row: &str) -> Vec<Outcome> {
    row.split(' ').map(|c| if c == "E" { Escaped } else { Blocked }).collect()
}

/// The kernel modules the VM loads: what chapters 6 and 8 need (a bridge, veth
/// pairs, nftables with NAT, overlayfs), and a disk (loop, ext4 for ext2).
const MODULES: &[&str] = &[
    "crc32c_generic",
    "bridge",
    "veth",
    "nf_tables",
    "nft_chain_nat",
    "nft_nat",
    "nft_masq",
    "nft_ct",
    "nft_fib_ipv4",
    "overlay",
    "loop",
    "ext4",
];

/// Host programs the VM carries (with their libraries): `nft`, which chapter 6
/// hands its rules to; `keyctl`, to put a key in root's keyring; `script`, to
/// give the runtime a terminal; `ipcmk` and `ipcrm`, to make and remove the
/// VM's own IPC objects (busybox has neither).
const PROGRAMS: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("keyctl", "keyutils"),
    ("script", "bsdutils"),
    ("ipcmk", "util-linux"),
    ("ipcrm", "util-linux"),
];

/// The VM's set-up, before any attack.
const SETUP: &str = r#"
# The kernel asks modprobe for a module it lacks; the VM has none to offer (all
# it needs is loaded before this), so the answer comes at once.
echo /bin/true > /proc/sys/kernel/modprobe
ip link set lo up
# What devtmpfs leaves out, and programs (nft -f /dev/stdin) expect.
for n in 0:stdin 1:stdout 2:stderr; do ln -sf /proc/self/fd/${n%%:*} /dev/${n#*:}; done
ln -sf /proc/self/fd /dev/fd
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
# The host's disk: ext2 on a loop device, its first sector (which ext2 leaves
# alone) holding a word only the VM knows; the runtime's state lives on it.
truncate -s 48M /disk.img
losetup /dev/loop0 /disk.img
mke2fs -q /dev/loop0 > /dev/null
printf '%s' "$DISKMARK" | dd of=/dev/loop0 conv=notrunc 2> /dev/null
# Mounted as ext4 (which reads ext2): the kernel lets ext4 be idmapped, not ext2.
mkdir -p /data && mount -t ext4 /dev/loop0 /data
echo "$SECRET" > /data/tincan-secret
cp -a /rootfs /data/rootfs
export TINCAN_STATE_DIR=/data/state TINCAN_ROOT=/data/store
# Chapter 9's --userns maps containers into the ranges of the user tincan.
mkdir -p /etc && echo tincan:100000:65536 > /etc/subuid && cp /etc/subuid /etc/subgid
# A cgroup v1 hierarchy beside v2, as systemd keeps on hybrid hosts.
mkdir -p /run/cgroup-v1 && mount -t cgroup -o none,name=systemd cgroup /run/cgroup-v1
probe=usr/local/bin/tincan-probe
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.Z' /proc/$1/status 2> /dev/null; }
verdict() { echo "verdict: $*"; }
# What an attack mounted in a chroot (chapters 1 and 2 share the VM's mount
# table) goes when it is judged, so that the next finds the rootfs as it was.
unmount_under() {
  awk -v r="$1/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read m; do umount -l "$m"; done
}
attackers() {
  for p in $(cat /proc/$runtime/task/*/children 2> /dev/null); do
    case "$(readlink /proc/$p/exe 2> /dev/null)" in *tincan-probe) echo $p ;; esac
  done
}
run_attack() {
  rootfs=$1; shift
  $WRAP $STAGE $rootfs $probe attack "$@" > /tmp/out 2> /tmp/err < /dev/null &
  runtime=$!
  while alive $runtime; do watch; sleep 0.1; done
  wait $runtime; code=$?
  line=$(cat /tmp/out)
  echo "line: $line"
  [ $code = 0 ] || echo "code: $code $(head -c 400 /tmp/err | tr '\n' ' ')"
}
"#;

/// Where the stage's rootfs lies in the VM: on its root file system (a
/// tmpfs), or, in a user namespace (`--userns`), on its disk: chapter 9 maps
/// the rootfs through an idmapped mount, which tmpfs supports only from Linux
/// 6.3 and the VM's kernel is 6.1.
fn rootfs(options: &[&str]) -> &'static str {
    if options.contains(&"--userns") { "/data/rootfs" } else { "/rootfs" }
}

/// The whole script for one stage: set-up, then each attack in a subshell,
/// with no observer's file or attacker's mount left from the one before.
fn script(chapter: &str, options: &[&str]) -> String {
    let mut script = format!(
        "MARK={} SECRET={} DISKMARK={}\nSTAGE='{chapter} run {}' ROOTFS={}\n{SETUP}",
        marker("mark"),
        marker("secret"),
        marker("disk"),
        options.join(" "),
        rootfs(options)
    );
    for attack in vm_attacks() {
        script.push_str(&format!(
            "echo '@@ {}'\n(\nrm -f /tmp/seen /tmp/traced /tmp/limit /tmp/tty\nwatch() {{ :; }}\n{}\n{}\n{}\n)\nunmount_under /rootfs; unmount_under /data/rootfs\n",
            attack.name, attack.setup, attack.run, attack.observe
        ));
    }
    script
}

/// What the VM reported for one attack.
#[derive(Debug)]
struct Report {
    attack: String,
    line: String,
    verdict: String,
    other: Vec<String>,
}

fn reports(output: &str) -> Vec<Report> {
    let mut reports: Vec<Report> = Vec::new();
    for text in output.lines() {
        if let Some(attack) = text.strip_prefix("@@ ") {
            let attack = attack.to_owned();
            reports.push(Report {
                attack,
                line: String::new(),
                verdict: String::new(),
                other: vec![],
            });
        } else if let Some(report) = reports.last_mut() {
            if let Some(line) = text.strip_prefix("line: ") {
                report.line = line.to_owned();
            } else if let Some(verdict) = text.strip_prefix("verdict: ") {
                report.verdict = verdict.to_owned();
            } else {
                report.other.push(text.to_owned());
            }
        }
    }
    reports
}

/// The observer's outcome, after checking that the attack's line agrees.
fn judged(report: &Report) -> Outcome {
    let outcome = match report.verdict.split(' ').next() {
        Some("escaped") => Escaped,
        Some("blocked") => Blocked,
        _ => panic!("no verdict for {}: {report:?}", report.attack),
    };
    // The runtime's own failures (125: it could not set up the container) are
    // the lab's, not a stage's defence.
    if let Some(code) = report.other.iter().find(|l| l.starts_with("code: 12")) {
        panic!("{}: the container did not run ({code}): {report:?}", report.attack);
    }
    // A memory limit ends the attack before it says anything (SIGKILL, which
    // the runtime passes on as 137).
    let killed = report.other.iter().any(|l| l.starts_with("code: 137"));
    let claim = report.line.split(':').next().unwrap_or("");
    match (claim, outcome) {
        ("ESCAPED", Escaped) | ("BLOCKED", Blocked) => {}
        ("", Blocked) if killed => {}
        // Only the observer can tell whether what the attack made is seen.
        ("TRIED" | "MOUNTED" | "RENAMED" | "CREATED", _) => {}
        _ => panic!("the observer says {outcome:?}, the attack says {:?}: {report:?}", report.line),
    }
    outcome
}

/// Every attack against the stage `chapter`, in one VM.
fn check_stage(chapter: &str) {
    let test = format!("escape_vm::{chapter}");
    if !(root_or_skip(&test) && qemu_or_skip(&test) && tools_or_skip(&test, PROGRAMS)) {
        return;
    }
    let (index, (_, options)) =
        STAGES.iter().enumerate().find(|(_, (c, _))| *c == chapter).expect("a stage");
    let script = script(chapter, options);
    let started = std::time::Instant::now();
    let outcome = try_in_vm_with(&script, std::time::Duration::from_secs(240), |vm, kernel| {
        vm.memory_mib = 1024;
        for (stage, _) in STAGES.iter().filter(|(s, _)| !crate::support::CHAPTERS.contains(s)) {
            let bin = crate::support::chapter_bin(stage);
            vm.image.program(&bin, &format!("/usr/local/bin/{stage}"))?;
        }
        // Chapter 10's default seccomp profile, where it reads it.
        let profile = std::path::Path::new(ch10_harden::seccomp::DEFAULT_PROFILE);
        vm.image.host_file(profile, &profile.display().to_string())?;
        for (program, _) in PROGRAMS {
            let path = crate::support::which(program);
            vm.image.program(&path, &format!("/usr/local/bin/{program}"))?;
        }
        // The module an attacker brings in its image, for `load-module`.
        let payload = vm.image.modules(kernel, &["crc8"])?;
        let loads = vm.image.modules(kernel, MODULES)?;
        let mut prelude: String = loads.iter().map(|m| format!("insmod {m}\n")).collect();
        prelude.push_str(&format!("cp {} /rootfs/crc8.ko\n", payload[0]));
        Ok(prelude)
    })
    .expect("the VM ran");
    eprintln!("escape_vm::{chapter}: {:.0} s in the VM", started.elapsed().as_secs_f64());
    let reports = reports(&outcome.output);
    let mut wrong = Vec::new();
    for (attack, row) in EXPECTED {
        let report = reports
            .iter()
            .find(|r| r.attack == *attack)
            .unwrap_or_else(|| panic!("{attack}: no report from the VM:\n{}", outcome.output));
        let got = judged(report);
        let want = outcomes(row)[index];
        if got != want {
            wrong.push(format!("{attack}: expected {want:?}, got {got:?}: {report:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "against {chapter}:\n{}\n--- the VM's output:\n{}",
        wrong.join("\n"),
        outcome.output
    );
}

/// The stages, in order: the binary and the options it runs with, and a test
/// for each (`escape_vm::ch03`). Adding a stage is one line here (and its
/// letter in each row of [`EXPECTED`]).
macro_rules! stages {
    ($($chapter:ident => $options:expr,)*) => {
        pub const STAGES: &[(&str, &[&str])] = &[$((stringify!($chapter), $options)),*];
        $(
            #[test]
            fn $chapter() {
                check_stage(stringify!($chapter));
            }
        )*
    };
}

// ch07 on: the limits Docker would be given (see `escape_lab::STAGE_LIMITS`).
stages! {
    ch00 => &[],
    ch01 => &[],
    ch02 => &[],
    ch03 => &[],
    ch04 => &[],
    ch05 => &[],
    ch06 => &[],
    ch07 => &STAGE_LIMITS,
    ch08 => &STAGE_LIMITS,
    ch09 => &["--userns", "--memory", "64m", "--pids-limit", "64"],
    ch10 => &STAGE_LIMITS,
}

/// Every attack of the table has an observer, and every observer a row.
#[test]
fn every_attack_has_a_row_and_an_observer() {
    let rows: Vec<&str> = EXPECTED.iter().map(|(a, _)| *a).collect();
    let observers: Vec<&str> = vm_attacks().map(|a| a.name).collect();
    assert_eq!(rows, observers);
    for (attack, row) in EXPECTED {
        assert_eq!(outcomes(row).len(), STAGES.len(), "{attack}: one outcome per stage");
    }
}
