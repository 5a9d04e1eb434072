//! `tincan`: the full runtime grows here, built from the chapters' pieces.
//! For now it tells you where the chapters are.

use std::process::ExitCode;

/// (binary, crate directory, what it adds).
const CHAPTERS: [(&str, &str, &str); 7] = [
    ("ch00", "chapters/ch00-process", ch00_process::ABOUT),
    ("ch01", "chapters/ch01-chroot", ch01_chroot::ABOUT),
    ("ch02", "chapters/ch02-pid", ch02_pid::ABOUT),
    ("ch03", "chapters/ch03-mount", ch03_mount::ABOUT),
    ("ch04", "chapters/ch04-uts", ch04_uts::ABOUT),
    ("ch05", "chapters/ch05-ipc", ch05_ipc::ABOUT),
    ("ch06", "chapters/ch06-net", ch06_net::ABOUT),
];

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("chapters") => {
            println!("tincan: a container runtime, one kernel feature at a time.\n");
            for (bin, dir, about) in CHAPTERS {
                println!("  {bin}  {about}\n        {dir}/");
            }
            println!("\nRun one: sudo target/debug/ch06 run ./rootfs /bin/sh");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("tincan: unknown command {other:?}; try `tincan chapters`");
            ExitCode::from(2)
        }
    }
}
