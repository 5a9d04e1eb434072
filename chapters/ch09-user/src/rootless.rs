//! What changes in the plan when the runtime is not root.
//!
//! A user namespace makes the container's processes root *inside*: they may
//! mount, make namespaces, change their own hostname. Outside, they stay the
//! user who ran `ch09`, and so does the runtime: whatever it would make on the
//! host with root's powers, it cannot. Three steps of earlier chapters need it:
//!
//! - **The bridge** (chapter 6): interfaces and firewall rules of the host.
//!   A user gets a user-mode network instead (`slirp.rs`), and `--net bridge`
//!   says so at once, instead of failing half-way with "Operation not permitted".
//! - **The cgroup** (chapter 7): the cgroup tree is root's. With a cgroup that
//!   root delegated to the user once (`ch09 delegate`, `delegate.rs`), the
//!   container's cgroup goes there and every limit works. Without one, a
//!   container that asks for no limit runs without a cgroup of its own; one that
//!   asks for a limit is refused, with what to run.
//! - **The idmapped layers** (`layers.rs`): only the host's root may idmap a
//!   mount. A user's layers are its own files (a directory it made, or layers
//!   it unpacked itself), so they need no mapping: the child stacks the
//!   overlay on them directly, inside the user namespace (`layers.rs`'s
//!   `UserOverlay`, unmapped). What the container wrote there may belong to
//!   its other users, which are not ours outside: the clean-up removes it as
//!   the container's root (`remove_as_container_root`).

use std::path::Path;

use ch00_process::{Plan, StepError};
use ch06_net::Network;
use ch07_cgroups::{CgroupOptions, JoinCgroup, Layout, Version};
use ch08_images::overlay::Overlay;
use nix::errno::Errno;
use nix::unistd::Uid;

use crate::delegate::{delegated, user_parent};
use crate::layers::UserOverlay;

// ANCHOR: adapt
/// Chapter 8's `plan` with what a user cannot do replaced (unchanged for root).
/// An error is one line: what cannot work, and what to do instead.
pub fn adapt(plan: Plan, options: &CgroupOptions) -> Result<Plan, String> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Ok(plan);
    }
    if options.net.net == Network::Bridge {
        return Err(
            "--net bridge needs root: a bridge, its cables and its firewall rules are the host's; without root use --net slirp4netns (a user-mode network, the default) or --net none"
                .to_owned(),
        );
    }
    let layout = Layout::detect().map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
    match cgroup(options, &layout, uid)? {
        Some(join) => Ok(plan.replace("cgroup", vec![Box::new(join)])),
        // No limit asked for, none delegated: the container runs in the
        // runtime's own cgroup, as any program the user starts.
        None => Ok(plan.replace("cgroup", vec![])),
    }
}

/// `rm -rf DIR` as root of a user namespace that maps our own ID to 0 and our
/// subordinate ranges after it (`unshare --map-auto`, which asks newuidmap), or
/// our own ID alone when we have no ranges.
pub(crate) fn remove_as_container_root(dir: &Path) -> Result<(), StepError> {
    let rm = |maps: &[&str]| {
        std::process::Command::new("unshare")
            .args(maps)
            .args(["rm", "-rf", "--"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if rm(&["--map-root-user", "--map-auto"]) || rm(&["--map-root-user"]) {
        return Ok(());
    }
    Err(StepError::new(format!("remove {}", dir.display()), Errno::EACCES).hint(format!(
        "files of the container's own users are in it: remove it with `unshare --map-root-user --map-auto rm -rf {}`",
        dir.display()
    )))
}
// ANCHOR_END: adapt

/// The clean-up's plan (after runtimes that died): a user's overlay is taken
/// down as a user's, and any container may have had a user-mode network.
pub fn for_sweep(plan: Plan) -> Plan {
    let plan = crate::slirp::for_sweep(plan);
    if nix::unistd::geteuid().is_root() {
        return plan;
    }
    let uid = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let overlay = UserOverlay::new(Overlay::new(Vec::new(), false), Vec::new(), uid, false);
    plan.replace("overlay", vec![Box::new(overlay)])
}

/// The user's container's cgroup step: under the user's delegated cgroup when
/// root delegated one in every hierarchy we use; none when it did not and no
/// limit is asked for; else an error that says what to run.
fn cgroup(
    options: &CgroupOptions,
    layout: &Layout,
    uid: Uid,
) -> Result<Option<JoinCgroup>, String> {
    let parent = &options.cgroup_parent;
    let used = layout.used();
    let limits = options.limits();
    // cgroup v2 lets a process move only below a cgroup it may write to *and*
    // that holds its source: the user's shell is in its login session's cgroup,
    // outside anything delegated to it here (see delegate.rs).
    if used.iter().any(|h| h.version == Version::V2) {
        let Some((_, option)) = limits.controllers().first().copied() else { return Ok(None) };
        return Err(format!(
            "{option} without root is not supported on a cgroup v2 host yet: a user's runtime would have to start inside its delegated cgroup (systemd's user@.service gives one); run with sudo, or without {option}"
        ));
    }
    let delegated = delegated(layout, parent, uid);
    if !used.is_empty() && delegated.len() == used.len() {
        let layout: Result<Layout, Errno> = Ok(layout.clone());
        return Ok(Some(JoinCgroup::new(options.limits(), user_parent(parent, uid), layout)));
    }
    let Some((_, option)) = limits.controllers().first().copied() else { return Ok(None) };
    let missing: Vec<String> = used
        .iter()
        .filter(|h| !delegated.contains(h))
        .map(|h| h.mount.join(user_parent(parent, uid)).display().to_string())
        .collect();
    Err(not_delegated(option, parent, uid, &missing))
}

/// Why a user's limit cannot work yet, and the one command root runs once.
fn not_delegated(option: &str, parent: &Path, uid: Uid, missing: &[String]) -> String {
    let name =
        nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name);
    let parent_flag = crate::delegate::parent_flag(parent);
    format!(
        "{option} needs a cgroup, and without root a container gets one only under a cgroup root delegated to you ({} is missing or not yours); root can delegate one, once, with the most all your containers may use together: `sudo ch09 delegate --memory SIZE --pids-limit N{parent_flag} {name}` — or run without {option}",
        missing.first().map_or("none", String::as_str)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_option_and_the_command_to_run() {
        let message = not_delegated(
            "--memory",
            Path::new("tincan"),
            Uid::from_raw(4_000_000),
            &["/sys/fs/cgroup/memory/tincan/user-4000000".to_owned()],
        );
        assert_eq!(
            message,
            "--memory needs a cgroup, and without root a container gets one only under a cgroup root delegated to you (/sys/fs/cgroup/memory/tincan/user-4000000 is missing or not yours); root can delegate one, once, with the most all your containers may use together: `sudo ch09 delegate --memory SIZE --pids-limit N 4000000` — or run without --memory"
        );
    }
}
