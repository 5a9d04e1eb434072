//! `ch10 run`: chapter 9's container, hardened.

use caps::{CapSet, CapsHashSet};
use ch00_process::{Container, Plan, state_root};
use ch07_cgroups::CgroupOptions;
use ch08_images::run::Prepared;
use ch09_user::run::UserOptions;
use nix::sched::CloneFlags;

use crate::capabilities::{BoundingSet, CapName, Capabilities, SetCapabilities, parse_cap, tweak};
use crate::devices::DeviceAccess;
use crate::no_new_privs::NoNewPrivs;
use crate::paths::{MaskedPaths, ReadOnlyPaths};
use crate::ping_group::PingGroupRange;
use crate::read_only_root::ReadOnlyRoot;
use crate::seccomp::{Cache, Choice};
use crate::syscall_filter::Seccomp;

/// Chapter 10's own `run` options, beside chapter 9's.
#[derive(clap::Args, Debug, Default)]
pub struct HardenOptions {
    #[command(flatten)]
    pub user: UserOptions,

    /// Add a capability to the default set (Docker's but NET_RAW): NET_RAW,
    /// NET_ADMIN, CAP_SYS_TIME, ...
    /// or ALL (repeatable).
    #[arg(long, value_name = "CAP", value_parser = parse_cap_option)]
    pub cap_add: Vec<CapName>,

    /// Drop a capability from the default set, or ALL (repeatable).
    #[arg(long, value_name = "CAP", value_parser = parse_cap_option)]
    pub cap_drop: Vec<CapName>,

    /// seccomp=PROFILE.json: filter system calls with this profile instead of
    /// Docker's default; seccomp=unconfined: no filter.
    #[arg(long, value_name = "seccomp=PROFILE.json|unconfined", value_parser = parse_security_opt)]
    pub security_opt: Vec<Choice>,

    /// Mount the container's root file system read-only.
    #[arg(long)]
    pub read_only: bool,
}

fn parse_cap_option(text: &str) -> Result<CapName, String> {
    parse_cap(text).map_err(|e| e.to_string())
}

/// `--security-opt`: only `seccomp=...` (tincan always sets no_new_privs, and
/// has no AppArmor or SELinux labels).
fn parse_security_opt(text: &str) -> Result<Choice, String> {
    match text.split_once(['=', ':']) {
        Some(("seccomp", value)) => value.parse(),
        _ => Err(format!(
            "tincan knows --security-opt seccomp=PROFILE.json and seccomp=unconfined, not {text:?}"
        )),
    }
}

/// The capabilities `kept` that tincan itself holds: it cannot give what it
/// has not got (our machines' root lacks `CAP_SYS_RESOURCE`). `--cap-add ALL`
/// means all it can give; a capability added by name that it lacks is an error.
fn within_reach(kept: CapsHashSet, added: &[CapName]) -> Result<CapsHashSet, String> {
    let held = caps::read(None, CapSet::Permitted)
        .map_err(|e| format!("read tincan's own capabilities: {e}"))?;
    for added in added {
        if let CapName::One(cap) = added
            && !held.contains(cap)
        {
            return Err(format!(
                "--cap-add {cap}: tincan does not hold {cap} itself, so it cannot give it (run it with that capability)"
            ));
        }
    }
    Ok(kept.intersection(&held).copied().collect())
}

