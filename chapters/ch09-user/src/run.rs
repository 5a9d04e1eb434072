//! `ch09 run`: chapter 8's container, in a user namespace (being written).

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::run::Prepared;

/// Chapter 9's own `run` options (being written: `--userns`, `--uidmap`, `--gidmap`).
#[derive(clap::Args, Debug, Default)]
pub struct UserOptions {}

/// Chapter 9's plan: chapter 8's, in a user namespace (being written).
pub fn plan(
    options: &CgroupOptions,
    _user: &UserOptions,
    _container: &mut Container,
    prepared: Prepared,
) -> Result<Plan, String> {
    let plan = ch08_images::run::plan(options, prepared);
    // Without root: a user-mode network, the delegated cgroup (rootless.rs, slirp.rs).
    let plan = crate::slirp::wire(plan, &options.net);
    crate::rootless::adapt(plan, options)
}

/// A plan with every step chapter 9 has, for cleaning up after dead runtimes.
pub fn sweep_plan() -> Plan {
    crate::slirp::for_sweep(ch08_images::run::plan(&CgroupOptions::default(), Prepared::default()))
}
