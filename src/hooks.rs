//! The config's `hooks`: programs an engine asks the runtime to run at
//! fixed points of a container's life (the OCI runtime spec's "POSIX-platform
//! Hooks"). An engine uses them for what it must do while the container is
//! half-made: wire a network namespace, hand a device to it, record it. Each
//! hook gets the container's state (the spec's JSON) on its stdin, exactly
//! the environment the config gives it (nothing of the runtime's), and runs
//! until it exits or its `timeout` passes.
//!
//! | kind | where it runs | when | if it fails |
//! |---|---|---|---|
//! | `prestart`, `createRuntime` | the runtime's namespaces | the container's namespaces made, before `pivot_root` | `create` fails |
//! | `createContainer` | the container's namespaces, found in the host's root | next, still before `pivot_root` | `create` fails |
//! | `startContainer` | the container | after `start`, before the command | the command never runs |
//! | `poststart` | the runtime's | the command started, before `start` returns | a warning |
//! | `poststop` | the runtime's | the container deleted, before `delete` returns | a warning |
//!
//! The steps that run them during the set-up are in [`crate::hook_steps`].

use std::io::{Read, Seek};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::memfd::{MFdFlags, memfd_create};
use oci_spec::runtime::{ContainerState, Hook, Hooks, State, StateBuilder};

use crate::store::Record;

/// The kinds of hook, in the order a container meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The old name of `createRuntime` (deprecated in the spec; engines
    /// still write it), run just before it.
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// Its name in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks`.
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)] // `prestart`: engines still write it
        let listed = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        listed.as_deref().unwrap_or_default()
    }
}

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook #{index} ({path}): start it: {source}")]
    Start { kind: &'static str, index: usize, path: String, source: std::io::Error },
    #[error("{kind} hook #{index} ({path}): {status}{said}")]
    Failed { kind: &'static str, index: usize, path: String, status: ExitStatus, said: String },
    #[error(
        "{kind} hook #{index} ({path}): still running after its timeout of {seconds} s, killed{said}"
    )]
    TimedOut { kind: &'static str, index: usize, path: String, seconds: i64, said: String },
    #[error("{kind} hook #{index} ({path}): wait for it: {source}")]
    Wait { kind: &'static str, index: usize, path: String, source: std::io::Error },
}

/// What a hook is told: the container as the spec's state describes it.
/// `pid` is the container's first process as the hook's namespaces number
/// it (none once it is gone).
pub fn state(
    id: &str,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
    status: ContainerState,
    pid: Option<i32>,
) -> State {
    let mut state = StateBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .id(id)
        .status(status)
        .bundle(bundle)
        .build()
        .expect("every field of the state is given or has a default");
    state.set_pid(pid);
    if !annotations.is_empty() {
        state.set_annotations(Some(annotations.clone()));
    }
    state
}

// ANCHOR: run
/// Run the hooks of `kind` in `hooks`, in order, each given `state`; stop
/// at the first that fails.
pub fn run(kind: Kind, hooks: &Hooks, state: &State) -> Result<(), HookError> {
    let json = serde_json::to_vec(state).expect("a state serializes");
    for (index, hook) in kind.of(hooks).iter().enumerate() {
        run_one(kind.name(), index, hook, &json)?;
    }
    Ok(())
}

/// Run the `kind` hooks the record of a container keeps, every one of them;
/// a failure is a warning (the spec's rule for `poststart` and `poststop`:
/// the container's life goes on as if the hook had succeeded).
pub fn run_recorded(kind: Kind, record: &Record, status: ContainerState, pid: Option<i32>) {
    if let Some(hooks) = &record.hooks {
        let state = state(&record.id, &record.bundle, &record.annotations, status, pid);
        run_warning(kind, hooks, &state);
    }
}

/// Run the `kind` hooks in `hooks`, every one of them; a failure is a warning.
pub fn run_warning(kind: Kind, hooks: &Hooks, state: &State) {
    let json = serde_json::to_vec(state).expect("a state serializes");
    for (index, hook) in kind.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(kind.name(), index, hook, &json) {
            crate::log::warning(&e.to_string());
        }
    }
}

