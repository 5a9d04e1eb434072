//! `sudo ch09 delegate USER`: the one-time set-up, by root, that lets USER's
//! containers have limits.
//!
//! A user namespace makes its creator root *inside*; it gives no power over
//! what the host owns, and the cgroup tree is the host's. A user cannot make a
//! cgroup anywhere in it: every directory of `/sys/fs/cgroup` belongs to root.
//! Without a cgroup of its own a container can still run, but it cannot have a
//! memory limit, a pids limit, a CPU quota.
//!
//! The kernel's answer is **delegation**: root makes a cgroup and hands it to the
//! user with `chown(2)`. In it the user may make cgroups (they are directories),
//! write their limits (files the kernel gives the user who made them) and move
//! its own processes between them. It can never raise a limit root put above
//! it: a limit binds the whole subtree. systemd does this for each logged-in
//! user on cgroup v2 hosts (`Delegate=yes` on `user@UID.service`); this
//! command does the same for tincan's part of the tree, in every hierarchy its
//! containers use:
//!
//! ```text
//! mkdir /sys/fs/cgroup/memory/tincan/user-1000                     # v1: in each hierarchy
//! chown alice: /sys/fs/cgroup/memory/tincan/user-1000{,/cgroup.procs,/tasks}
//! ```
//!
//! On cgroup v2 the files to hand over are the directory's `cgroup.procs`,
//! `cgroup.subtree_control` and `cgroup.threads`, and the controllers must be
//! handed down to it first. And v2 adds a rule that v1 lacks: a process may move
//! only between cgroups whose *common ancestor* it may write to. A user's shell
//! sits in its login session's cgroup, which systemd delegates to no one, so on
//! a v2 host a user's runtime would have to start inside the delegated cgroup
//! (as `systemd-run --user --scope -p Delegate=yes` starts it in systemd's),
//! and its containers' cgroups go beside it, never above a process. tincan
//! does not do that yet: on a v2 host this command refuses, and says so. On
//! a v1 or hybrid host there is no such rule.
//!
//! A user's containers then go under `PARENT/user-UID` (PARENT is
//! `--cgroup-parent`, `tincan` by default): see `rootless.rs`. What was
//! delegated is recorded (`STATE/delegated/UID.json`), and `--remove` undoes it.
//! Cgroups live in memory: a reboot undoes it too.
//!
//! The kernel's `Documentation/admin-guide/cgroup-v2.rst`, "Delegation";
//! `man 7 cgroups`, "Cgroups version 2 delegation".

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ch07_cgroups::{DEFAULT_PARENT, Hierarchy, Layout, Version, enable_controllers};
use clap::Parser;
use nix::unistd::{Gid, Uid, User, chown};
use serde::{Deserialize, Serialize};

/// What can go wrong with a delegation, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DelegateError {
    #[error(
        "delegating cgroups needs root: it hands the user part of the host's cgroup tree (try sudo)"
    )]
    NotRoot,
    #[error("no user {0:?} on this host")]
    NoSuchUser(String),
    #[error("{0:?} is root, who needs no delegation")]
    Root(String),
    #[error(
        "this host has no cgroups mounted (look for cgroup or cgroup2 in /proc/self/mountinfo)"
    )]
    NoCgroups,
    #[error("{action} {path}: {source}", path = .path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error(
        "{user}'s cgroup {path} still holds containers' cgroups: stop {user}'s containers first (or run `ch09 cleanup` as {user})",
        path = .path.display()
    )]
    InUse { user: String, path: PathBuf },
    #[error(
        "on a cgroup v2 host, tincan cannot use a delegated cgroup yet (a user's runtime would have to start inside it); a user's containers run without limits, or with sudo"
    )]
    V2,
    #[error("nothing is delegated to {0}")]
    NothingDelegated(String),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DelegateError {
    let path = path.to_owned();
    move |source| DelegateError::Io { action, path, source }
}

/// `ch09 delegate`: its own small command line, beside chapter 8's.
#[derive(Parser, Debug)]
#[command(
    name = "ch09 delegate",
    about = "Give USER a cgroup of their own under tincan's (run once, as root), so that their containers' limits (--memory, --pids-limit, ...) work without root"
)]
pub struct DelegateArgs {
    /// The user, by name or number.
    user: String,
    /// Take the delegation back (once the user's containers have ended).
    #[arg(long)]
    remove: bool,
    /// tincan's cgroup that the user's goes in (as `run --cgroup-parent`).
    #[arg(long, value_name = "PATH", env = "TINCAN_CGROUP_PARENT", default_value = DEFAULT_PARENT)]
    cgroup_parent: PathBuf,
}

