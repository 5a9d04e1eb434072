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
//! echo 4G > /sys/fs/cgroup/memory/tincan/user-1000/memory.limit_in_bytes   # root's (see below)
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
//! **On cgroup v1, delegation is weaker**, and systemd says so: it delegates
//! controllers to unprivileged code only on v2, "only safe on the unified
//! control group hierarchy" (`man 5 systemd.resource-control`, `Delegate=`).
//! Without v2's common-ancestor rule, a user who owns `user-UID/cgroup.procs`
//! can move *any* of its processes there — out of every limit root set for
//! them elsewhere, such as systemd's `TasksMax` on the user's
//! `user-UID.slice` in the v1 pids hierarchy. So on v1 the delegated cgroup
//! must itself be a limit: `--memory` and `--pids-limit` (and `--cpus`, if
//! you want one) are written by root into `user-UID` before it is handed over,
//! and they stay root's files. They are required, not defaulted: they are
//! what the user's containers *and* any process the user moves there may use
//! together, and only root knows what this host can give. Choose them as you
//! would the user's own limits.
//!
//! A user's containers then go under `PARENT/user-UID` (PARENT is
//! `--cgroup-parent`, `tincan` by default; a relative path of names, checked as
//! chapter 7 checks it): see `rootless.rs`. Every cgroup this command makes is
//! recorded (`STATE/delegated/UID.json`) before it is made, and `--remove`
//! removes exactly those, no other: a parent that existed before stays. A
//! second `delegate` for the same user and parent sets the limits again; under
//! another parent it is refused until the first is taken back. Cgroups live in
//! memory: a reboot undoes it too.
//!
//! The kernel's `Documentation/admin-guide/cgroup-v2.rst`, "Delegation";
//! `man 7 cgroups`, "Cgroups version 2 delegation".

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ch07_cgroups::{
    Bytes, DEFAULT_PARENT, Hierarchy, Layout, Limits, Version, enable_controllers, parse_cpus,
    parse_parent, parse_size,
};
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
    #[error("the host has no {0} controller, which {1} needs (is it mounted? see /proc/cgroups)")]
    NoController(&'static str, &'static str),
    #[error("{0}")]
    Limits(#[from] ch07_cgroups::LimitsError),
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
    #[error(
        "{user} already has cgroups delegated under {parent}: take them back first (`ch09 delegate --remove {user}`), then delegate under the other parent",
        parent = .parent.display()
    )]
    DelegatedElsewhere { user: String, parent: PathBuf },
    #[error(
        "{path} exists, and tincan did not make it (its record {record} does not list it): if it is a leftover, remove it with rmdir; or choose another --cgroup-parent",
        path = .path.display(), record = .record.display()
    )]
    NotOurs { path: PathBuf, record: PathBuf },
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
    /// The most memory the user's containers may use together (and any
    /// process the user moves into its cgroup): 512m, 4g.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, required_unless_present = "remove", conflicts_with = "remove")]
    memory: Option<u64>,
    /// The most processes and threads they may have together.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), required_unless_present = "remove", conflicts_with = "remove")]
    pids_limit: Option<u64>,
    /// CPU time for them together, in CPUs (none if not given).
    #[arg(long, value_name = "FRACTION", value_parser = parse_cpus, conflicts_with = "remove")]
    cpus: Option<f64>,
    /// tincan's cgroup that the user's goes in (as `run --cgroup-parent`).
    #[arg(long, value_name = "PATH", env = "TINCAN_CGROUP_PARENT", default_value = DEFAULT_PARENT, value_parser = parse_parent)]
    cgroup_parent: PathBuf,
}

impl DelegateArgs {
    /// The limits root writes into the user's cgroup.
    fn limits(&self) -> Limits {
        Limits { memory: self.memory, pids: self.pids_limit, cpus: self.cpus, ..Limits::default() }
    }
}

/// What a delegation made, each directory recorded before it is made.
#[derive(Serialize, Deserialize, Debug, Default)]
struct Record {
    user: String,
    /// `--cgroup-parent`, as given.
    parent: PathBuf,
    /// The user's cgroups, `PARENT/user-UID` in each hierarchy.
    dirs: Vec<PathBuf>,
    /// The parents that did not exist yet, in the order they were made.
    parents: Vec<PathBuf>,
}

/// Which of a record's lists a directory goes in.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Parent,
    Users,
}

