//! `ch03 run [--init] ROOTFS [CMD...]`: its own mount table: pivot_root, /proc, /dev
//! and /sys, and a terminal of its own.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch03", ch03_mount::ABOUT, ch03_mount::plan)
}
