//! The attacks that only the VM runs (most would harm a real host), each with
//! its observer: shell lines the VM runs around the container, as the machine
//! the container runs on. `walls.rs` has the rest.
//!
//! Each attack runs in a subshell of the VM's script (see `script` in
//! `escape_vm.rs`), with these at hand:
//!
//! - `$MARK`, `$SECRET`, `$DISKMARK`: words made for this run. The container
//!   is told `$MARK` where it needs a name; only the VM knows `$SECRET` (a file
//!   on its disk, a key in its keyring) and `$DISKMARK` (its disk's first
//!   sector), so an attack that reports them reached them.
//! - `run_attack ROOTFS ARGS...`: runs `STAGE ROOTFS tincan-probe attack
//!   ARGS...` (after `$WRAP`, if an attack's setup sets it), calling `watch`
//!   every tenth of a second while it runs, and sets `$line` to what the
//!   attack printed.
//! - `attackers`: the PID of the attack (the probe, a child of the runtime), as
//!   the VM sees it, while it runs.
//! - `verdict escaped|blocked DETAIL`: the observer's judgement, one per attack.

/// One attack, as the VM runs it.
pub struct VmAttack {
    pub name: &'static str,
    /// What it tries, for the book's table.
    pub what: &'static str,
    /// Shell lines that prepare the VM (and may define `watch`), then run the
    /// container, then judge.
    pub setup: &'static str,
    pub run: &'static str,
    pub observe: &'static str,
}

/// The container runs with the stage's rootfs, `$ROOTFS` (see `rootfs` in
/// `escape_vm.rs`), except where it says `/data/rootfs` (the VM's disk).
pub const VM_ONLY: &[VmAttack] = &[
    VmAttack {
        name: "mknod-disk",
        what: "make the host's disk's device node and read it",
        setup: "",
        run: "run_attack $ROOTFS mknod-disk",
        observe: r#"case "$line" in *"$DISKMARK"*) verdict escaped read the disk;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "core-pattern",
        what: "point the kernel's `core_pattern` at a program",
        setup: "echo core > /proc/sys/kernel/core_pattern",
        run: "run_attack $ROOTFS core-pattern $MARK",
        observe: r#"p=$(cat /proc/sys/kernel/core_pattern); echo core > /proc/sys/kernel/core_pattern
case "$p" in *"$MARK"*) verdict escaped "core_pattern $p";; *) verdict blocked "core_pattern $p";; esac"#,
    },
    VmAttack {
        name: "sysrq",
        what: "send the kernel a SysRq command",
        setup: "before=$(dmesg | grep -c 'Show Blocked State')",
        run: "run_attack $ROOTFS sysrq",
        observe: r#"after=$(dmesg | grep -c 'Show Blocked State')
if [ "$after" -gt "$before" ]; then verdict escaped the kernel log says so; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "reboot",
        what: "`reboot(2)` (proxy: switch off Ctrl-Alt-Del)",
        setup: "echo 1 > /proc/sys/kernel/ctrl-alt-del",
        run: "run_attack $ROOTFS reboot",
        observe: r#"v=$(cat /proc/sys/kernel/ctrl-alt-del); echo 1 > /proc/sys/kernel/ctrl-alt-del
if [ "$v" = 0 ]; then verdict escaped ctrl-alt-del switched off; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "load-module",
        what: "load a kernel module it brought",
        setup: "",
        run: "run_attack $ROOTFS load-module crc8.ko",
        observe: r#"if grep -q '^crc8 ' /proc/modules; then rmmod crc8; verdict escaped loaded; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "ptrace-host",
        what: "attach to a host process with `ptrace`",
        setup: r#"sleep 600 & victim=$!
watch() { t=$(awk '/^TracerPid/ { print $2 }' /proc/$victim/status); [ "$t" = 0 ] || echo "$t" > /tmp/traced; }"#,
        run: "run_attack $ROOTFS ptrace-host $victim",
        observe: r#"kill $victim
if [ -s /tmp/traced ]; then verdict escaped traced by $(cat /tmp/traced); else verdict blocked; fi"#,
    },
    VmAttack {
        name: "keyctl",
        what: "read a secret key from root's keyring",
        setup: r#"key=$(keyctl add user tincan-secret "$SECRET" @u); keyctl setperm $key 0x3f3f0000"#,
        run: "run_attack $ROOTFS keyctl tincan-secret",
        observe: r#"keyctl unlink $key @u > /dev/null
case "$line" in *"$SECRET"*) verdict escaped read the key;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "unshare-user",
        what: "regain every capability in a new user namespace, and mount",
        setup: r#"watch() {
  for p in $(attackers); do
    if [ -z "$(cat /proc/$p/uid_map)" ] && grep -q "$MARK" /proc/$p/mountinfo; then echo $p > /tmp/seen; fi
  done
}"#,
        run: "run_attack $ROOTFS unshare-user $MARK",
        observe: r#"if [ -s /tmp/seen ]; then verdict escaped mounted in a user namespace of its own; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "read-kcore",
        what: "read the kernel's memory in `/proc/kcore`",
        setup: "",
        run: "run_attack $ROOTFS read-kcore",
        observe: r#"off=$(echo "$line" | sed -n 's/.*offset \([0-9]*\): .*/\1/p'); want=${line##*: }
