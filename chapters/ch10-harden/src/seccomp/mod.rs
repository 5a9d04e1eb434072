//! # seccomp: which system calls the container may make at all
//!
//! Namespaces hide things and capabilities take powers away, but every process
//! can still make every one of the kernel's ~450 system calls, and each is a
//! door into the kernel: a bug behind one rarely used call (`keyctl`,
//! `userfaultfd`, `bpf`, …) is a way out of any container. **seccomp** (secure
//! computing) lets a process close doors for itself and for every process it
//! will ever start: it hands the kernel a small program, a classic **BPF
//! filter**, that the kernel runs on each system call before doing it. The
//! program reads the call's number, architecture and arguments, and answers
//! *allow*, *fail with this errno*, *kill*, *trap*, *log* or *ask a tracer*.
//! A filter cannot be removed, only more filters added — so the container's
//! processes cannot undo it.
//!
//! Nobody writes these programs by hand. Docker described its filter as a JSON
//! **profile**: a default action (fail with `ENOSYS` or `EPERM`), then rules
//! that allow ~370 calls by name, some only with arguments that are safe, some
//! only for a container that holds a capability (`includes.caps`), on an
//! architecture (`arches`) or from a kernel version (`minKernel`). Podman's
//! `containers-common` ships a profile in the same format as
//! `/usr/share/containers/seccomp.json`: our default, once Docker's gates are
//! put back on top of it (below). **libseccomp**
//! turns the rules into BPF, for the machine's architecture and its 32-bit
//! sub-architectures (`archMap`).
//!
//! ## The pieces
//!
//! - `profile.rs`: the JSON format, read strictly: a misspelt action, operator,
//!   capability, architecture or field is an error that names it (`comment` is
//!   the one free field). A *syscall name* this libseccomp does not know is not:
//!   profiles name calls newer than the library, and those are left to the
//!   default action, as Docker and Podman do.
//! - `select.rs`: includes and excludes, for this machine (`Host`: architecture
//!   and kernel version) and the capabilities the container will hold. The
//!   result is a [`Filter`]: default action, architectures, flags and plain
//!   rules.
//! - `gates.rs`: Docker's gates — which calls need which capability — applied
//!   to the default profile by [`Profile::with_docker_gates`].
//! - `filter.rs`: the [`Filter`] model.
//! - `compile.rs`: a [`Filter`] to a BPF [`Program`] with libseccomp, in the
//!   runtime, before `clone(2)`.
//! - `cache.rs`: compiled programs kept on disk (libseccomp is slow; below).
//! - `install.rs`: [`Program::install`], one `seccomp(2)` call in the child.
//! - `choice.rs`: `--security-opt seccomp=PROFILE.json|unconfined`, and
//!   [`Choice::program`]: a start's program, found in the cache by the
//!   profile file's bytes before any parsing.
//!
//! ## Where seccomp goes in the start-up, and why last
//!
//! The filter applies to the process that installs it, so every call the runtime
//! still makes in the child after it must be allowed by the profile. runc and
//! youki therefore install it *as late as possible*: after the capabilities are
//! dropped and after `no_new_privs`, right before `execve(2)`. Installing a
//! filter needs either `CAP_SYS_ADMIN` or `no_new_privs` (`PR_SET_NO_NEW_PRIVS`):
//! without that rule a process could filter a set-user-ID program it runs into
//! failing a security check (say, `setuid()` "succeeding" with no effect) and
//! abuse it. With `no_new_privs` set, the filter can go last, after the
//! capabilities are gone. A container run without `no_new_privs` (Docker's
//! default) must install it while the child still holds `CAP_SYS_ADMIN`,
//! before dropping capabilities, as runc does — and then the profile must
//! allow the calls that dropping them makes (`capset`, `prctl`).
//!
//! The child is a fork of the runtime: it must not allocate or call into
//! libseccomp there. So the runtime compiles the program before `clone(2)`, and
//! the child makes one system call with a pointer to it.
//!
//! ## The OCI runtime spec's `linux.seccomp`
//!
//! An OCI bundle's `config.json` carries a seccomp section already resolved for
//! one container (no includes, excludes or `archMap`): `defaultAction`,
//! `defaultErrnoRet`, `architectures`, `flags` and `syscalls` of `names`,
//! `action`, `errnoRet` and `args`. That is exactly a [`Filter`]: the runtime
//! maps oci-spec's `LinuxSeccomp` onto it field by field — one `match` per
//! enum (`LinuxSeccompAction::ScmpActErrno` → [`Action::Errno`], `Arch` →
//! `ScmpArch`, `LinuxSeccompFlag` → [`Flag`]), `value_two: None` as 0 — and
//! calls [`Filter::compile`] (or [`Cache::compile`]): the same compiler as
//! for a profile.
//!
//! ## What it costs (measured here: `measure_parse_and_compile`, an ignored test)
//!
//! libseccomp 2.5 needs 10–40 ms to compile and export Docker's profile for
//! x86_64 with x86 and x32 (1426 instructions): far over a start's budget,
//! and paid by runc on every start. So the runtime keeps compiled programs in
//! a [`Cache`], keyed by everything they depend on, as crun does. Parsing the
//! profile and putting Docker's gates on it would cost a start ~0.2 ms more,
//! choosing its rules ~20 µs: so a start looks its program up by the profile
//! file's *bytes* (with the gates, the capabilities and the machine) and,
//! finding it, parses nothing — ~30 µs in all, to read and hash the profile
//! and read and check the program. In the child, `seccomp(2)` takes ~0.2 ms
//! (the kernel checks the program, translates it to eBPF and works out which
//! calls it always allows). Each call then costs nothing more if the filter
//! always allows it (Linux 5.11 answers those from a bitmap), ~40 ns more
//! where the program runs (`personality`, whose argument is checked).
//!
//! Two thirds of the program, and ~0.1 ms of that install, are the rules for
//! x86 and x32, the 32-bit ABIs an x86_64 kernel also runs (`archMap`): for
//! x86_64 alone it has ~470 instructions and installs in ~90 µs. They stay,
//! as in Docker: a filter that does not know an architecture kills the
//! thread that calls by it, so every 32-bit program in the container would
//! die at its first system call.
//!
//! ## Podman's profile is not Docker's: the gates
//!
//! containers-common 0.50 (Debian 12) is Podman's profile. It allows every
//! container calls that moby's `default.json` allows only with a capability —
//! `unshare`, `clone` and `clone3` with any flags, `setns`, `mount`,
//! `umount2`, `pivot_root`, the new mount API (`fsopen`, `fsconfig`,
//! `fsmount`, …), `ptrace`, `pidfd_getfd`, `reboot`, `syslog` — and `keyctl`,
//! which moby never allows. It leaves them to the kernel's own capability
//! checks, since Podman mostly runs containers in a user namespace. Chapter
//! 10's containers run as root in the host's user namespace; with Podman's
//! profile alone, one could `unshare -Urn` and be "root" of a user namespace
//! of its own, where the kernel lets it reach code only such a root reaches
//! (mounting filesystems, nf_tables): the start of CVE-2022-0185 and
//! CVE-2023-32233. So the default profile gets Docker's gates back
//! (`gates.rs`): each of those calls is allowed only to a container holding
//! its capability (`CAP_SYS_ADMIN` for mounts and namespaces), `clone` only
//! without `CLONE_NEW*` flags, `clone3` answers ENOSYS (glibc then uses
//! `clone`), and the key ring calls are never allowed. A profile the user
//! names (`--security-opt seccomp=FILE`) is taken as it is, as Docker does.
//!
//! Other differences stay. Podman's default errno is ENOSYS (moby's: EPERM),
//! so a program that tries a call newer than the profile falls back to an
//! older one; runc patches its programs for the same reason. A gated call that
//! is refused says EPERM, as in Docker.
//!
//! Man pages: `man 2 seccomp`, `man 2 prctl` (`PR_SET_NO_NEW_PRIVS`),
//! `man 3 seccomp_rule_add`, `man 3 seccomp_export_bpf`; the kernel's
//! `Documentation/userspace-api/seccomp_filter.rst`.

