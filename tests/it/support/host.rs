//! Running a chapter and talking to it while it runs: signals to its runtime,
//! and, for the few tests that must, directly on the host.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Run, Sandbox, chapter_bin};

/// How a runtime that was sent a signal ended.
#[derive(Debug)]
pub struct Stopped {
    /// The runtime's exit code.
    pub code: i32,
    /// From the signal to the runtime's exit.
    pub took: Duration,
    pub run: Run,
}

impl Sandbox {
    /// Start `chNN run OPTIONS ROOTFS ARGS...` in the sandbox, in the background;
    /// once the container has printed `ready`, send `signal` (`TERM`, `INT`) to the
    /// *runtime*, and wait for it to end.
    pub fn signal_when_ready(&self, chapter: &str, args: &[&str], signal: &str) -> Stopped {
        let dir = self.dir().display().to_string();
        let quoted: Vec<String> =
            args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
        let script = format!(
            "{run} {args} > {dir}/bg.out 2> {dir}/bg.err & runtime=$!\n\
             n=0; until grep -qs ready {dir}/bg.out || ! kill -0 $runtime 2>/dev/null || [ $n -ge 400 ]; do sleep 0.02; n=$((n+1)); done\n\
             start=$(date +%s%N); kill -{signal} $runtime; wait $runtime; code=$?; end=$(date +%s%N)\n\
             echo \"$code $(( (end - start) / 1000000 ))\"; cat {dir}/bg.out; cat {dir}/bg.err >&2",
            run = self.command_line(chapter),
            args = quoted.join(" "),
        );
        let command = ["sh".to_owned(), "-c".to_owned(), script];
        let run = self.run_in_sandbox(&command, chapter >= "ch06");
        let (first, _) = run.stdout.split_once('\n').unwrap_or_default();
        let numbers: Vec<u64> = first.split(' ').filter_map(|w| w.parse().ok()).collect();
        let [code, ms] = numbers[..] else { panic!("the runtime never started: {run:?}") };
        Stopped { code: code as i32, took: Duration::from_millis(ms), run }
    }

    /// `chNN` as a command for the real host (no outer sandbox), with this
    /// sandbox's state directory, cgroup parent, bridge and subnet.
    pub fn command_on_host(&self, chapter: &str) -> Command {
        self.ran_on_host.store(true, std::sync::atomic::Ordering::Relaxed);
        // For `cargo xtask test` after a run that was interrupted: this
        // sandbox's records name objects on the host (`xtask/src/sweep.rs`).
        std::fs::write(self.dir().join("ran-on-host"), "").expect("mark the sandbox");
        let mut cmd = Command::new(chapter_bin(chapter));
        cmd.envs(self.env(true));
        cmd
    }

    /// Run `chNN run ROOTFS ARGS...` directly on the host, with no outer sandbox.
    /// Only for the tests that check the host is left exactly as it was.
    pub fn run_on_host(&self, chapter: &str, args: &[&str]) -> Run {
        let mut cmd = self.command_on_host(chapter);
        cmd.arg("run").arg(self.rootfs()).args(args);
        self.spawn(cmd)
    }

    /// Start `chNN run ROOTFS` on the host with a shell that waits for one line
    /// of input, and return once the shell is running.
    pub fn start_on_host(&self, chapter: &str) -> Running {
        let mut runtime = self
            .command_on_host(chapter)
            .arg("run")
            .arg(self.rootfs())
            .args(["sh", "-c", "echo ready; read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the chapter");
        let mut ready = String::new();
        BufReader::new(runtime.stdout.as_mut().expect("piped"))
            .read_line(&mut ready)
            .expect("read");
        if ready != "ready\n" {
            let output = runtime.wait_with_output().expect("wait");
            panic!(
                "the container did not start: {} exited with {:?}:\n{}",
                chapter,
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Running { runtime }
    }
}

/// A container running on the host (see [`Sandbox::start_on_host`]).
pub struct Running {
    runtime: std::process::Child,
}

impl Running {
    /// The container's process, as the host numbers it: the runtime's only child.
    pub fn container_pid(&self) -> nix::unistd::Pid {
        let children = format!("/proc/{pid}/task/{pid}/children", pid = self.runtime.id());
        let pid = std::fs::read_to_string(children).expect("read children");
        nix::unistd::Pid::from_raw(pid.trim().parse().expect("exactly one child"))
    }

    /// Let the shell finish and return the runtime's exit code.
    pub fn finish(mut self) -> i32 {
        if let Some(stdin) = self.runtime.stdin.as_mut() {
            let _ = std::io::Write::write_all(stdin, b"go\n");
        }
        self.wait()
    }

    /// Wait for the runtime to exit (after a signal, say) and return its exit code.
    /// The shell's stdin stays open meanwhile: at end-of-file it would exit by
    /// itself, before the signal arrives.
    pub fn wait(mut self) -> i32 {
        let _stdin = self.runtime.stdin.take();
        let status = self.runtime.wait().expect("wait");
        status.code().unwrap_or_else(|| panic!("the runtime itself was killed: {status:?}"))
    }
}
