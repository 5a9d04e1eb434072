//! `ch04 run [--hostname NAME] ROOTFS [CMD...]`: its own hostname.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch04", ch04_uts::ABOUT, ch04_uts::plan)
}
