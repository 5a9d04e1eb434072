//! `ch03 run ROOTFS [CMD...]`: its own mount table: pivot_root, /proc, /dev and /sys.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch03", ch03_mount::ABOUT, |_: &ch00_process::cli::NoOptions| {
        ch03_mount::plan()
    })
}
