//! `ch07 run [--memory SIZE] [--cpus N] [--pids-limit N] ... ROOTFS [CMD...]`: limits.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch07", ch07_cgroups::ABOUT, ch07_cgroups::plan)
}
