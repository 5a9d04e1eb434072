//! The checks every chapter must pass, whatever it isolates: the command line,
//! exit statuses, errors, signals, a clean start, and leaving the host as it was.

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

        /// The runtime (a Rust program) ignores SIGPIPE; the command must not
        /// inherit that, or `yes` never dies of its closed pipe (busybox's says
        /// "Broken pipe" instead; others loop for ever).
        #[test]
        fn sigpipe_is_not_inherited_as_ignored() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let run = Sandbox::new().run($chapter, &["sh", "-c", "yes | head -1"]);
            assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "y\n", ""), "{run:?}");
        }

        /// Descriptors the runtime had open — here 5, 7 and 9, opened by the
        /// shell that starts it, without close-on-exec — never reach the command
        /// (the class of runc's CVE-2024-21626).
        #[test]
        fn no_descriptor_but_stdio_reaches_the_command() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new().before("exec 5</etc/hostname 7<>/dev/null 9>&2");
            let run = sandbox.run($chapter, &[PROBE, "fds"]);
            assert_eq!((run.code, run.stdout.as_str()), (0, "open descriptors: 0 1 2\n"), "{run:?}");
        }

        /// `kill RUNTIME` (or `timeout`) is meant for the container: forwarded.
        #[test]
        fn sigterm_to_the_runtime_is_forwarded() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let script = "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done";
            let stopped = Sandbox::new().signal_when_ready($chapter, &["sh", "-c", script], "TERM");
            assert_eq!(stopped.code, 3, "{stopped:?}");
            assert!(stopped.run.stdout.ends_with("ready\ngot TERM\n"), "{stopped:?}");
            assert!(stopped.took < std::time::Duration::from_secs(2), "{stopped:?}");
        }

        /// A container that ignores SIGTERM is killed once `--stop-timeout` has
        /// passed, as `docker stop` does, and the runtime says so.
        #[test]
        fn a_container_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new().options(&["--stop-timeout", "1"]);
            // An ignored signal stays ignored across exec: sleep ignores TERM too.
            let script = "trap '' TERM; echo ready; exec sleep 30";
            let stopped = sandbox.signal_when_ready($chapter, &["sh", "-c", script], "TERM");
            assert_eq!(stopped.code, 137, "{stopped:?}");
            let took = stopped.took.as_secs_f64();
            assert!((1.0..3.0).contains(&took), "killed after {took:.2} s: {stopped:?}");
            let line = format!(
                "{}: the container did not stop within 1 s of SIGTERM: killed it (see --stop-timeout)\n",
                $chapter
            );
            assert_eq!(stopped.run.stderr, line, "{stopped:?}");
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
            let mut terminal = $crate::support::Terminal::start($chapter, &sandbox, &[], &[]);
            // What the shell prints differs from what the terminal echoes of our typing.
            terminal.type_keys("[ -t 0 ] && echo \"T:$((40+2))\"\n");
            terminal.expect("T:42");
            terminal.type_keys("sleep 30\n");
            // Ctrl-C stops the sleep, not the shell. One that comes before the shell
            // has started `sleep` stops nothing (and empties what was typed), so
            // we press it again until the shell answers.
            let answered = (0..10).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                terminal.type_keys("\x03");
                terminal.type_keys("echo \"C:$((1+1))\"\n");
                terminal.shows_within("C:2", std::time::Duration::from_secs(2))
            });
            assert!(answered, "Ctrl-C never stopped the sleep:\n{}", terminal.screen());
            terminal.type_keys("exit 5\n");
            let (code, screen) = terminal.wait();
            assert_eq!(code, 5, "{screen}");
        }

        /// Ctrl-C reaches the container's foreground programs: the container
        /// decides what it means, and the runtime lives on to report it.
        #[test]
        fn ctrl_c_is_the_containers_to_handle() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            // A loop of short sleeps, not one long one: a Ctrl-C that comes after
            // READY but before the shell has started `sleep` reaches the shell
            // alone, which runs its trap only once the sleep it then starts ends.
            let script = "trap 'echo GOT-INT; exit 3' INT; echo READY; while :; do sleep 0.05; done";
            let mut terminal =
                $crate::support::Terminal::start($chapter, &sandbox, &[], &["sh", "-c", script]);
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

        /// Whatever the runtime records while a container runs is gone after it.
        #[test]
        fn leaves_no_state_behind() {
            if !root_or_skip(module_path!()) {
                return;
            }
            let sandbox = Sandbox::new();
            let run = sandbox.run($chapter, &["true"]);
            assert_eq!(run.code, 0, "{run:?}");
            let left = std::fs::read_dir(sandbox.state_dir().join("containers")).unwrap().count();
            assert_eq!(left, 0, "a container's state directory was left behind");
        }
    };
}

/// For the chapters whose container can name its terminal: on a terminal, `tty`
/// inside names a device that exists in the container.
#[macro_export]
macro_rules! terminal_checks {
    ($chapter:literal, $device:literal) => {
        #[test]
        fn tty_names_a_device_that_exists_in_the_container() {
            if !$crate::support::root_or_skip(module_path!()) {
                return;
            }
            let sandbox = $crate::support::Sandbox::new();
            let _host = $crate::support::HOST.lock().unwrap_or_else(|e| e.into_inner());
            let script = "t=$(tty) && [ -c \"$t\" ] && echo \"TTY:$t:$(stty size)\"";
            let mut terminal =
                $crate::support::Terminal::start($chapter, &sandbox, &[], &["sh", "-c", script]);
            terminal.expect(concat!("TTY:", $device));
            terminal.expect(":24 80");
            let (code, screen) = terminal.wait();
            assert_eq!(code, 0, "{screen}");
        }
    };
}
