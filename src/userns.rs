//! `linux.uidMappings` and `gidMappings`: a user namespace, chapter 9's.
//!
//! The container's root is then an unprivileged ID outside. As chapter 9
//! does for `ch09 run --uidmap`, the runtime writes the maps from outside
//! (it is root), the child becomes root of the namespace, and what a user
//! namespace may not do is done otherwise: `/proc` and `/sys` are mounted
//! before `pivot_root` (the kernel wants a visible one of each), and `/dev`'s
//! nodes are the host's, bound, as `mknod` is refused. The bundle's root file
//! system must belong to the mapped IDs — the engine's work, as with runc.

use std::rc::Rc;

use ch00_process::Plan;
use ch03_mount::{BindDev, CloneHostDevices, HostDevices};
use ch09_user::idmap::{IdMap, IdRange, Kind};
use ch09_user::userns::{UserNamespace, Writer};
use ch09_user::{EarlyProc, EarlySys};
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::bundle::BundleError;

/// `plan` in a user namespace with the config's maps; `plan` as it is if the
/// config has none. `joined`: the namespace exists already (a path), and
/// the child is born in it; its maps are only checked.
pub fn apply(plan: Plan, linux: &Linux, joined: bool) -> Result<Plan, BundleError> {
    let (uids, gids) = match (linux.uid_mappings(), linux.gid_mappings()) {
        (None, None) => return Ok(plan),
        (Some(uids), Some(gids)) => (uids, gids),
        _ => {
            return Err(BundleError::Unsupported(
                "linux.uidMappings without gidMappings, or the other way".into(),
            ));
        }
    };
    let map = |kind, field: &str, given: &[LinuxIdMapping]| {
        let ranges = given
            .iter()
            .map(|m| IdRange { inside: m.container_id(), outside: m.host_id(), count: m.size() })
            .collect();
        let map =
            IdMap::new(kind, ranges).map_err(|e| BundleError::Host(format!("{field}: {e}")))?;
        map.refuse_host_root().map_err(|e| BundleError::Host(format!("{field}: {e}")))?;
        Ok::<_, BundleError>(map)
    };
    let userns = UserNamespace {
        uids: map(Kind::User, "linux.uidMappings", uids)?,
        gids: map(Kind::Group, "linux.gidMappings", gids)?,
        writer: if joined { Writer::Joined } else { Writer::Direct },
    };
    let devices = Rc::new(HostDevices::default());
    let plan = if joined { plan } else { plan.with_namespace(CloneFlags::CLONE_NEWUSER) };
    Ok(plan
        .first(userns)
        .replace("mount /proc", vec![])
        .replace("mount /sys", vec![])
        .insert_before("pivot_root", EarlyProc)
        .insert_before("pivot_root", EarlySys)
        .insert_before("pivot_root", CloneHostDevices(devices.clone()))
        .replace("mount /dev", vec![Box::new(BindDev(devices))]))
}