fn run_one(kind: &'static str, index: usize, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let start = |source| HookError::Start { kind, index, path: path.clone(), source };
    let mut command = Command::new(hook.path());
    // `args` is the whole argv, its first the program's name, as for execv(3).
    if let Some((arg0, rest)) = hook.args().as_deref().and_then(<[String]>::split_first) {
        command.arg0(arg0).args(rest);
    }
    // The config's environment and nothing else: the runtime's would leak
    // into what the engine asked for.
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    // What it prints is kept for the error (in memory: a hook may run in the
    // container, where there may be nowhere to write).
    let (stdout, stderr) = (captured("hook-stdout").map_err(start)?, captured("hook-stderr"));
    let stderr = stderr.map_err(start)?;
    command.stdin(Stdio::piped()).stdout(dup(&stdout)?).stderr(dup(&stderr)?);
    // A hook ends with the runtime that waits for it: `delete --force` may
    // kill a `create` whose hook hangs, and the hook must not run on alone.
    // (What the hook starts itself is the hook's to end.)
    let runtime = nix::unistd::getpid();
    // SAFETY: between fork and exec, prctl(2) and getppid(2) alone, which
    // allocate nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // Ended already, before the signal was asked for.
            if nix::unistd::getppid() != runtime {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    let mut child = command.spawn().map_err(start)?;
    let stdin = child.stdin.take().expect("stdin was piped");
    let timeout = hook.timeout().map(|seconds| Duration::from_secs(seconds.max(0) as u64));
    let waited = feed_and_wait(&mut child, stdin, state, timeout);
    let said = || {
        [("stdout", stdout), ("stderr", stderr)]
            .into_iter()
            .filter_map(|(name, file)| Some(format!(", {name}: {}", read_back(file)?)))
            .collect()
    };
    match waited {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(HookError::Failed { kind, index, path, status, said: said() }),
        Ok(None) => {
            let seconds = hook.timeout().unwrap_or_default();
            Err(HookError::TimedOut { kind, index, path, seconds, said: said() })
        }
        Err(source) => Err(HookError::Wait { kind, index, path, source }),
    }
}
// ANCHOR_END: run

/// A file in memory for what a hook prints.
fn captured(name: &str) -> std::io::Result<std::fs::File> {
    Ok(memfd_create(name, MFdFlags::MFD_CLOEXEC)?.into())
}

fn dup(file: &std::fs::File) -> Result<Stdio, HookError> {
    let fd: OwnedFd = file.try_clone().expect("dup a memfd").into();
    Ok(Stdio::from(fd))
}

/// What the hook wrote to `file`, trimmed and cut short; `None` if nothing.
fn read_back(mut file: std::fs::File) -> Option<String> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Give `child` the state on its stdin, and wait for it to end; `None` if
/// it ran past `timeout`, and was killed. Both in one loop, on a pidfd: a
/// hook that never reads its stdin must not hang the runtime on a full pipe
/// (a state with many annotations is larger than one), and its timeout
/// covers that wait too. A hook that exits without reading is no error.
fn feed_and_wait(
    child: &mut Child,
    stdin: std::process::ChildStdin,
    state: &[u8],
    timeout: Option<Duration>,
) -> std::io::Result<Option<ExitStatus>> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pidfd = match ch00_process::clone::pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        Err(errno) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(errno.into());
        }
    };
    let stdin = OwnedFd::from(stdin);
    let flags = OFlag::from_bits_truncate(fcntl(&stdin, FcntlArg::F_GETFL)?);
    fcntl(&stdin, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let (mut stdin, mut unwritten) = (Some(stdin), state);
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        if unwritten.is_empty() {
            stdin = None; // closed: the hook reads end-of-file
        }
        let left = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        fds.extend(stdin.as_ref().map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLOUT)));
        match poll(&mut fds, left) {
            Ok(0) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
        let ended = fds[0].revents().is_some_and(|r| !r.is_empty());
        let writable = fds.get(1).and_then(PollFd::revents).is_some_and(|r| !r.is_empty());
        drop(fds);
        if ended {
            return child.wait().map(Some);
        }
        if let (true, Some(fd)) = (writable, &stdin) {
            match nix::unistd::write(fd, unwritten) {
                Ok(n) => unwritten = &unwritten[n..],
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                // It closed its stdin: what it did not read, it did not want.
                Err(_) => unwritten = &[],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str], env: &[&str], timeout: Option<i64>) -> Hook {
        let mut hook = Hook::default();
        hook.set_path("/bin/sh".into());
        hook.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        hook.set_env(Some(env.iter().map(|e| e.to_string()).collect()));
        hook.set_timeout(timeout);
        hook
    }

    fn hooks(kind: Kind, list: Vec<Hook>) -> Hooks {
        let mut hooks = Hooks::default();
        match kind {
            Kind::Poststop => hooks.set_poststop(Some(list)),
            _ => unreachable!("the tests use poststop"),
        };
        hooks
    }

    fn stopped() -> State {
        state("t", Path::new("/b"), &Default::default(), ContainerState::Stopped, None)
    }

    #[test]
    fn a_hook_gets_the_state_its_argv_and_only_its_environment() {
        let out = tempfile::NamedTempFile::new().unwrap();
        let script =
            format!("echo \"$0 $1 ${{HOME:-no-home}} $FOO $(cat)\" > {}", out.path().display());
        // `sh -c SCRIPT ZERO ONE`: $0 is the argument after the script.
        let listed = hooks(
            Kind::Poststop,
            vec![hook(&["name", "-c", &script, "zero", "one"], &["FOO=bar"], Some(5))],
        );
        run(Kind::Poststop, &listed, &stopped()).unwrap();
        let said = std::fs::read_to_string(out.path()).unwrap();
        let (words, json) = said.split_at(said.find('{').unwrap());
        assert_eq!(words, "zero one no-home bar ");
        let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(json["id"], "t");
        assert_eq!(json["status"], "stopped");
        assert_eq!(json["bundle"], "/b");
        assert!(json.get("pid").is_none(), "a stopped container has no pid: {json}");
    }

    #[test]
    fn a_failing_hook_says_its_status_and_output_and_stops_the_rest() {
        let marker = tempfile::tempdir().unwrap();
        let second = format!("touch {}/ran", marker.path().display());
        let listed = hooks(
            Kind::Poststop,
            vec![
                hook(&["sh", "-c", "echo out; echo err >&2; exit 3"], &[], None),
                hook(&["sh", "-c", &second], &[], None),
            ],
        );
        let error = run(Kind::Poststop, &listed, &stopped()).unwrap_err().to_string();
        assert_eq!(error, "poststop hook #0 (/bin/sh): exit status: 3, stdout: out, stderr: err");
        assert!(!marker.path().join("ran").exists(), "the next hook ran");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let listed =
            hooks(Kind::Poststop, vec![hook(&["sh", "-c", "exec sleep 30"], &[], Some(1))]);
        let began = Instant::now();
        let error = run(Kind::Poststop, &listed, &stopped()).unwrap_err().to_string();
        assert!(began.elapsed() < Duration::from_secs(10), "waited {:?}", began.elapsed());
        assert_eq!(
            error,
            "poststop hook #0 (/bin/sh): still running after its timeout of 1 s, killed"
        );
    }

    #[test]
    fn a_hook_that_never_reads_a_large_state_still_times_out() {
        // Larger than a pipe holds: a blocking write would wait for ever.
        let many = (0..20_000).map(|i| (format!("k{i}"), "v".repeat(8))).collect();
        let large = state("t", Path::new("/b"), &many, ContainerState::Stopped, None);
        let listed =
            hooks(Kind::Poststop, vec![hook(&["sh", "-c", "exec sleep 30"], &[], Some(1))]);
        let error = run(Kind::Poststop, &listed, &large).unwrap_err().to_string();
        assert!(error.contains("still running after its timeout of 1 s"), "{error}");
        // One that does not read it but exits is fine.
        let quick = hooks(Kind::Poststop, vec![hook(&["sh", "-c", "exit 0"], &[], None)]);
        run(Kind::Poststop, &quick, &large).unwrap();
    }

    #[test]
    fn a_hook_that_is_not_there_cannot_start() {
        let mut missing = hook(&[], &[], None);
        missing.set_path("/nonexistent/hook".into());
        let error = run(Kind::Poststop, &hooks(Kind::Poststop, vec![missing]), &stopped())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("poststop hook #0 (/nonexistent/hook): start it: "), "{error}");
    }
}
