//! The kernel's own controls, which belong to the whole machine: its settings in
//! `/proc/sys`, its SysRq commands, reboot(2), modules, perf events and BPF
//! programs. Root in a container of chapters 0–8 is root of the host for all of
//! them; a user namespace (chapter 9) and dropped capabilities, seccomp and
//! masked paths (chapter 10) take them away. `man 5 core`, `man 2 reboot`,
//! `man 2 init_module`, `man 2 perf_event_open`, `man 2 bpf`, the kernel's
//! `Documentation/admin-guide/sysrq.rst`.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{HOLD, ensure_proc, errno};

/// `core_pattern` says where the kernel writes a crashing program's core dump;
/// starting with `|`, it names a program the kernel *runs*, as root of the host,
/// on every crash anywhere. Pointing it at a program of ours (by name only here:
/// `|/MARKER`, which nothing runs) is the classic escape; the host sees the
/// setting.
pub fn core_pattern(marker: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let setting = "/proc/sys/kernel/core_pattern";
    match fs::write(setting, format!("|/{marker}")) {
        Ok(()) => format!("TRIED: wrote |/{marker} to {setting}"),
        Err(e) => format!("BLOCKED: write {setting}: {e}"),
    }
}

/// `/proc/sysrq-trigger` hands the kernel a SysRq command: `b` reboots at once,
/// `c` crashes the kernel, `o` powers off. We send `w`, which only lists the
/// blocked tasks in the kernel's log, where the host looks for it.
pub fn sysrq() -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    match fs::write("/proc/sysrq-trigger", "w") {
        Ok(()) => "TRIED: wrote w to /proc/sysrq-trigger".into(),
        Err(e) => format!("BLOCKED: write /proc/sysrq-trigger: {e}"),
    }
}

/// reboot(2) restarts the machine (`CAP_SYS_BOOT`). The real thing would end
/// the test; its harmless sibling `LINUX_REBOOT_CMD_CAD_OFF` switches off
/// rebooting on Ctrl-Alt-Del, which the host sees in
/// `/proc/sys/kernel/ctrl-alt-del`. Both go through the same door: in a PID
/// namespace the kernel answers the real one by ending the container's PID 1,
/// and this one with EINVAL.
pub fn reboot() -> String {
    // SAFETY: CAD_OFF changes one kernel setting and returns.
    if unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_CAD_OFF) } == 0 {
        "TRIED: reboot(CAD_OFF) accepted".into()
    } else {
        format!("BLOCKED: reboot(CAD_OFF): {}", errno())
    }
}

/// A kernel module runs in the kernel, with no wall of any kind: loading one is
/// game over. `path` is a module the attacker brought in its image.
pub fn load_module(path: &Path) -> String {
    let module = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return format!("BLOCKED: open {}: {e}", path.display()),
    };
    // SAFETY: finit_module reads the open file; the parameters are an empty string.
    let loaded =
        unsafe { libc::syscall(libc::SYS_finit_module, module.as_raw_fd(), c"".as_ptr(), 0) };
    if loaded == 0 {
        format!("TRIED: finit_module({}) accepted", path.display())
    } else {
        format!("BLOCKED: finit_module({}): {}", path.display(), errno())
    }
}

/// A perf event on a whole CPU (`pid = -1`) watches every process of the host
/// that runs there; with the right event type it samples their registers and
/// stacks. Here a harmless software clock, held for the host to see.
pub fn perf_event() -> String {
    // struct perf_event_attr: type, size, config are the first fields; the rest
    // (flags) may stay zero. PERF_ATTR_SIZE_VER0 is 64 bytes.
    let mut attr = [0u8; 64];
    attr[..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
    attr[4..8].copy_from_slice(&64u32.to_ne_bytes());
    // config 0: PERF_COUNT_SW_CPU_CLOCK
    // SAFETY: a valid attr of the size it says; the descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), -1, 0, -1, 0) };
    if fd < 0 {
        return format!("BLOCKED: perf_event_open(every process, CPU 0): {}", errno());
    }
    std::thread::sleep(HOLD);
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(fd as i32) };
    "TRIED: held a perf event on every process of CPU 0".into()
}

/// A BPF program runs in the kernel; some kinds read any kernel memory or
/// change what system calls return, for every process. Loading even the
/// smallest (`r0 = 0; exit`, a socket filter) needs `CAP_BPF` or
/// `CAP_SYS_ADMIN` on a kernel that forbids unprivileged BPF (Debian's does).
pub fn bpf_load() -> String {
    // Two instructions: BPF_ALU64|BPF_MOV|BPF_K r0 = 0 (0xb7), BPF_JMP|BPF_EXIT (0x95).
    let program: [u64; 2] = [0xb7, 0x95];
    let license = c"GPL";
    // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, ...
    let mut attr = [0u8; 128];
    attr[..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(program.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: the attr points at the program and license above, alive for the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) }; // BPF_PROG_LOAD
    if fd < 0 {
        return format!("BLOCKED: bpf(BPF_PROG_LOAD): {}", errno());
    }
    std::thread::sleep(HOLD);
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(fd as i32) };
    "TRIED: loaded and held a BPF program".into()
}
