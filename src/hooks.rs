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

use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
        "{kind} hook #{index} ({path}): still running after its timeout of {seconds} s, killed"
    )]
    TimedOut { kind: &'static str, index: usize, path: String, seconds: i64 },
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
    let Some(hooks) = &record.hooks else { return };
    let state = state(&record.id, &record.bundle, &record.annotations, status, pid);
    let json = serde_json::to_vec(&state).expect("a state serializes");
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
    let mut child = command.spawn().map_err(start)?;
    // A hook that does not read its state is not an error: its pipe is.
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let _ = stdin.write_all(state);
    drop(stdin);
    let timeout = hook.timeout().map(|seconds| Duration::from_secs(seconds.max(0) as u64));
    match wait(&mut child, timeout) {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => {
            let said = [("stdout", stdout), ("stderr", stderr)]
                .into_iter()
                .filter_map(|(name, file)| Some(format!(", {name}: {}", read_back(file)?)))
                .collect();
            Err(HookError::Failed { kind, index, path, status, said })
        }
        Ok(None) => {
            let seconds = hook.timeout().unwrap_or_default();
            Err(HookError::TimedOut { kind, index, path, seconds })
        }
        Err(source) => Err(start(source)),
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

/// Wait for `child`; `None` if it ran past `timeout`, and was killed. A
/// pidfd tells when it ends, without a thread or a busy loop.
fn wait(child: &mut Child, timeout: Option<Duration>) -> std::io::Result<Option<ExitStatus>> {
    let Some(timeout) = timeout else { return child.wait().map(Some) };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pidfd = ch00_process::clone::pidfd_open(pid)?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let left = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(0) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(_) => return child.wait().map(Some),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
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
    fn a_hook_that_is_not_there_cannot_start() {
        let mut missing = hook(&[], &[], None);
        missing.set_path("/nonexistent/hook".into());
        let error = run(Kind::Poststop, &hooks(Kind::Poststop, vec![missing]), &stopped())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("poststop hook #0 (/nonexistent/hook): start it: "), "{error}");
    }
}
