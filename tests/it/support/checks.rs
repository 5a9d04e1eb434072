//! The checks every chapter must pass, whatever it isolates: the command line,
//! exit statuses, errors, and leaving the host as it was.

/// Generate the shared checks inside a chapter's test module.
#[macro_export]
macro_rules! every_chapter_checks {
    ($chapter:literal) => {
        use $crate::support::{PROBE, Sandbox, host_mounts, root_or_skip};

        #[test]
        fn exit_status_is_the_commands_own() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let run = Sandbox::new().run($chapter, &["sh", "-c", "exit 7"]);
            assert_eq!(run.code, 7, "{run:?}");
        }

        /// The container's process is killed from the host (from inside, a PID 1
        /// would ignore the signal: see ch02).
        #[test]
        fn death_by_signal_n_exits_128_plus_n() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            let running = sandbox.start_on_host($chapter);
            nix::sys::signal::kill(running.container_pid(), nix::sys::signal::Signal::SIGKILL)
                .unwrap();
            let code = running.wait();
            assert_eq!(code, 128 + 9);
        }

        #[test]
        fn stdin_stdout_and_stderr_pass_through() {
            if !root_or_skip(module_path!()) {
                return;
            }
            // No command: the default is /bin/sh, reading its commands from stdin.
            let run = Sandbox::new().stdin("echo out; echo err >&2\n").run($chapter, &[]);
            assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "out\n", "err\n"));
        }

        /// `sudo chNN run ./rootfs` on a terminal: an interactive shell that knows
        /// it is on a terminal and whose exit status is the runtime's.
        #[test]
        fn an_interactive_shell_works_on_a_terminal() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            let mut terminal = $crate::support::Terminal::start($chapter, &sandbox.rootfs(), &[]);
            // What the shell prints differs from what the terminal echoes of our typing.
            terminal.type_keys("[ -t 0 ] && echo \"T:$((40+2))\"\n");
            terminal.expect("T:42");
            terminal.type_keys("sleep 30\n");
            std::thread::sleep(std::time::Duration::from_millis(300));
            terminal.type_keys("\x03"); // Ctrl-C stops the sleep, not the shell
            terminal.type_keys("echo \"C:$((1+1))\"\n");
            terminal.expect("C:2");
            terminal.type_keys("exit 5\n");
            let (code, screen) = terminal.wait();
            assert_eq!(code, 5, "{screen}");
        }

        /// Ctrl-C without job control reaches the whole foreground group: the
        /// container decides what it means, and the runtime lives on to report it.
        #[test]
        fn ctrl_c_is_the_containers_to_handle() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            let script = "trap 'echo GOT-INT; exit 3' INT; echo READY; sleep 30; echo MISSED";
            let mut terminal = $crate::support::Terminal::start(
                $chapter,
                &sandbox.rootfs(),
                &["sh", "-c", script],
            );
            terminal.expect("READY");
            terminal.type_keys("\x03");
            terminal.expect("GOT-INT");
            let (code, screen) = terminal.wait();
            assert_eq!(code, 3, "{screen}");
        }

        #[test]
        fn a_missing_rootfs_is_one_clear_line_and_125() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            std::fs::remove_dir_all(sandbox.rootfs()).unwrap();
            let run = sandbox.run($chapter, &["true"]);
            assert_eq!(run.code, 125, "{run:?}");
            let expected = format!(
                "{}: root filesystem {} does not exist (build one with `cargo xtask rootfs {}`)\n",
                $chapter,
                sandbox.rootfs().display(),
                sandbox.rootfs().display()
            );
            assert_eq!(run.stderr, expected);
        }

        #[test]
        fn a_missing_command_is_one_clear_line_and_127() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let run = Sandbox::new().run($chapter, &["no-such-command", "arg"]);
            assert_eq!(run.code, 127, "{run:?}");
            let expected =
                format!("{}: no-such-command: command not found in the container\n", $chapter);
            assert_eq!(run.stderr, expected);
        }

        #[test]
        fn a_file_that_cannot_be_executed_is_one_clear_line_and_126() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let run = Sandbox::new().run($chapter, &["etc/passwd"]);
            assert_eq!(run.code, 126, "{run:?}");
            let expected = format!("{}: etc/passwd: cannot execute: Permission denied\n", $chapter);
            assert_eq!(run.stderr, expected);
        }

        #[test]
        fn leaves_the_host_mount_table_as_it_was() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            let before = host_mounts();
            let run = sandbox.run_on_host($chapter, &[PROBE]);
            assert_eq!(run.code, 0, "{run:?}");
            assert_eq!(host_mounts(), before, "{} changed the host's mount table", $chapter);
        }
    };
}
