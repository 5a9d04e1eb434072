//! Tests that cannot run here say so — in a way `cargo xtask check` can show.
//!
//! A test that lacks what it needs (root, qemu) returns early, and libtest then
//! reports it as `ok`: it has no way to report a skip decided at run time. So the
//! helpers below print one line to the real stderr, past libtest's capture:
//!
//! ```text
//! SKIPPED ch02::sees_only_its_own_processes: needs root (run `cargo xtask test`, which uses sudo)
//! ```
//!
//! libtest runs each test on a thread named after it (also with
//! `--test-threads=1`), so the thread's name is the test's full name as libtest's
//! report prints it; `cargo xtask check` collects these lines and shows the test
//! as skipped, with its reason, never as passed. Under `CI=true` a skip is a
//! failure instead, so that a green CI always means every test ran.

use std::io::Write;

/// True if the test can run: we are root. Namespaces, mounts and cgroups need it.
#[must_use]
pub fn root_or_skip(test: &str) -> bool {
    nix::unistd::geteuid().is_root()
        || skip(test, "needs root (run `cargo xtask test`, which uses sudo)")
}

/// True if the VM tests can run: there is a qemu, the system's or one the VM
/// harness fetches into its cache (this fetches it, once). Otherwise the reason
/// names what is missing, such as a usable apt-get.
#[must_use]
pub fn qemu_or_skip(test: &str) -> bool {
    match tincan_vm::ensure_qemu(&super::vm::cache_dir()) {
        Ok(_) => true,
        Err(e) => skip(test, &e.to_string()),
    }
}

/// True if the commands the test runs are installed: `tools` lists each with the
/// Debian package that has it, which the reason names.
#[must_use]
pub fn tools_or_skip(test: &str, tools: &[(&str, &str)]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<std::path::PathBuf> =
        std::env::split_paths(&path).chain(["/usr/sbin", "/sbin"].map(Into::into)).collect();
    let missing: Vec<String> = tools
        .iter()
        .filter(|(command, _)| !dirs.iter().any(|d| d.join(command).is_file()))
        .map(|(command, package)| format!("{command} (apt-get install {package})"))
        .collect();
    missing.is_empty() || skip(test, &format!("needs {}", missing.join(", ")))
}

/// Report the skip (or, under `CI=true`, fail); false, for the callers' `if`.
/// `test` names the test where libtest did not name the thread (a thread the
/// test started itself).
pub fn skip(test: &str, reason: &str) -> bool {
    let thread = std::thread::current();
    let name = thread.name().filter(|n| *n != "main").unwrap_or(test);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name}: {reason}; CI=true, so this is a failure, not a skip");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {name}: {reason}");
    false
}

/// A program's path on this machine (`tools_or_skip` made sure there is one).
pub fn which(program: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed"))
}