/// What a delegation made, recorded before it is made.
#[derive(Serialize, Deserialize, Debug)]
struct Record {
    user: String,
    dirs: Vec<PathBuf>,
}

// ANCHOR: user_parent
/// The cgroup, inside each hierarchy, under which a user's containers go:
/// `PARENT/user-UID`. By number: a name can be given to another user later.
pub fn user_parent(parent: &Path, uid: Uid) -> PathBuf {
    parent.join(format!("user-{uid}"))
}
// ANCHOR_END: user_parent

/// The hierarchies in which `uid` has the cgroup `PARENT/user-UID`, made for it
/// and owned by it.
pub fn delegated<'a>(layout: &'a Layout, parent: &Path, uid: Uid) -> Vec<&'a Hierarchy> {
    let owned_by =
        |dir: PathBuf| fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == uid.as_raw());
    layout.used().into_iter().filter(|h| owned_by(h.mount.join(user_parent(parent, uid)))).collect()
}

/// `ch09 delegate [--remove] USER`: parse the rest of the command line, and do it.
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // `ch09 delegate ...`: clap sees "ch09 delegate" as the program.
    let args = std::iter::once("ch09 delegate".into()).chain(std::env::args_os().skip(2));
    let parsed = DelegateArgs::command().try_get_matches_from(args);
    let args = match parsed.and_then(|m| DelegateArgs::from_arg_matches(&m)) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS };
        }
    };
    let done = if args.remove { remove(&args) } else { delegate(&args) };
    match done {
        Ok(message) => {
            eprintln!("ch09: {message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ch09: delegate: {e}");
            ExitCode::from(125)
        }
    }
}

/// ` --cgroup-parent PATH` when it is not the default, for the commands we print.
pub fn parent_flag(parent: &Path) -> String {
    if parent == Path::new(DEFAULT_PARENT) {
        String::new()
    } else {
        format!(" --cgroup-parent {}", parent.display())
    }
}

/// Find the user, by name or number.
fn find_user(name: &str) -> Result<User, DelegateError> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    let user = found.ok().flatten().ok_or_else(|| DelegateError::NoSuchUser(name.to_owned()))?;
    if user.uid.is_root() {
        return Err(DelegateError::Root(user.name));
    }
    Ok(user)
}

/// Where the record of the delegation to `uid` lives.
fn record_path(uid: Uid) -> PathBuf {
    ch00_process::state_root().join("delegated").join(format!("{uid}.json"))
}

// ANCHOR: delegate
/// Make `PARENT/user-UID` in every hierarchy tincan uses, and give it to the user.
fn delegate(args: &DelegateArgs) -> Result<String, DelegateError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(DelegateError::NotRoot);
    }
    let user = find_user(&args.user)?;
    let layout = Layout::detect().map_err(io("read", Path::new("/proc/self/mountinfo")))?;
    let hierarchies = layout.used();
    if hierarchies.is_empty() {
        return Err(DelegateError::NoCgroups);
    }
    if hierarchies.iter().any(|h| h.version == Version::V2) {
        return Err(DelegateError::V2);
    }
    let relative = user_parent(&args.cgroup_parent, user.uid);
    let dirs: Vec<PathBuf> = hierarchies.iter().map(|h| h.mount.join(&relative)).collect();
    // Written down before anything is made, as every host object of tincan's.
    let record = Record { user: user.name.clone(), dirs: dirs.clone() };
    write_record(user.uid, &record)?;
    for (hierarchy, dir) in hierarchies.iter().zip(&dirs) {
        make(hierarchy, &args.cgroup_parent, dir)?;
        hand_over(hierarchy.version, dir, user.uid, user.gid)?;
    }
    Ok(format!(
        "{name}'s containers now get their cgroups under {relative} ({count} hierarchies, such as {first}), so their limits work without root; `ch09 delegate --remove{parent} {name}` undoes it (and so does a reboot)",
        name = user.name,
        parent = parent_flag(&args.cgroup_parent),
        relative = relative.display(),
        count = dirs.len(),
        first = dirs[0].display(),
    ))
}
// ANCHOR_END: delegate

