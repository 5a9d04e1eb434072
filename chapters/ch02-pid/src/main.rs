//! `ch02 run [--init] ROOTFS [CMD...]`: its own process tree, where the command is PID 1.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch02", ch02_pid::ABOUT, ch02_pid::plan)
}