mod cache;
mod choice;
mod compile;
mod filter;
mod gates;
mod install;
#[cfg(test)]
mod kernel_tests;
mod profile;
mod select;
#[cfg(test)]
mod testing;

pub use cache::Cache;
pub use choice::Choice;
pub use filter::{Action, Arg, Filter, Flag, Op, Rule};
pub use install::Program;
pub use profile::Profile;
pub use select::{Host, KernelVersion};

use std::path::PathBuf;

use nix::errno::Errno;

/// The default profile: Podman's, as Debian's and Fedora's `containers-common`
/// ship it (Debian 12: package `golang-github-containers-common`), to which
/// [`Choice::Default`] adds Docker's gates.
pub const DEFAULT_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// What went wrong, with the file, field or system call it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "the seccomp profile {path} does not exist: install it (Debian 12: apt-get install \
         golang-github-containers-common; elsewhere containers-common), name another with \
         --security-opt seccomp=PROFILE.json, or run without a filter with \
         --security-opt seccomp=unconfined"
    )]
    Missing { path: PathBuf },
    #[error("cannot read the seccomp profile {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The profile is not what the format allows. `file` is the path, or "the
    /// profile" for text; `at` is the place in it, such as `syscalls[3].action`.
    #[error("seccomp profile {file}: {at}: {reason}")]
    Profile { file: String, at: String, reason: String },
    #[error("cannot read the kernel's version from uname ({release:?}): {reason}")]
    KernelVersion { release: String, reason: String },
    #[error(
        "{what} is not supported by tincan (it needs a seccomp agent listening on a socket); \
         remove it from the profile"
    )]
    Unsupported { what: String },
    #[error("libseccomp could not {what}: {source}")]
    Libseccomp { what: String, source: libseccomp::error::SeccompError },
    #[error("cannot export the compiled seccomp filter: {0}")]
    Export(std::io::Error),
    #[error(
        "the compiled seccomp filter has {instructions} instructions; the kernel takes at \
         most {max} in one filter: use a shorter profile"
    )]
    TooLong { instructions: usize, max: usize },
    /// From the child, with SECCOMP_FILTER_FLAG_TSYNC: another thread of the
    /// process has a filter this one does not descend from. Allocates nothing.
    #[error(
        "cannot install the seccomp filter: thread {tid} of this process has a seccomp filter \
         of its own, so SECCOMP_FILTER_FLAG_TSYNC could not give it this one; no thread got it"
    )]
    Tsync { tid: libc::c_long },
    /// From the child: carries only an errno, so making it allocates nothing.
    #[error("{}", install_message(*.0))]
    Install(Errno),
}

/// Why `seccomp(2)` refused, in words; the common causes first.
fn install_message(errno: Errno) -> String {
    let why = match errno {
        Errno::EACCES => {
            "the process has neither no_new_privs nor CAP_SYS_ADMIN: set \
             PR_SET_NO_NEW_PRIVS before installing the filter"
        }
        Errno::EINVAL => {
            "the kernel refused the program or one of its flags (SECCOMP_FILTER_FLAG_LOG \
             needs Linux 4.14, SPEC_ALLOW 4.17): remove the flag from the profile"
        }
        Errno::ENOMEM => "the filters of this process would be over the kernel's limit",
        Errno::ENOSYS => {
            "this kernel has no seccomp(2) (Linux 3.17 or later with CONFIG_SECCOMP_FILTER)"
        }
        _ => "see man 2 seccomp",
    };
    format!("cannot install the seccomp filter: {errno}: {why}")
}
