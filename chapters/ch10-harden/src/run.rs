//! `ch10 run`: chapter 9's container, hardened (being written).

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::run::Prepared;
use ch09_user::run::UserOptions;

/// Chapter 10's own `run` options (being written), beside chapter 9's.
#[derive(clap::Args, Debug, Default)]
pub struct HardenOptions {
    #[command(flatten)]
    pub user: UserOptions,
}

/// Chapter 10's plan: chapter 9's, hardened (being written).
pub fn plan(
    options: &CgroupOptions,
    harden: &HardenOptions,
    container: &mut Container,
    prepared: Prepared,
) -> Result<Plan, String> {
    ch09_user::run::plan(options, &harden.user, container, prepared)
}

/// A plan with every step chapter 10 has, for cleaning up after dead runtimes.
pub fn sweep_plan() -> Plan {
    ch09_user::run::sweep_plan()
}
