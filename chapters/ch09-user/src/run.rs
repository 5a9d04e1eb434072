//! `ch09 run`: chapter 8's container, in a user namespace when asked for one
//! (`--userns`, `--uidmap`, `--gidmap`), or always when run by a user who is
//! not root.

use std::rc::Rc;

use ch00_process::{Container, Plan};
use ch03_mount::{BindDev, CloneHostDevices, HostDevices};
use ch06_net::Network;
use ch07_cgroups::CgroupOptions;
use ch08_images::overlay::Overlay;
use ch08_images::run::Prepared;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid, User};

use crate::early::{EarlyProc, EarlySys};
use crate::idmap::{IdMap, IdRange, Kind};
use crate::layers::UserOverlay;
use crate::subid::{self, REMAP_USER, SUBGID, SUBUID};
use crate::userns::{UserNamespace, Writer};

/// Chapter 9's own `run` options.
#[derive(clap::Args, Debug, Default)]
pub struct UserOptions {
    /// Run in a user namespace whose root is an unprivileged range of the
    /// host: the subordinate IDs of the user `tincan` in /etc/subuid and
    /// /etc/subgid.
    #[arg(long, conflicts_with_all = ["uidmap", "gidmap"])]
    pub userns: bool,

    /// Map the container's user IDs from CONTAINER to the host's from HOST,
    /// COUNT of them (repeatable): 0:100000:65536.
    #[arg(long, value_name = "CONTAINER:HOST:COUNT", value_parser = IdRange::parse)]
    pub uidmap: Vec<IdRange>,

    /// The same for group IDs [default: as --uidmap].
    #[arg(long, value_name = "CONTAINER:HOST:COUNT", value_parser = IdRange::parse)]
    pub gidmap: Vec<IdRange>,
}

// ANCHOR: choose
/// The user namespace the options ask for, if any. Root gets one only when
/// asked; anyone else always, since only in a user namespace of its own can an
/// unprivileged user mount, or be root.
pub fn user_namespace(options: &UserOptions) -> Result<Option<UserNamespace>, String> {
    let (uid, gid) = (Uid::effective(), Gid::effective());
    let explicit = !options.uidmap.is_empty() || !options.gidmap.is_empty();
    let maps = |uids: Vec<IdRange>, gids: Vec<IdRange>, writer| -> Result<_, String> {
        // The map the user gave is checked first, so that an error names its option.
        let gids_first = options.uidmap.is_empty() && !options.gidmap.is_empty();
        let group = |gids| IdMap::new(Kind::Group, gids).map_err(|e| e.to_string());
        let early = if gids_first { Some(group(gids.clone())?) } else { None };
        let uids = IdMap::new(Kind::User, uids).map_err(|e| e.to_string())?;
        let gids = match early {
            Some(gids) => gids,
            None => group(gids)?,
        };
        Ok(Some(UserNamespace { uids, gids, writer }))
    };
    if explicit {
        // podman's rule: without --gidmap, groups map as users do (and the other way).
        let uids = if options.uidmap.is_empty() { &options.gidmap } else { &options.uidmap };
        let gids = if options.gidmap.is_empty() { &options.uidmap } else { &options.gidmap };
        let writer = if uid.is_root() { Writer::Direct } else { Writer::Helpers };
        return maps(uids.clone(), gids.clone(), writer);
    }
    if !uid.is_root() {
        return rootless(uid, gid).map(Some);
    }
    if !options.userns {
        return Ok(None);
    }
    let read = |file: &str| {
        let found = subid::ranges(file.as_ref(), REMAP_USER, None);
        let ranges = found.map_err(|e| format!("--userns: reading {file}: {e}"))?;
        if ranges.is_empty() {
            return Err(format!(
                "--userns maps the container into the subordinate IDs of the user {REMAP_USER}, and {file} gives it none: \
                 add a range (as root: `useradd --system {REMAP_USER}; usermod --add-subuids 1000000-1065535 \
                 --add-subgids 1000000-1065535 {REMAP_USER}`), or give --uidmap and --gidmap"
            ));
        }
        Ok(subid::from_zero(&ranges, 0))
    };
    maps(read(SUBUID)?, read(SUBGID)?, Writer::Direct)
}
// ANCHOR_END: choose