// ANCHOR: plan
/// Chapter 10's plan: chapter 9's, with runc's masked and read-only paths once
/// `/proc` and `/sys` are there (ping allowed just before, in a network
/// namespace of the container's own), the root made read-only if asked, and around
/// chapter 8's user switch — the last step so far — the capabilities;
/// then `no_new_privs`, and the seccomp filter, last of all.
pub fn plan(
    options: &CgroupOptions,
    harden: &HardenOptions,
    container: &mut Container,
    prepared: Prepared,
) -> Result<Plan, String> {
    let mut plan = ch09_user::run::plan(options, &harden.user, container, prepared)?
        // Once /proc, /sys and /dev are there, whichever way chapter 9 mounted them.
        .insert_before("cgroup namespace", ReadOnlyPaths::defaults())
        .insert_before("cgroup namespace", MaskedPaths::defaults());
    // Only root can make a cgroup (a user without root has the host's devices
    // bound, and no way to open a disk in any case). First: on v1 its clean-up
    // then runs after chapter 7's, once the container's processes are gone.
    // Without CAP_NET_RAW, ping needs a ping socket: allowed in a network
    // namespace of its own, written before /proc/sys turns read-only. Never in
    // the host's (`--net host`).
    if plan.namespaces.contains(CloneFlags::CLONE_NEWNET) {
        plan = plan.insert_before("read-only paths", PingGroupRange);
    }
    if nix::unistd::geteuid().is_root() {
        plan = plan.first(DeviceAccess::new(options.cgroup_parent.clone()));
    }
    if harden.read_only {
        plan = plan.insert_before("user", ReadOnlyRoot);
    }

    let mut kept = tweak(&harden.cap_add, &harden.cap_drop);
    // In a user namespace of its own the container's root holds every
    // capability there, whatever tincan holds here; otherwise only what we hold.
    if !plan.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        kept = within_reach(kept, &harden.cap_add)?;
    }
    let caps = Capabilities::from_list(kept);
    // Compiled here, in the runtime, before clone(2): for the capabilities the
    // container may ever hold (moby decides a profile's `includes.caps` by the
    // bounding set too). Kept in the state directory: libseccomp takes ~10 ms.
    let choice = harden.security_opt.last().cloned().unwrap_or_default();
    // The state directory first, as the runtime makes it: the cache makes what
    // it lacks private (0700), and the container's /etc files are below it.
    let state = state_root();
    std::fs::create_dir_all(&state).map_err(|e| format!("create {}: {e}", state.display()))?;
    let cache = Cache::new(state.join("seccomp"));
    let program = choice.program(&caps.bounding, &cache).map_err(|e| e.to_string())?;

    plan = plan
        .insert_before("user", BoundingSet::new(&caps)?)
        .insert_after("user", SetCapabilities::new(caps))
        .then(NoNewPrivs);
    if let Some(program) = program {
        plan = plan.then(Seccomp::new(program));
    }
    Ok(plan)
}
// ANCHOR_END: plan

/// A plan with every step chapter 10 has, for cleaning up after dead runtimes.
pub fn sweep_plan() -> Plan {
    let parent = CgroupOptions::default().cgroup_parent;
    ch09_user::run::sweep_plan().first(DeviceAccess::new(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order this chapter is about: paths before the cgroup namespace;
    /// around the user switch the capabilities; no_new_privs, then seccomp, last.
    #[test]
    fn the_hardening_comes_in_runcs_order() {
        // Unconfined: no profile to read, no program to compile and cache.
        let security_opt = vec![Choice::Unconfined];
        let harden = HardenOptions { read_only: true, security_opt, ..HardenOptions::default() };
        let mut container = Container::new("/", vec![]);
        let plan = plan(&CgroupOptions::default(), &harden, &mut container, Prepared::default());
        let names = plan.expect("a plan").step_names();
        let tail = &names[names.len() - 8..];
        assert_eq!(
            tail,
            &[
                "read-only paths",
                "masked paths",
                "cgroup namespace",
                "read-only root",
                "capability bounding set",
                "user",
                "capabilities",
                "no_new_privs",
            ][..],
            "{names:?}"
        );
    }

    #[test]
    fn security_opt_takes_seccomp_only() {
        assert_eq!(parse_security_opt("seccomp=unconfined"), Ok(Choice::Unconfined));
        assert_eq!(parse_security_opt("seccomp=/p.json"), Ok(Choice::File("/p.json".into())));
        let error = parse_security_opt("apparmor=unconfined").unwrap_err();
        assert!(error.contains("seccomp=PROFILE.json"), "{error}");
        assert!(parse_security_opt("seccomp=").is_err());
    }
}
