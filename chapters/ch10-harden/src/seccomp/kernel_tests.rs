//! What the kernel does once a compiled program is installed: each test forks a
//! child, installs the program there, makes real system calls and reports their
//! errnos. No root needed (`no_new_privs` is enough to install a filter); every
//! call that a filter denies here is harmless if it were allowed.

use std::collections::HashSet;

use caps::{Capability, CapsHashSet};
use libc::{EACCES, EDOM, EINVAL, ENOSYS, EPERM};

use super::testing::{
    default_profile, docker_caps_and, errno, in_filtered_child, no_new_privs, profile,
};

fn getpid() -> i32 {
    // SAFETY: a raw system call without pointers.
    errno(unsafe { libc::syscall(libc::SYS_getpid) })
}

#[test]
fn a_profile_denying_mkdir_fails_it_with_its_errno_and_allows_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let target =
        std::ffi::CString::new(dir.path().join("made").into_os_string().into_encoded_bytes())
            .unwrap();
    // `nosuchcall` is unknown to libseccomp: skipped, not an error.
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat", "nosuchcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;
    let program =
        profile(json).filter(&CapsHashSet::new(), &super::Host::this().unwrap()).compile().unwrap();
    let seen = in_filtered_child(&program, no_new_privs, || {
        // SAFETY: a valid C string; mkdir(3) calls mkdirat(2) on x86_64.
        let made = errno(unsafe { libc::mkdir(target.as_ptr(), 0o755) }.into());
        vec![made, getpid()]
    });
    assert_eq!(seen, Ok(vec![EACCES, 0]), "mkdir denied with EACCES, getpid allowed");
    assert!(!dir.path().join("made").exists(), "the kernel did not make the directory");
}

#[test]
fn the_default_profile_denies_what_it_lists_and_allows_the_rest() {
    let Some(profile) = default_profile() else { return };
    let program = profile.compile(&CapsHashSet::new()).unwrap();
    let seen = in_filtered_child(&program, no_new_privs, || {
        // SAFETY: raw system calls with null or integer arguments; each fails
        // harmlessly (EFAULT, EBADF, EINVAL) if the filter let it through.
        unsafe {
            vec![
                errno(libc::syscall(libc::SYS_getpid)),
                // In no rule: the default action, ERRNO with defaultErrnoRet 38.
                errno(libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0)),
                // Listed with errnoRet 1.
                errno(libc::syscall(libc::SYS_userfaultfd, -1)),
                // Allowed only with CAP_SYS_ADMIN.
                errno(libc::syscall(libc::SYS_bpf, -1, 0, 0)),
                // An audit socket: EINVAL without CAP_AUDIT_WRITE; others allowed.
                errno(libc::syscall(
                    libc::SYS_socket,
                    libc::AF_NETLINK,
                    libc::SOCK_RAW,
                    libc::NETLINK_AUDIT,
                )),
                errno(libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0)),
            ]
        }
    });
    assert_eq!(seen, Ok(vec![0, ENOSYS, EPERM, EPERM, EINVAL, 0]));
}

#[test]
fn the_default_profile_gives_a_container_with_capabilities_what_they_unlock() {
    let Some(profile) = default_profile() else { return };
    let caps: CapsHashSet = [Capability::CAP_SYS_ADMIN, Capability::CAP_AUDIT_WRITE].into();
    let program = profile.compile(&caps).unwrap();
    let seen = in_filtered_child(&program, no_new_privs, || {
        // SAFETY: as above; bpf's command -1 does not exist.
        unsafe {
            vec![
                errno(libc::syscall(libc::SYS_bpf, -1, 0, 0)),
                errno(libc::syscall(
                    libc::SYS_socket,
                    libc::AF_NETLINK,
                    libc::SOCK_RAW,
                    libc::NETLINK_AUDIT,
                )),
            ]
        }
    });
    let seen = seen.unwrap();
    assert_ne!(seen[0], EPERM, "bpf reached the kernel, which refused command -1");
    assert_ne!(seen[1], EINVAL, "the audit socket reached the kernel");
}

/// The errno of `getpgid(v)` for each value, in a child whose filter fails
/// getpgid with EDOM when its argument 0 matches `args`. getpgid itself never
/// says EDOM, so EDOM means the condition matched.
fn matched(args: &str, values: &[u64]) -> Vec<bool> {
    let json = format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": {EDOM}, "args": [{args}]}}]}}"#
    );
    let program = profile(&json)
        .filter(&CapsHashSet::new(), &super::Host::this().unwrap())
        .compile()
        .unwrap();
    let values = values.to_vec();
    let seen = in_filtered_child(&program, no_new_privs, || {
        // SAFETY: getpgid takes a number; the kernel reads its low 32 bits.
        values.iter().map(|&v| errno(unsafe { libc::syscall(libc::SYS_getpgid, v) })).collect()
    });
    seen.unwrap().into_iter().map(|e| e == EDOM).collect()
}

