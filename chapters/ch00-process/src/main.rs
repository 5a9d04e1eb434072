//! `ch00 run ROOTFS [CMD...]`: run CMD as a plain child process.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch00", ch00_process::ABOUT, |_: &ch00_process::cli::NoOptions| {
        ch00_process::plan()
    })
}
