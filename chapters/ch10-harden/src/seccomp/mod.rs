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
//! `containers-common` ships the same format as
//! `/usr/share/containers/seccomp.json`, which is our default. **libseccomp**
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
//! - `filter.rs`: the [`Filter`] model.
//! - `compile.rs`: a [`Filter`] to a BPF [`Program`] with libseccomp, in the
//!   runtime, before `clone(2)`.
//! - `install.rs`: [`Program::install`], one `seccomp(2)` call in the child.
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
//! abuse it. Our child has dropped its capabilities by then, so it sets
//! `no_new_privs` first. (runc installs the filter *before* dropping capabilities
//! when the container runs without `no_new_privs`; tincan always sets it.)
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
//! maps oci-spec's `LinuxSeccomp` field by field onto [`Filter`] (the action,
//! operator, architecture and flag names are the same strings, so
//! `serde_json::from_value` or a `match` per enum does it), then calls
//! [`Filter::compile`] — the same compiler as for a profile.
//!
//! ## What it costs
//!
//! Parsing and compiling the default profile happens once per container start in
//! the runtime; the kernel runs the filter on every system call. libseccomp's
//! binary-tree layout keeps that to a few dozen BPF instructions per call.
//! `measure_parse_and_compile` (an ignored test) prints the start-up cost.
//!
//! Man pages: `man 2 seccomp`, `man 2 prctl` (`PR_SET_NO_NEW_PRIVS`),
//! `man 3 seccomp_rule_add`, `man 3 seccomp_export_bpf`; the kernel's
//! `Documentation/userspace-api/seccomp_filter.rst`.

mod cache;
mod choice;
mod compile;
mod filter;
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

/// Docker's default profile, as Debian's and Fedora's `containers-common` ship
/// it (Debian 12: package `golang-github-containers-common`).
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
    #[error("cannot use the seccomp cache file {path}: {source}")]
    Cache { path: PathBuf, source: std::io::Error },
    #[error("cannot export the compiled seccomp filter: {0}")]
    Export(std::io::Error),
    #[error(
        "the compiled seccomp filter has {instructions} instructions; the kernel takes at \
         most {max} in one filter: use a shorter profile"
    )]
    TooLong { instructions: usize, max: usize },
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
