//! `ch05 run [--hostname NAME] ROOTFS [CMD...]`: its own IPC objects.

fn main() -> std::process::ExitCode {
    ch00_process::cli::main("ch05", ch05_ipc::ABOUT, ch05_ipc::plan)
}
