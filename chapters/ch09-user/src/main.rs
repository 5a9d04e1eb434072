//! `ch09`: chapter 8's commands, in a user namespace.

use std::process::ExitCode;

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::cli::{self, Chapter};
use ch08_images::run::Prepared;
use ch09_user::run::{UserOptions, plan, sweep_plan};

struct Ch09;

impl Chapter for Ch09 {
    type RunArgs = UserOptions;
    const NAME: &'static str = "ch09";
    const ABOUT: &'static str = ch09_user::ABOUT;

    fn plan(
        options: &CgroupOptions,
        user: &UserOptions,
        container: &mut Container,
        prepared: Prepared,
    ) -> Result<Plan, String> {
        plan(options, user, container, prepared)
    }

    fn sweep_plan() -> Plan {
        sweep_plan()
    }
}

fn main() -> ExitCode {
    cli::main::<Ch09>()
}
