//! `ch08 pull REF`, `ch08 run [OPTIONS] IMAGE [CMD...]`, and the rest of the
//! image commands: `import`, `images`, `inspect`, `rmi`, `cleanup` (`cli.rs`).

use std::process::ExitCode;

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::cli::{self, Chapter};
use ch08_images::run::{Prepared, plan};

/// Chapter 8 adds no `run` options of its own to chapter 7's.
#[derive(clap::Args)]
struct NoOptions {}

struct Ch08;

impl Chapter for Ch08 {
    type RunArgs = NoOptions;
    const NAME: &'static str = "ch08";
    const ABOUT: &'static str = ch08_images::ABOUT;

    fn plan(
        options: &CgroupOptions,
        _: &NoOptions,
        _: &mut Container,
        prepared: Prepared,
    ) -> Result<Plan, String> {
        Ok(plan(options, prepared))
    }

    fn sweep_plan() -> Plan {
        plan(&CgroupOptions::default(), Prepared::default())
    }
}

fn main() -> ExitCode {
    cli::main::<Ch08>()
}
