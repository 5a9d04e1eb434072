//! `ch06 run [--net none|host] [--hostname NAME] ROOTFS [CMD...]`: its own network stack.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch06", ch06_net::ABOUT, ch06_net::plan)
}
