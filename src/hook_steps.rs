//! The hooks that run while a container is set up ([`crate::hooks`]), as
//! steps of its plan.
//!
//! `createRuntime` hooks run in the runtime's namespaces while the
//! container's process waits, its namespaces made, before `pivot_root`. The
//! runtime's side of the set-up is over by then (chapter 0's parent steps run
//! before "go"), so the process calls it back, as runc's init does: it writes
//! on a socket and waits; `create`, which watches the socket while it waits
//! for the set-up, runs the hooks and answers — or, if one fails, kills the
//! process and fails.
//!
//! chapter 5 mounts `/proc`, `/dev` and `/sys` after `pivot_root`, inside the
//! new root (runc mounts them into the root file system before it): a hook
//! before `pivot_root` sees the container's namespaces, cgroups and network,
//! not those mounts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use ch00_process::{Context, Step, StepError};
use nix::errno::Errno;
use oci_spec::runtime::{ContainerState, Hooks};

use crate::hooks::{self, HookError, Kind};

/// What every hook is told of the container, besides its status and pid.
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub annotations: std::collections::HashMap<String, String>,
    pub hooks: Hooks,
}

impl Container {
    fn run(&self, kind: Kind, status: ContainerState, pid: i32) -> Result<(), HookError> {
        let state = hooks::state(&self.id, &self.bundle, &self.annotations, status, Some(pid));
        hooks::run(kind, &self.hooks, &state)
    }
}

/// The steps, and the runtime's end of the call, for `container`'s hooks.
/// The steps go where [`Steps::add`] puts them.
pub fn steps(container: Container) -> std::io::Result<(Steps, Option<RuntimeCall>)> {
    let container = Arc::new(container);
    let runtime = [Kind::Prestart, Kind::CreateRuntime]
        .iter()
        .any(|kind| !kind.of(&container.hooks).is_empty());
    let (call, answer) = if runtime {
        let (child, runtime) = UnixStream::pair()?;
        (
            Some(CallRuntime(child)),
            Some(RuntimeCall { stream: runtime, container: container.clone() }),
        )
    } else {
        (None, None)
    };
    Ok((Steps { call, container }, answer))
}

/// The hook steps of a container's plan.
pub struct Steps {
    call: Option<CallRuntime>,
    container: Arc<Container>,
}

impl Steps {
    /// Put them in `plan`: the calls before `pivot_root`, `startContainer`'s
    /// last (after `start`'s gate, if any).
    pub fn add(self, mut plan: ch00_process::Plan) -> ch00_process::Plan {
        if let Some(call) = self.call {
            plan = plan.insert_before("pivot_root", call);
        }
        if !Kind::CreateContainer.of(&self.container.hooks).is_empty() {
            plan = plan.insert_before("pivot_root", CreateContainer(self.container.clone()));
        }
        if !Kind::StartContainer.of(&self.container.hooks).is_empty() {
            plan = plan.then(StartContainer(self.container));
        }
        plan
    }
}

/// The process's side of the call: "run the runtime's hooks", then wait
/// for the answer.
struct CallRuntime(UnixStream);

impl Step for CallRuntime {
    fn name(&self) -> &'static str {
        "createRuntime hooks"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let call = |e: std::io::Error| StepError::new("call the runtime for its hooks", errno(&e));
        (&self.0).write_all(b"h").map_err(call)?;
        let mut answer = [0u8; 1];
        // A hook that fails ends this process: no answer comes then.
        match (&self.0).read(&mut answer).map_err(call)? {
            1 if answer == *b"0" => Ok(()),
            _ => Err(StepError::new("wait for the runtime's hooks", Errno::ECANCELED)),
        }
    }
}

/// The runtime's side of the call.
pub struct RuntimeCall {
    stream: UnixStream,
    container: Arc<Container>,
}

impl std::os::fd::AsFd for RuntimeCall {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl RuntimeCall {
    /// The process called (`false`: its end closed; it is gone).
    pub fn called(&self) -> bool {
        matches!((&self.stream).read(&mut [0u8; 1]), Ok(1))
    }

    /// Run `prestart`, then `createRuntime`, and let `pid` go on.
    pub fn answer(&self, pid: i32) -> Result<(), HookError> {
        for kind in [Kind::Prestart, Kind::CreateRuntime] {
            self.container.run(kind, ContainerState::Creating, pid)?;
        }
        // Gone meanwhile, it no longer waits: its report says why.
        let _ = (&self.stream).write_all(b"0");
        Ok(())
    }
}

/// `createContainer`: in the container's namespaces, before `pivot_root`,
/// so that the hook's path is found in the host's root (the spec's rule).
struct CreateContainer(Arc<Container>);

impl Step for CreateContainer {
    fn name(&self) -> &'static str {
        "createContainer hooks"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let pid = nix::unistd::getpid().as_raw();
        self.0.run(Kind::CreateContainer, ContainerState::Creating, pid).map_err(step_error)
    }
}

/// `startContainer`: in the container, once started, just before the
/// command. `start` has returned by then: the failure is also written on
/// the container's stderr (the engine's log of it), as runc does.
struct StartContainer(Arc<Container>);

impl Step for StartContainer {
    fn name(&self) -> &'static str {
        "startContainer hooks"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let pid = nix::unistd::getpid().as_raw();
        let ran = self.0.run(Kind::StartContainer, ContainerState::Created, pid);
        ran.map_err(|e| {
            eprintln!("tincan: {e}");
            step_error(e)
        })
    }
}

/// A hook's failure as a step's (named for the hooks' kind): which hook,
/// the errno closest to why, and the rest as the hint.
fn step_error(e: HookError) -> StepError {
    match e {
        // The step's name says which kind.
        HookError::Start { index, path, source, .. } => {
            StepError::new(format!("start hook #{index} ({path})"), errno(&source))
        }
        HookError::Failed { index, path, status, said, .. } => {
            StepError::new(format!("hook #{index} ({path})"), Errno::ECANCELED)
                .hint(format!("{status}{said}"))
        }
        HookError::TimedOut { index, path, seconds, said, .. } => {
            StepError::new(format!("hook #{index} ({path})"), Errno::ETIME)
                .hint(format!("killed after its timeout of {seconds} s{said}"))
        }
        HookError::Wait { index, path, source, .. } => {
            StepError::new(format!("wait for hook #{index} ({path})"), errno(&source))
        }
    }
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
