//! What the seccomp tests share: the real default profile, small profiles, and
//! a forked child that installs a program and reports what its calls returned.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::ForkResult;

use super::{DEFAULT_PROFILE, Profile, Program};

/// The profile containers-common installs, or `None` (the test then says it is
/// skipped) if this machine has none; under `CI=true` its absence fails.
pub fn default_profile() -> Option<Profile> {
    if !Path::new(DEFAULT_PROFILE).exists() {
        let name = std::thread::current().name().unwrap_or("a test").to_owned();
        let why =
            format!("needs {DEFAULT_PROFILE} (apt-get install golang-github-containers-common)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{name}: {why}, and CI=true");
        // Past libtest's capture, which takes `eprintln!`.
        let _ = writeln!(std::io::stderr(), "SKIPPED {name}: {why}");
        return None;
    }
    Some(Profile::read(Path::new(DEFAULT_PROFILE)).expect("the default profile parses"))
}

/// Docker's 14 default capabilities (moby's `oci/caps/defaults.go`): tincan's
/// [`DEFAULT`](crate::capabilities::DEFAULT) and `CAP_NET_RAW`, with no
/// `CAP_SYS_ADMIN`, which the profile's gates open and close on; and `more`.
pub fn docker_caps_and(more: &[caps::Capability]) -> caps::CapsHashSet {
    let docker = crate::capabilities::DEFAULT.iter().chain([&caps::Capability::CAP_NET_RAW]);
    docker.chain(more).copied().collect()
}

/// Is this test running as root? If not, it says it is skipped (and fails
/// under `CI=true`, where tests run as root).
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{name}: needs root, and CI=true");
    let _ = writeln!(std::io::stderr(), "SKIPPED {name}: needs root");
    false
}

/// A profile from JSON, which the test means to be valid.
pub fn profile(json: &str) -> Profile {
    Profile::from_json(json).unwrap_or_else(|e| panic!("{e}"))
}

/// 0 if a raw system call (`libc::syscall`) succeeded, else its errno.
pub fn errno(ret: libc::c_long) -> i32 {
    if ret < 0 { Errno::last_raw() } else { 0 }
}

/// Set `no_new_privs`, as the runtime does before installing a filter.
pub fn no_new_privs() {
    // SAFETY: a plain prctl with integer arguments.
    let set = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(set, 0, "prctl(PR_SET_NO_NEW_PRIVS)");
}

/// In a forked child: `prepare` (such as [`no_new_privs`]), install `program`,
/// then make the calls of `calls` and report each one's [`errno`]. `Err` is the
/// install's error, as the child saw it. The test process keeps no filter.
pub fn in_filtered_child(
    program: &Program,
    prepare: impl FnOnce(),
    calls: impl FnOnce() -> Vec<i32>,
) -> Result<Vec<i32>, String> {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    // SAFETY: the child installs, calls and leaves with _exit; glibc's allocator
    // is safe to use in a child of a multi-threaded process.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read);
            // A failed assertion in `prepare` or `calls` ends up in the report.
            let report = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                prepare();
                program.install().map(|()| calls())
            })) {
                Err(_) => "the child panicked (its message is above)".to_owned(),
                Ok(Ok(seen)) => seen.iter().map(i32::to_string).collect::<Vec<_>>().join(" "),
                Ok(Err(e)) => format!("install: {e}"),
            };
            let _ = File::from(write).write_all(report.as_bytes());
            // SAFETY: ends the child at once, running none of the test's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut report = String::new();
            File::from(read).read_to_string(&mut report).expect("the child's report");
            let status = nix::sys::wait::waitpid(child, None).expect("wait for the child");
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0), "the child: {report}");
            match report.strip_prefix("install: ") {
                Some(error) => Err(error.to_owned()),
                None => Ok(report.split(' ').map(|n| n.parse().expect("an errno")).collect()),
            }
        }
    }
}
