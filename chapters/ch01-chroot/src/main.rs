//! `ch01 run ROOTFS [CMD...]`: a private root directory, and how to escape it.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch01", ch01_chroot::ABOUT, |_: &ch00_process::cli::NoOptions| {
        ch01_chroot::plan()
    })
}
