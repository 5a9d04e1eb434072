//! # Chapter 10: hardening — what a root process in a container may still do
//!
//! Chapters 2 to 9 gave the container its own view of the machine. Its root is
//! still a root, though: it holds every capability, it may make any of the
//! kernel's ~450 system calls, `/proc` and `/sys` still speak for the whole
//! machine in places, and it can open any device node it manages to create.
//! Each of these has been the way out of some container. This chapter applies
//! the defaults a production runtime (Docker, Podman, containerd with runc)
//! applies, one module each:
//!
//! - `capabilities.rs`: root's powers cut to Docker's 14 but `CAP_NET_RAW`
//!   (`--cap-add`, `--cap-drop`), for the five capability sets;
//!   `ping_group.rs`: `ping` without it.
//! - `no_new_privs.rs`: a set-user-ID program gains nothing.
//! - `seccomp/` and `syscall_filter.rs`: Docker's default seccomp profile,
//!   compiled before `clone(2)`, installed last (`--security-opt seccomp=...`).
//! - `paths.rs`: Docker's masked and read-only paths in `/proc` and `/sys`.
//! - `devices.rs`, `device_program.rs`: only the default devices may be opened —
//!   the v1 `devices` controller, or on cgroup v2 a BPF program of our own.
//! - `read_only_root.rs`: `--read-only`.
//!
//! The order in the child, at the end of the set-up (`run.rs`): masked and
//! read-only paths once `/proc` and `/sys` are mounted; the read-only root once
//! everything is mounted into it; then the bounding set, the user switch of
//! chapter 8, the other capability sets, `no_new_privs`, and seccomp, last.
//!
//! Builds on chapter 9 ([`ch09_user::run::plan`]).
//!
//! Man pages: `man 7 capabilities`, `man 2 seccomp`, `man 2 PR_SET_NO_NEW_PRIVS`,
//! `man 2 bpf`; the kernel's `Documentation/admin-guide/cgroup-v1/devices.rst`.

/// One line for `ch10 --help` and the `tincan` listing.
pub const ABOUT: &str = "hardening: capabilities, seccomp, no_new_privs, masked paths, devices";

pub mod capabilities;
pub mod device_program;
pub mod devices;
pub mod no_new_privs;
pub mod paths;
pub mod ping_group;
pub mod read_only_root;
pub mod run;
pub mod seccomp;
pub mod syscall_filter;
