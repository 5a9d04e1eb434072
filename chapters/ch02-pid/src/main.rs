//! `ch02 run ROOTFS [CMD...]`: its own process tree, where the command is PID 1.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch02", ch02_pid::ABOUT, |_: &ch00_process::cli::NoOptions| {
        ch02_pid::plan()
    })
}
