//! `ch09 pull`, `import` and `rmi` without root: the command, run again as
//! root of a user namespace.
//!
//! A layer's files have many owners (root, a daemon's user, 1000...), and
//! giving a file to another user is root's. Rootless podman's answer, and
//! ours: unpack as root of a user namespace that maps the user's own ID to 0
//! and its subordinate IDs (`/etc/subuid`, `/etc/subgid`) from 1 — the map
//! `ch09 run` gives the user's containers (`run.rs`'s `rootless`). A file the
//! layer says is N's lands on the host as the ID the container will see as N.
//! The kernel refuses that root two things: device nodes (left out, with a
//! warning) and `trusted.*` attributes (only the `user.overlay.opaque` mark
//! is written, which is the one a user's overlay reads): chapter 8's
//! `unpack/userns.rs`.
//!
//! Man pages: `man 1 unshare` (`--map-root-user`, `--map-auto`),
//! `man 1 newuidmap`, `man 5 subuid`.

use std::path::Path;
use std::process::{Command, ExitCode};

use nix::unistd::{Uid, User};

use crate::run::on_path;
use crate::subid::{self, SUBGID, SUBUID};

/// For root (the host's, or the user namespace's below): go on (`None`). For
/// a user: the same command, with the same arguments and the user's store,
/// run by `unshare` as root of a user namespace, and its exit code.
///
/// Why `unshare --map-root-user --map-auto` and not our own `unshare(2)`: a
/// process may enter a new user namespace only while it has one thread, and
/// a user's maps beyond its own ID must be written from outside by the
/// set-user-ID helpers `newuidmap`/`newgidmap`, so a parent must wait for the
/// child, call them, and let it go on. `unshare` does exactly that, and
/// running the whole binary again under it keeps the pull's threads (one per
/// layer) and HTTP client out of the question. Its map is the user to 0 and
/// its *first* subordinate range from 1: `run`'s map starts the same way
/// (further ranges follow there), so every ID a layer gives means the same
/// host ID in both; an ID beyond the first range fails `chown` with a clear
/// error, never a wrong owner.
pub fn write_layers_in_user_namespace(store: &Path) -> Result<Option<ExitCode>, String> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Ok(None);
    }
    refuse_without_subordinate_ids(uid)?;
    let exe = std::env::current_exe().map_err(|e| format!("find our own binary: {e}"))?;
    // The store is resolved here, as the user: inside, we are root, whose
    // default store is /var/lib/tincan. A --root given stays in the arguments
    // and wins over the variable, as always.
    let status = Command::new("unshare")
        .args(["--map-root-user", "--map-auto", "--"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("TINCAN_ROOT", store)
        .status()
        .map_err(|e| format!("run unshare (util-linux): {e}"))?;
    // Killed by a signal: 128 + its number, as a shell says it.
    let code = status.code().or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        status.signal().map(|s| 128 + s)
    });
    Ok(Some(ExitCode::from(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(125))))
}

/// Without subordinate IDs (or the helpers that grant them) every file of the
/// image would be the user's own: `apt-get` could no longer switch to `_apt`,
/// `sshd` would find its keys owned by the wrong user — an image that runs
/// wrongly, far from the cause. So the pull is refused, saying what to add.
/// (`run ROOTFS`, whose files the user made, still runs with one ID.)
fn refuse_without_subordinate_ids(uid: Uid) -> Result<(), String> {
    let name = User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_default();
    let missing: Vec<&str> =
        ["newuidmap", "newgidmap"].into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "without root, a layer's owners are given through subordinate IDs, and {} is not installed: as root, apt-get install uidmap",
            missing.join(" and ")
        ));
    }
    for file in [SUBUID, SUBGID] {
        let ranges = subid::ranges(file.as_ref(), &name, Some(uid.as_raw()))
            .map_err(|e| format!("read {file}: {e}"))?;
        if ranges.is_empty() {
            return Err(format!(
                "without root, a layer's files keep their owners only through subordinate IDs, and {file} gives {name:?} none: as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}"
            ));
        }
    }
    Ok(())
}
