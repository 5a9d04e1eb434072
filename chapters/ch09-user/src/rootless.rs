//! What changes in the plan when the runtime is not root.
//!
//! A user namespace makes the container's processes root *inside*: they may
//! mount, make namespaces, change their own hostname. Outside, they stay the
//! user who ran `ch09`, and so does the runtime: whatever it would make on the
//! host with root's powers, it cannot. Two steps of earlier chapters do that:
//!
//! - **The bridge** (chapter 6): interfaces and firewall rules of the host.
//!   A user gets a user-mode network instead (`slirp.rs`), and `--net bridge`
//!   says so at once, instead of failing half-way with "Operation not permitted".
//! - **The cgroup** (chapter 7): the cgroup tree is root's. With a cgroup that
//!   root delegated to the user once (`ch09 delegate`, `delegate.rs`), the
//!   container's cgroup goes there and every limit works. Without one, a
//!   container that asks for no limit runs without a cgroup of its own; one that
//!   asks for a limit is refused, with what to run.

use std::path::Path;

use ch00_process::Plan;
use ch06_net::Network;
use ch07_cgroups::{CgroupOptions, JoinCgroup, Layout};
use nix::errno::Errno;
use nix::unistd::Uid;

use crate::delegate::{delegated, user_parent};

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
// ANCHOR_END: adapt

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
    let delegated = delegated(layout, parent, uid);
    if !used.is_empty() && delegated.len() == used.len() {
        let layout: Result<Layout, Errno> = Ok(layout.clone());
        return Ok(Some(JoinCgroup::new(options.limits(), user_parent(parent, uid), layout)));
    }
    let limits = options.limits();
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
    let parent_flag = if parent == Path::new(ch07_cgroups::DEFAULT_PARENT) {
        String::new()
    } else {
        format!(" --cgroup-parent {}", parent.display())
    };
    format!(
        "{option} needs a cgroup, and without root a container gets one only under a cgroup root delegated to you ({} is missing or not yours); root can delegate one, once: `sudo ch09 delegate{parent_flag} {name}` — or run without {option}",
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
            "--memory needs a cgroup, and without root a container gets one only under a cgroup root delegated to you (/sys/fs/cgroup/memory/tincan/user-4000000 is missing or not yours); root can delegate one, once: `sudo ch09 delegate 4000000` — or run without --memory"
        );
    }
}