/// An unprivileged user's maps: its own IDs are the container's root; the
/// ranges `/etc/subuid` and `/etc/subgid` give it follow from 1, written by
/// `newuidmap` and `newgidmap` when they are installed. Without them (or
/// without ranges) the container has one user and one group: root.
fn rootless(uid: Uid, gid: Gid) -> Result<UserNamespace, String> {
    let name = User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_default();
    let own = |id: u32| vec![IdRange { inside: 0, outside: id, count: 1 }];
    let sub =
        |file: &str| subid::ranges(file.as_ref(), &name, Some(uid.as_raw())).unwrap_or_default();
    let (subuids, subgids) = (sub(SUBUID), sub(SUBGID));
    let helpers = ["newuidmap", "newgidmap"].iter().all(|p| on_path(p));
    let (mut uids, mut gids) = (own(uid.as_raw()), own(gid.as_raw()));
    let writer = if helpers && !subuids.is_empty() && !subgids.is_empty() {
        uids.extend(subid::from_zero(&subuids, 1));
        gids.extend(subid::from_zero(&subgids, 1));
        Writer::Helpers
    } else {
        Writer::SingleId
    };
    let uids = IdMap::new(Kind::User, uids).map_err(|e| format!("{SUBUID}: {e}"))?;
    let gids = IdMap::new(Kind::Group, gids).map_err(|e| format!("{SUBGID}: {e}"))?;
    Ok(UserNamespace { uids, gids, writer })
}

/// Is `program` in one of `$PATH`'s directories?
pub(crate) fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| ch00_process::DEFAULT_PATH.into());
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

// ANCHOR: plan
/// Chapter 9's plan: chapter 8's, and in a user namespace when there is one:
/// its maps written and its root taken on before any other step; the layers
/// idmapped; `/proc` and `/sys` mounted while the host's are in view; the
/// host's devices bound instead of made.
pub fn plan(
    options: &CgroupOptions,
    user: &UserOptions,
    _container: &mut Container,
    mut prepared: Prepared,
) -> Result<Plan, String> {
    let Some(userns) = user_namespace(user)? else {
        return Ok(ch08_images::run::plan(options, prepared));
    };
    if matches!(options.net.net, Network::Host) {
        return Err("--net host and a user namespace: the container's root may not mount /sys for the host's network (use --net none or bridge)".to_owned());
    }
    let root = (userns.uids.root(), userns.gids.root());
    let overlay =
        Overlay::new(prepared.lowers.clone(), prepared.keep).holding(prepared.store_lock.take());
    // Only the host's root may make idmapped mounts; a user's layers are its own.
    let idmap = userns.writer == Writer::Direct;
    let overlay = UserOverlay::new(overlay, prepared.lowers.clone(), root, idmap);
    let devices = Rc::new(HostDevices::default());
    Ok(ch08_images::run::plan(options, prepared)
        .with_namespace(CloneFlags::CLONE_NEWUSER)
        .first(userns)
        .replace("overlay", vec![Box::new(overlay)])
        .replace("mount /proc", vec![])
        .replace("mount /sys", vec![])
        .insert_before("pivot_root", EarlyProc)
        .insert_before("pivot_root", EarlySys)
        .insert_before("pivot_root", CloneHostDevices(devices.clone()))
        .replace("mount /dev", vec![Box::new(BindDev(devices))]))
}
// ANCHOR_END: plan

/// A plan with every step chapter 9 has, for cleaning up after dead runtimes.
pub fn sweep_plan() -> Plan {
    ch08_images::run::plan(&CgroupOptions::default(), Prepared::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_maps() -> UserOptions {
        UserOptions {
            uidmap: vec![IdRange::parse("0:100000:65536").unwrap()],
            ..Default::default()
        }
    }

    fn names(options: &CgroupOptions, user: &UserOptions) -> Vec<&'static str> {
        let mut container = Container::new("/nowhere", vec![]);
        let plan = super::plan(options, user, &mut container, Prepared::default()).unwrap();
        plan.step_names()
    }

    #[test]
    fn the_user_namespace_comes_first_and_proc_sys_and_devices_before_pivot_root() {
        let names = names(&CgroupOptions::default(), &with_maps());
        assert_eq!(names[..2], ["user namespace", "cgroup"]);
        let at = |name| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name}"));
        for early in ["mount /proc", "mount /sys", "clone the host's devices", "overlay"] {
            assert!(at(early) < at("pivot_root"), "{early}: {names:?}");
        }
        assert!(at("mount /dev") > at("pivot_root"));
        assert_eq!(names.iter().filter(|n| **n == "mount /proc").count(), 1);
    }

    #[test]
    fn without_maps_root_gets_chapter_8s_plan_and_anyone_else_a_user_namespace() {
        let plain = names(&CgroupOptions::default(), &UserOptions::default());
        if Uid::effective().is_root() {
            let ch08 = ch08_images::run::plan(&CgroupOptions::default(), Prepared::default());
            assert_eq!(plain, ch08.step_names());
        } else {
            assert_eq!(plain[0], "user namespace");
        }
    }

    #[test]
    fn the_host_s_network_is_refused_with_a_user_namespace() {
        let mut options = CgroupOptions::default();
        options.net.net = Network::Host;
        let mut container = Container::new("/nowhere", vec![]);
        let error =
            super::plan(&options, &with_maps(), &mut container, Prepared::default()).err().unwrap();
        assert!(error.starts_with("--net host and a user namespace"), "{error}");
    }
}
