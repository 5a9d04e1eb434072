//! The attacks that would harm a real host, each with its observer: shell lines
//! the VM runs around the container, as the machine the container runs on.
//!
//! Each attack runs in a subshell of the VM's script (see `script` in
//! `escape_vm.rs`), with these at hand:
//!
//! - `$MARK`, `$SECRET`, `$DISKMARK`: words made for this run. The container
//!   is told `$MARK` where it needs a name; only the VM knows `$SECRET` (a file
//!   on its disk, a key in its keyring) and `$DISKMARK` (its disk's first
//!   sector), so an attack that reports them reached them.
//! - `run_attack ROOTFS ARGS...`: runs `STAGE ROOTFS tincan-probe attack
//!   ARGS...`, calling `watch` every tenth of a second while it runs, and sets
//!   `$line` to what the attack printed.
//! - `attackers`: the PIDs of the probe processes whose command line holds
//!   `$MARK`, as the VM sees them.
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

/// The container runs with the rootfs on the VM's root file system (a tmpfs),
/// except where it says `/data/rootfs` (the VM's disk).
pub const VM_ATTACKS: &[VmAttack] = &[
    VmAttack {
        name: "mknod-disk",
        what: "make the host's disk's device node and read it",
        setup: "",
        run: "run_attack /rootfs mknod-disk",
        observe: r#"case "$line" in *"$DISKMARK"*) verdict escaped read the disk;; *) verdict blocked;; esac"#,
    },
    VmAttack {
        name: "core-pattern",
        what: "point the kernel's `core_pattern` at a program",
        setup: "echo core > /proc/sys/kernel/core_pattern",
        run: "run_attack /rootfs core-pattern $MARK",
        observe: r#"p=$(cat /proc/sys/kernel/core_pattern); echo core > /proc/sys/kernel/core_pattern
case "$p" in *"$MARK"*) verdict escaped "core_pattern $p";; *) verdict blocked "core_pattern $p";; esac"#,
    },
    VmAttack {
        name: "sysrq",
        what: "send the kernel a SysRq command",
        setup: "before=$(dmesg | grep -c 'Show Blocked State')",
        run: "run_attack /rootfs sysrq",
        observe: r#"after=$(dmesg | grep -c 'Show Blocked State')
if [ "$after" -gt "$before" ]; then verdict escaped the kernel log says so; else verdict blocked; fi"#,
    },
    VmAttack {
        name: "reboot",
        what: "`reboot(2)` (proxy: switch off Ctrl-Alt-Del)",
        setup: "echo 1 > /proc/sys/kernel/ctrl-alt-del",
        run: "run_attack /rootfs reboot",
        observe: r#"v=$(cat /proc/sys/kernel/ctrl-alt-del); echo 1 > /proc/sys/kernel/ctrl-alt-del
if [ "$v" = 0 ]; then verdict escaped ctrl-alt-del switched off; else verdict blocked; fi"#,
    },
];