fn arg(op: &str, value: u64) -> String {
    format!(r#"{{"index": 0, "value": {value}, "op": "{op}"}}"#)
}

#[test]
fn each_operator_compares_as_its_name_says() {
    let values = [0, 99, 100, 101, 1 << 40];
    assert_eq!(matched(&arg("SCMP_CMP_EQ", 100), &values), [false, false, true, false, false]);
    assert_eq!(matched(&arg("SCMP_CMP_NE", 100), &values), [true, true, false, true, true]);
    assert_eq!(matched(&arg("SCMP_CMP_LT", 100), &values), [true, true, false, false, false]);
    assert_eq!(matched(&arg("SCMP_CMP_LE", 100), &values), [true, true, true, false, false]);
    assert_eq!(matched(&arg("SCMP_CMP_GT", 100), &values), [false, false, false, true, true]);
    assert_eq!(matched(&arg("SCMP_CMP_GE", 100), &values), [false, false, true, true, true]);
}

#[test]
fn masked_eq_compares_the_argument_under_the_mask_with_value_two() {
    let masked = r#"{"index": 0, "value": 240, "valueTwo": 48, "op": "SCMP_CMP_MASKED_EQ"}"#;
    // 0xF0 & v == 0x30; 0x70 and 0xF3 have 0x30's bits, but others under the mask too.
    let values = [0x30, 0x3f, 0x135, 0x70, 0xf3, 0x40, 0x0f];
    assert_eq!(matched(masked, &values), [true, true, true, false, false, false, false]);
}

#[test]
fn two_conditions_on_one_argument_match_either_as_runc_does() {
    let both = format!("{}, {}", arg("SCMP_CMP_EQ", 5), arg("SCMP_CMP_EQ", 7));
    assert_eq!(matched(&both, &[5, 6, 7]), [true, false, true]);
}

#[test]
fn an_errno_action_without_errno_ret_fails_with_eperm() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let program =
        profile(json).filter(&HashSet::new(), &super::Host::this().unwrap()).compile().unwrap();
    // SAFETY: a raw system call without arguments.
    let seen = in_filtered_child(&program, no_new_privs, || {
        vec![errno(unsafe { libc::syscall(libc::SYS_getppid) })]
    });
    assert_eq!(seen, Ok(vec![EPERM]));
}

#[test]
fn the_child_is_in_filter_mode_with_the_profiles_flags() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"], "syscalls": []}"#;
    let program =
        profile(json).filter(&HashSet::new(), &super::Host::this().unwrap()).compile().unwrap();
    let seen = in_filtered_child(&program, no_new_privs, || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        // `Seccomp: 2` is filter mode (man 5 proc).
        vec![i32::from(status.lines().any(|l| l.split_whitespace().eq(["Seccomp:", "2"])))]
    });
    assert_eq!(seen, Ok(vec![1]));
}