got=$(dd if=/proc/kcore bs=1 skip=${off:-0} count=32 2> /dev/null | od -An -tx1 | tr -d ' \n')
if [ -n "$off" ] && [ "$got" = "$want" ]; then verdict escaped the kernel text matches; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "shocker",
        what: "open a host file by its handle (`open_by_handle_at`)",
        setup: "",
        run: "run_attack /data/rootfs shocker tincan-secret",
        observe: r#"case "$line" in *"$SECRET"*) verdict escaped read the host file;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "fd-leak",
        what: "climb out through a directory the runtime left open",
        setup: "rm -f /tincan-fd-leak",
        run: "run_attack $ROOTFS fd-leak /tincan-fd-leak",
        observe: r#"if [ -e /tincan-fd-leak ]; then rm /tincan-fd-leak; verdict escaped; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "perf-event",
        what: "watch every process with a system-wide perf event",
        setup: r#"watch() { for p in $(attackers); do ls -l /proc/$p/fd 2> /dev/null | grep -q 'perf_event' && echo $p > /tmp/seen; done; }"#,
        run: "run_attack $ROOTFS perf-event",
        observe: r#"if [ -s /tmp/seen ]; then verdict escaped held a perf event; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "bpf-load",
        what: "load a BPF program into the kernel",
        setup: r#"watch() { for p in $(attackers); do ls -l /proc/$p/fd 2> /dev/null | grep -q 'bpf-prog' && echo $p > /tmp/seen; done; }"#,
        run: "run_attack $ROOTFS bpf-load",
        observe: r#"if [ -s /tmp/seen ]; then verdict escaped held a BPF program; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "remount-sys",
        what: "remount `/sys` writable and change a kernel setting there",
        setup: "echo N > /sys/module/printk/parameters/time",
        run: "run_attack $ROOTFS remount-sys",
        observe: r#"v=$(cat /sys/module/printk/parameters/time); echo N > /sys/module/printk/parameters/time
if [ "$v" = Y ]; then verdict escaped printk.time is $v; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "raise-limits",
        what: "remount its cgroups writable and lift its own limits",
        // A process gone between the listing and the read tells nothing
        // (its cgroup file is gone too): skipped, not taken for one without
        // a limit.
        setup: r#"watch() {
  for p in $(attackers); do
    cg=$(sed -n 's/^0:://p' /proc/$p/cgroup 2> /dev/null) && [ -n "$cg" ] || continue
    f=/sys/fs/cgroup$cg/pids.max
    if [ -e $f ]; then cat $f; else echo none; fi > /tmp/limit
  done
}"#,
        run: "run_attack $ROOTFS raise-limits",
        observe: r#"l=$(cat /tmp/limit 2> /dev/null)