/// Make the directories down to `dir`. On v2, a directory hands our controllers
/// down to its children (so that the user's cgroups can have limits).
fn make(hierarchy: &Hierarchy, parent: &Path, dir: &Path) -> Result<(), DelegateError> {
    let mut path = hierarchy.mount.clone();
    for component in parent.components() {
        path.push(component);
        make_one(hierarchy, &path)?;
    }
    make_one(hierarchy, dir)
}

fn make_one(hierarchy: &Hierarchy, path: &Path) -> Result<(), DelegateError> {
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("create the cgroup", path)(e)),
    }
    if hierarchy.version == Version::V2 {
        enable_controllers(path).map_err(|e| DelegateError::Io {
            action: "enable controllers in",
            path: path.to_owned(),
            source: std::io::Error::from_raw_os_error(e.errno() as i32),
        })?;
    }
    Ok(())
}

// ANCHOR: hand_over
/// `chown` the cgroup and the files that move processes (and, on v2, hand
/// controllers down) to the user. The limit files stay root's: what root
/// writes in this cgroup binds everything the user makes below it.
fn hand_over(version: Version, dir: &Path, uid: Uid, gid: Gid) -> Result<(), DelegateError> {
    let files: &[&str] = match version {
        Version::V1 => &["", "cgroup.procs", "tasks"],
        Version::V2 => &["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"],
    };
    for file in files {
        let path = if file.is_empty() { dir.to_owned() } else { dir.join(file) };
        chown(&path, Some(uid), Some(gid)).map_err(|e| io("give away", &path)(e.into()))?;
    }
    Ok(())
}
// ANCHOR_END: hand_over

/// `--remove`: remove the user's cgroups (empty once their containers have
/// ended), then tincan's parents that nothing else uses.
fn remove(args: &DelegateArgs) -> Result<String, DelegateError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(DelegateError::NotRoot);
    }
    let user = find_user(&args.user)?;
    let path = record_path(user.uid);
    let record: Record = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io("read", &path)(std::io::Error::other(e)))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DelegateError::NothingDelegated(user.name));
        }
        Err(e) => return Err(io("read", &path)(e)),
    };
    let layout = Layout::detect().map_err(io("read", Path::new("/proc/self/mountinfo")))?;
    for dir in &record.dirs {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                return Err(DelegateError::InUse { user: record.user, path: dir.clone() });
            }
            Err(e) => return Err(io("remove the cgroup", dir)(e)),
        }
        // tincan's parents go once empty, as after its containers (chapter 7).
        let root = layout.hierarchies.iter().map(|h| &h.mount).find(|m| dir.starts_with(m));
        let mut parent = dir.parent();
        while let Some(p) = parent.filter(|p| root.is_some_and(|r| p.starts_with(r) && p != r)) {
            if fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
    }
    fs::remove_file(&path).map_err(io("remove", &path))?;
    Ok(format!("took back the cgroups delegated to {}", record.user))
}

fn write_record(uid: Uid, record: &Record) -> Result<(), DelegateError> {
    let path = record_path(uid);
    let dir = path.parent().expect("in the state directory");
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    fs::write(&path, json).map_err(io("write", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_cgroups_go_under_tincans_by_number() {
        let parent = user_parent(Path::new("tincan"), Uid::from_raw(1000));
        assert_eq!(parent, Path::new("tincan/user-1000"));
    }

    #[test]
    fn only_a_directory_the_user_owns_counts_as_delegated() {
        let dir = tempfile::tempdir().unwrap();
        let me = nix::unistd::geteuid();
        let hierarchy = |name: &str| Hierarchy {
            version: Version::V1,
            mount: dir.path().join(name),
            controllers: vec![name.to_owned()],
        };
        let layout = Layout { hierarchies: vec![hierarchy("memory"), hierarchy("pids")] };
        fs::create_dir_all(dir.path().join("memory").join(user_parent(Path::new("tincan"), me)))
            .unwrap();
        let found = delegated(&layout, Path::new("tincan"), me);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].controllers, ["memory"]);
        let other = Uid::from_raw(me.as_raw() + 1);
        assert!(delegated(&layout, Path::new("tincan"), other).is_empty());
    }
}