#[test]
fn without_no_new_privs_or_cap_sys_admin_install_says_what_to_do() {
    let program = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
        .filter(&HashSet::new(), &super::Host::this().unwrap())
        .compile()
        .unwrap();
    // No no_new_privs, and no CAP_SYS_ADMIN (root's test process has it).
    let drop_admin =
        || caps::drop(None, caps::CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap();
    let error = in_filtered_child(&program, drop_admin, || vec![0]).unwrap_err();
    assert!(error.contains("EACCES") && error.contains("set PR_SET_NO_NEW_PRIVS"), "{error}");
}

/// The default profile as `--security-opt` gives it (Docker's gates on top),
/// compiled for Docker's default capabilities (no CAP_SYS_ADMIN) and `more`.
fn default_with_gates(more: &[Capability]) -> Option<super::Program> {
    default_profile()?;
    let Ok(Some(profile)) = super::Choice::Default.profile() else { panic!("the default profile") };
    let caps = docker_caps_and(more);
    Some(profile.compile(&caps).unwrap())
}

/// `clone(flags)` by hand, as fork does it (no new stack): the new process
/// leaves at once; 0 if it was made (and reaped), else the errno.
fn clone(flags: libc::c_int) -> i32 {
    // SAFETY: without CLONE_VM the child has its own copy of memory, like a
    // fork's, and only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD, 0, 0, 0, 0) };
    match pid {
        // SAFETY: ends the new process at once.
        0 => unsafe { libc::_exit(0) },
        pid if pid > 0 => {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            nix::sys::wait::waitpid(pid, None).map_or(-1, |_| 0)
        }
        _ => nix::errno::Errno::last_raw(),
    }
}

/// The raw errnos of the calls a container must not make without
/// CAP_SYS_ADMIN; each is harmless had it been allowed (null pointers, bad
/// descriptors), and the child goes away with what it made.
fn gated_calls() -> Vec<i32> {
    // SAFETY: raw system calls with integer or null arguments.
    unsafe {
        vec![
            // First: after unshare, this process's uid is unmapped, and the
            // kernel would refuse a nested user namespace itself.
            clone(libc::CLONE_NEWUSER),
            errno(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
            // A null target: EFAULT, had the filter let it through.
            errno(libc::syscall(libc::SYS_mount, 0, 0, 0, 0, 0)),
            errno(libc::syscall(libc::SYS_setns, -1, 0)),
            // A null `struct clone_args`: EINVAL from the kernel.
            errno(libc::syscall(libc::SYS_clone3, 0, 0)),
            // Command -1: EOPNOTSUPP from the kernel.
            errno(libc::syscall(libc::SYS_keyctl, -1, 0, 0, 0, 0)),
            errno(libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0)),
        ]
    }
}

#[test]
fn without_cap_sys_admin_the_default_filter_refuses_namespaces_mounts_and_keys() {
    let Some(program) = default_with_gates(&[]) else { return };
    let seen = in_filtered_child(&program, no_new_privs, gated_calls);
    // clone3 says ENOSYS, so that glibc falls back to clone.
    assert_eq!(seen, Ok(vec![EPERM, EPERM, EPERM, EPERM, ENOSYS, EPERM, EPERM]));
}

#[test]
fn without_cap_sys_admin_processes_are_still_made() {
    let Some(program) = default_with_gates(&[]) else { return };
    let seen = in_filtered_child(&program, no_new_privs, || {
        let status = |program: &str, args: &[&str]| {
            let status = std::process::Command::new(program)
                .args(args)
                .stderr(std::process::Stdio::null())
                .status();
            status.map_or(-1, |s| s.code().unwrap_or(-2))
        };
        // SAFETY: the new process only calls _exit.
        let forked = match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid if pid > 0 => {
                nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).map_or(-1, |_| 0)
            }
            _ => nix::errno::Errno::last_raw(),
        };
        vec![
            clone(0),
            forked,
            // posix_spawn tries clone3 first, gets ENOSYS and uses clone.
            status("true", &[]),
            // unshare(1) says "Operation not permitted" and exits with 1.
            status("unshare", &["-Urn", "true"]),
        ]
    });
    assert_eq!(seen, Ok(vec![0, 0, 0, 1]));
}

#[test]
fn with_cap_sys_admin_the_default_filter_lets_the_kernel_decide() {
    let Some(program) = default_with_gates(&[Capability::CAP_SYS_ADMIN]) else { return };
    let seen = in_filtered_child(&program, no_new_privs, gated_calls).unwrap();
    // The test runs as root, so the kernel allows a user namespace.
    assert_eq!(seen[..2], [0, 0], "clone and unshare with CLONE_NEWUSER");
    assert_eq!(seen[2..5], [libc::EFAULT, libc::EBADF, EINVAL], "the kernel's answers");
    assert_eq!(seen[5..], [EPERM, EPERM], "the key rings, never");
}

#[test]
fn tsync_fails_whole_when_another_thread_has_a_filter_of_its_own() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}"#;
    let program =
        profile(json).filter(&HashSet::new(), &super::Host::this().unwrap()).compile().unwrap();
    let own = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
        .filter(&HashSet::new(), &super::Host::this().unwrap())
        .compile()
        .unwrap();
    // In the child: a second thread installs a filter of its own and waits
    // (the child's _exit ends it); the child's TSYNC then cannot reach it.
    let prepare = move || {
        no_new_privs();
        let (ready, installed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            own.install().unwrap();
            ready.send(()).unwrap();
            std::thread::park();
        });
        installed.recv().unwrap();
    };
    let error = in_filtered_child(&program, prepare, || vec![0]).unwrap_err();
    assert!(
        error.starts_with("cannot install the seccomp filter: thread ")
            && error.contains("has a seccomp filter of its own"),
        "{error}"
    );
    // And without TSYNC the same call is a success, as 0.
    let alone = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
        .filter(&HashSet::new(), &super::Host::this().unwrap())
        .compile()
        .unwrap();
    assert_eq!(in_filtered_child(&alone, no_new_privs, || vec![0]), Ok(vec![0]));
}