impl Record {
    fn list(&mut self, kind: Kind) -> &mut Vec<PathBuf> {
        match kind {
            Kind::Parent => &mut self.parents,
            Kind::Users => &mut self.dirs,
        }
    }
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
    let done = if !nix::unistd::geteuid().is_root() {
        Err(DelegateError::NotRoot)
    } else if args.remove {
        find_user(&args.user).and_then(|user| remove(&user))
    } else {
        let layout = Layout::detect().map_err(io("read", Path::new("/proc/self/mountinfo")));
        find_user(&args.user).and_then(|user| delegate(&args, &user, &layout?))
    };
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
/// Make `PARENT/user-UID` in every hierarchy tincan uses, limit it, and give
/// it to the user.
fn delegate(args: &DelegateArgs, user: &User, layout: &Layout) -> Result<String, DelegateError> {
    let hierarchies = layout.used();
    if hierarchies.is_empty() {
        return Err(DelegateError::NoCgroups);
    }
    if hierarchies.iter().any(|h| h.version == Version::V2) {
        return Err(DelegateError::V2);
    }
    let limits = args.limits();
    limits.check()?;
    for (controller, option) in limits.controllers() {
        if layout.find(controller).is_none() {
            return Err(DelegateError::NoController(controller.name(Version::V2), option));
        }
    }
    let mut record = match read_record(user.uid)? {
        Some(record) if record.parent != args.cgroup_parent => {
            return Err(DelegateError::DelegatedElsewhere {
                user: user.name.clone(),
                parent: record.parent,
            });
        }
        Some(record) => record,
        None => Record {
            user: user.name.clone(),
            parent: args.cgroup_parent.clone(),
            ..Record::default()
        },
    };
    let relative = user_parent(&args.cgroup_parent, user.uid);
    let dirs: Vec<PathBuf> = hierarchies.iter().map(|h| h.mount.join(&relative)).collect();
    for (hierarchy, dir) in hierarchies.iter().zip(&dirs) {
        make(hierarchy, &args.cgroup_parent, dir, &mut record, user.uid)?;
        // Root's limits first, while the cgroup is still root's alone.
        apply(hierarchy, dir, &limits)?;
        hand_over(hierarchy.version, dir, user.uid, user.gid)?;
    }
    let cpus = args.cpus.map_or(String::new(), |c| format!(", {c} CPUs"));
    Ok(format!(
        "{name}'s containers now get their cgroups under {relative} ({count} hierarchies, such as {first}), so their limits work without root; together they may use {memory}, {pids} processes{cpus}; `ch09 delegate --remove {name}` undoes it (and so does a reboot)",
        name = user.name,
        relative = relative.display(),
        count = dirs.len(),
        first = dirs[0].display(),
        memory = Bytes(args.memory.unwrap_or_default()),
        pids = args.pids_limit.unwrap_or_default(),
    ))
}
// ANCHOR_END: delegate

/// Make the directories down to `dir`. On v2, a directory hands our controllers
/// down to its children (so that the user's cgroups can have limits).
fn make(
    hierarchy: &Hierarchy,
    parent: &Path,
    dir: &Path,
    record: &mut Record,
    uid: Uid,
) -> Result<(), DelegateError> {
    let mut path = hierarchy.mount.clone();
    for component in parent.components() {
        path.push(component);
        make_one(hierarchy, &path, Kind::Parent, record, uid)?;
    }
    make_one(hierarchy, dir, Kind::Users, record, uid)
}

/// Make one directory, written in the record first. One that exists is fine
/// as a parent (it stays when the delegation is taken back); as the user's
/// own cgroup, only if we made it (a second `delegate`).
fn make_one(
    hierarchy: &Hierarchy,
    path: &Path,
    kind: Kind,
    record: &mut Record,
    uid: Uid,
) -> Result<(), DelegateError> {
    let ours = record.list(kind).iter().any(|p| p == path);
    if !ours {
        record.list(kind).push(path.to_owned());
        write_record(uid, record)?;
    }
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && ours => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            record.list(kind).pop();
            write_record(uid, record)?;
            if kind == Kind::Users {
                return Err(DelegateError::NotOurs {
                    path: path.to_owned(),
                    record: record_path(uid),
                });
            }
        }
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

/// Write root's limits into the user's cgroup in `hierarchy`, in that
/// version's files (chapter 7's `limits.rs`).
fn apply(hierarchy: &Hierarchy, dir: &Path, limits: &Limits) -> Result<(), DelegateError> {
    let settings = limits.settings(hierarchy.version);
    for setting in settings.iter().filter(|s| hierarchy.has(s.controller)) {
        let file = setting
            .files
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| dir.join(setting.files[0]));
        fs::write(&file, &setting.value).map_err(io("write a limit into", &file))?;
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
/// ended), then the parents this delegation made, if nothing else uses them
/// now — and nothing it did not make.
fn remove(user: &User) -> Result<String, DelegateError> {
    let Some(mut record) = read_record(user.uid)? else {
        return Err(DelegateError::NothingDelegated(user.name.clone()));
    };
    while let Some(dir) = record.dirs.last().cloned() {
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if in_use(&e) => {
                // What is gone is no longer in the record; the rest is, for next time.
                write_record(user.uid, &record)?;
                return Err(DelegateError::InUse { user: record.user, path: dir });
            }
            Err(e) => return Err(io("remove the cgroup", &dir)(e)),
        }
        record.dirs.pop();
    }
    // Deepest first. A parent that holds another's cgroups now is left to
    // its last user: chapter 7 removes its parents once they are empty.
    for parent in record.parents.iter().rev() {
        match fs::remove_dir(parent) {
            Err(e) if !in_use(&e) && e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("remove the cgroup", parent)(e));
            }
            _ => {}
        }
    }
    let path = record_path(user.uid);
    fs::remove_file(&path).map_err(io("remove", &path))?;
    Ok(format!(
        "took back the cgroups delegated to {} under {}",
        record.user,
        record.parent.display()
    ))
}

/// rmdir(2) of a cgroup that holds processes or cgroups: EBUSY (cgroupfs; a
/// plain directory would say ENOTEMPTY).
fn in_use(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY))
}

/// The record of the delegation to `uid`, if there is one.
fn read_record(uid: Uid) -> Result<Option<Record>, DelegateError> {
    let path = record_path(uid);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io("read", &path)(std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", &path)(e)),
    }
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
