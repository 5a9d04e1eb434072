//! `ch10`: chapter 9's commands, hardened.

use std::process::ExitCode;

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::cli::{self, Chapter};
use ch08_images::run::Prepared;
use ch10_harden::run::{HardenOptions, plan, sweep_plan};

struct Ch10;

impl Chapter for Ch10 {
    type RunArgs = HardenOptions;
    const NAME: &'static str = "ch10";
    const ABOUT: &'static str = ch10_harden::ABOUT;

    fn plan(
        options: &CgroupOptions,
        harden: &HardenOptions,
        container: &mut Container,
        prepared: Prepared,
    ) -> Result<Plan, String> {
        plan(options, harden, container, prepared)
    }

    fn sweep_plan() -> Plan {
        sweep_plan()
    }
}

fn main() -> ExitCode {
    cli::main::<Ch10>()
}
