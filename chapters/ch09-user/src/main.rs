//! `ch09`: chapter 8's commands, in a user namespace.

use std::process::ExitCode;

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use ch08_images::cli::{self, Chapter};
use ch08_images::run::Prepared;
use ch08_images::store::Store;
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

    /// A user's layers are written as root of a user namespace (`images.rs`).
    fn may_write_layers(store: &Store) -> Result<Option<ExitCode>, String> {
        ch09_user::images::write_layers_in_user_namespace(store.root())
    }
}

fn main() -> ExitCode {
    // `ch09 delegate USER`: root's one-time set-up for a user's limits (delegate.rs).
    if std::env::args_os().nth(1).is_some_and(|a| a == "delegate") {
        return ch09_user::delegate::main();
    }
    cli::main::<Ch09>()
}