case "$l" in 64) verdict blocked pids.max $l;; "") verdict blocked not seen;; *) verdict escaped pids.max $l;; esac"#,
    },
    VmAttack {
        name: "release-agent",
        what: "make the host run a program as a cgroup v1 release agent",
        setup: "rm -f /tincan-release-agent",
        run: "run_attack $ROOTFS release-agent $MARK",
        observe: r#"for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /tincan-release-agent ] && break; sleep 0.2; done
echo > /run/cgroup-v1/release_agent; rm -f /tincan-agent /tincan-agent-ran $ROOTFS/tincan-agent $ROOTFS/tincan-agent-ran
if grep -q "$MARK" /tincan-release-agent 2> /dev/null; then verdict escaped the host ran the agent; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "tiocsti",
        what: "type a command into the terminal the runtime runs on",
        setup: "",
        // The runtime gets a terminal from script(1); the shell that started it
        // reads that terminal once the container has ended. (script's standard
        // input is a FIFO held open and empty: at end of file, script would
        // type Ctrl-D into the terminal itself.)
        run: r#"mkfifo /tmp/quiet; exec 3<> /tmp/quiet
script -q -c "$STAGE $ROOTFS $probe attack tiocsti $MARK; read -t 2 got; echo GOT:\$got" /dev/null <&3 > /tmp/tty 2>&1
exec 3<&-
line=$(grep -a -o 'TRIED.*\|BLOCKED.*' /tmp/tty | head -n 1 | tr -d '\r'); echo "line: $line""#,
        observe: r#"if grep -q "GOT:$MARK" /tmp/tty; then verdict escaped the shell read it; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "route-localnet",
        what: "reach the host's `127.0.0.1` through the gateway (CVE-2020-8558)",
        // Busybox has no UDP listener: an nftables counter on the host's input
        // hook counts what reached 127.0.0.1:7777, as a listener there would see.
        setup: r#"nft add table ip lab && nft 'add chain ip lab in { type filter hook input priority 0; }'
nft add rule ip lab in ip daddr 127.0.0.1 udp dport 7777 counter"#,
        run: "run_attack $ROOTFS route-localnet 7777 $MARK",
        observe: r#"n=$(nft list chain ip lab in | sed -n 's/.*packets \([0-9]*\).*/\1/p'); nft delete table ip lab
if [ "${n:-0}" -gt 0 ]; then verdict escaped $n datagrams reached 127.0.0.1:7777; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "arp-spoof",
        what: "claim the gateway's address on the bridge (forged ARP)",
        // The victim: a container of chapter 6 on the bridge, which has just
        // asked for the gateway's MAC address (and so has it in its table).
        setup: r#"ch06 run /rootfs sh -c 'ping -c 1 -W 1 10.89.0.1 > /dev/null; sleep 61' > /dev/null 2>&1 & victim=$!
for i in $(seq 50); do
  vp=$(for p in /proc/[0-9]*; do [ "$(tr '\0' ' ' < $p/cmdline 2> /dev/null)" = "sleep 61 " ] && echo ${p#/proc/}; done)
  [ -n "$vp" ] && grep -q '^10.89.0.1 ' /proc/$vp/net/arp && break; sleep 0.2
done
sleep 1.5"#,
        run: "run_attack $ROOTFS arp-spoof 10.89.0.1",
        observe: r#"gateway=$(cat /sys/class/net/tincan0/address)
seen=$(awk '$1 == "10.89.0.1" { print $4 }' /proc/$vp/net/arp)
kill -KILL $vp; wait $victim
if [ -n "$seen" ] && [ "$seen" != "$gateway" ]; then verdict escaped the victim sends to $seen; else verdict blocked $seen; fi"#,
    },
];
