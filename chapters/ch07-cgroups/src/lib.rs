//! # Chapter 7: cgroups, limits on what a container may use
//!
//! Namespaces decide what a container can *see*. Nothing so far limits what it can
//! *use*: a container of chapter 6 can take all the host's memory until the
//! kernel's out-of-memory killer picks a victim — perhaps the host's database —
//! fork until the process table is full, or keep every CPU busy.
//!
//! **Control groups** (cgroups) are the kernel's answer. A cgroup is a directory in
//! a special file system; the processes listed in its `cgroup.procs` are in it,
//! their children are born in it, and the files beside it set limits that the
//! kernel enforces on all of them together:
//!
//! - **memory**: a hard limit; above it the kernel reclaims, then kills
//!   (`--memory`, `--memory-swap`).
//! - **cpu**: a quota of CPU time per period (`--cpus 0.5`: 50 ms in every
//!   100 ms) and a weight for sharing a busy machine (`--cpu-weight`).
//! - **pids**: a maximum number of processes and threads (`--pids-limit`): a fork
//!   bomb stops there.
//! - **io**: a weight for sharing disks (`--io-weight`).
//!
//! Two versions exist side by side. **v1** (2008) has one tree per controller;
//! **v2** (2016) has one tree for all, a rule that only leaves hold processes,
//! and safe delegation. Most machines run v2 now; some run v1, or a hybrid of both
//! (as our CI machines do). This chapter reads which the host has
//! (`hierarchy.rs`) and speaks both (`limits.rs`).
//!
//! The runtime makes the container's cgroup before the container exists, and
//! puts the container in before it runs anything: on v2 it is *born* there
//! (`clone3(2)` with `CLONE_INTO_CGROUP`), on v1 it is moved in while it still
//! waits to start (`cgroup.rs`). A **cgroup namespace** then makes that cgroup the
//! container's `/`, so `/proc/self/cgroup` and `/sys/fs/cgroup` inside show its
//! own limits, not the host's tree (`step.rs`). When the container ends, the
//! runtime reads whether the kernel killed it for memory or refused it a process,
//! says so, and removes the cgroup.
//!
//! Builds on chapter 6 ([`ch06_net::plan()`]): one more step, partly outside.
//!
//! Man pages: `man 7 cgroups`, `man 7 cgroup_namespaces`; the kernel's
//! `Documentation/admin-guide/cgroup-v2.rst`.

mod cgroup;
mod hierarchy;
mod limits;
mod step;

pub use cgroup::{Cgroup, CgroupError, enable_controllers, make_leaf};
pub use hierarchy::{Hierarchy, Layout, Mode, Version};
pub use limits::{Bytes, Controller, Limits, LimitsError, MemorySwap, parse_cpus, parse_size};
pub use step::{CgroupNamespace, JoinCgroup};

use std::path::{Component, Path, PathBuf};

use ch00_process::Plan;
use ch06_net::NetOptions;
use nix::errno::Errno;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "cgroups: limits on memory, CPU, processes and IO (v2 and v1)";

/// Where tincan's cgroups go unless `--cgroup-parent` says otherwise.
pub const DEFAULT_PARENT: &str = "tincan";

/// Chapter 7's command-line options: chapter 6's, and the limits.
#[derive(clap::Args, Debug, Clone)]
pub struct CgroupOptions {
    #[command(flatten)]
    pub net: NetOptions,

    /// Memory limit: bytes, or 512k, 64m, 1g. Past it, the kernel kills.
    #[arg(long, value_name = "SIZE", value_parser = limits::parse_size)]
    pub memory: Option<u64>,

    /// Memory plus swap, as Docker counts it (at least --memory; -1: unlimited swap).
    #[arg(long, value_name = "SIZE", value_parser = limits::parse_memory_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<MemorySwap>,

    /// CPU time, in CPUs: 0.5 is half of one CPU, 2 is two.
    #[arg(long, value_name = "FRACTION", value_parser = limits::parse_cpus)]
    pub cpus: Option<f64>,

    /// Share of the CPUs when they are busy, 1 to 10000 (default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub cpu_weight: Option<u16>,

    /// Most processes and threads the container may have at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pids_limit: Option<u64>,

    /// Share of the disks when they are busy, 1 to 10000 (default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub io_weight: Option<u16>,

    /// The cgroup, in each hierarchy, that tincan puts its containers' cgroups in.
    /// Its directories are tincan's: made when missing, removed once empty. Give
    /// one of tincan's own, not a system one (such as a systemd slice).
    #[arg(long, value_name = "PATH", env = "TINCAN_CGROUP_PARENT", default_value = DEFAULT_PARENT, value_parser = parse_parent)]
    pub cgroup_parent: PathBuf,

    /// The container's cgroup's name in the parent: its id if `None`. Not an
    /// option of the chapter's: the runtime's, for an engine that names it
    /// (podman's `cgroupsPath` ends with `libpod-ID`).
    #[arg(skip)]
    pub cgroup_name: Option<String>,
}

impl Default for CgroupOptions {
    fn default() -> Self {
        CgroupOptions {
            net: NetOptions::default(),
            memory: None,
            memory_swap: None,
            cpus: None,
            cpu_weight: None,
            pids_limit: None,
            io_weight: None,
            cgroup_parent: DEFAULT_PARENT.into(),
            cgroup_name: None,
        }
    }
}

impl CgroupOptions {
    /// The limits these options ask for.
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            cpu_weight: self.cpu_weight,
            pids: self.pids_limit,
            io_weight: self.io_weight,
        }
    }
}

/// `--cgroup-parent` is a path *inside* each hierarchy: relative, and staying
/// below its root. (`Path::join` with an absolute path would *replace* the
/// hierarchy's mount point, and `..` would climb out of it: root would make
/// and remove directories anywhere.) Also chapter 9's `delegate`.
pub fn parse_parent(text: &str) -> Result<PathBuf, String> {
    let path = Path::new(text);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    if text.is_empty() || !normal {
        return Err("give a relative path of names, such as tincan or tincan/tests".to_owned());
    }
    Ok(path.to_owned())
}

// ANCHOR: plan
/// Chapter 7's plan: chapter 6's, in a cgroup with the limits — joined first,
/// before any other step runs outside or inside — and, last, a cgroup namespace.
pub fn plan(options: &CgroupOptions) -> Plan {
    let layout =
        Layout::detected().map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw));
    let join = JoinCgroup::new(options.limits(), options.cgroup_parent.clone(), layout.clone())
        .named(options.cgroup_name.clone());
    ch06_net::plan(&options.net).first(join).then(CgroupNamespace::new(layout))
}
// ANCHOR_END: plan

#[cfg(test)]
mod tests {
    use super::*;

    /// Joined before the network is set up (or anything else), and its
    /// namespace made after everything else.
    #[test]
    fn the_cgroup_is_joined_first_and_its_namespace_made_last() {
        let plan = plan(&CgroupOptions::default());
        assert_eq!(plan.step_names().first(), Some(&"cgroup"));
        assert_eq!(plan.step_names().last(), Some(&"cgroup namespace"));
    }

    #[test]
    fn the_parent_stays_inside_the_hierarchy() {
        assert_eq!(parse_parent("tincan/tests"), Ok(PathBuf::from("tincan/tests")));
        for bad in ["", "/sys/fs/cgroup", "../escape", "tincan/../.."] {
            assert!(parse_parent(bad).is_err(), "{bad:?}");
        }
    }
}
