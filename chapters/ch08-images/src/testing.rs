//! What the crate's tests share: the root check, a forked child for what must
//! not touch the test process (mounts, ids), and a container with a store.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use ch00_process::clone::CloneInto;
use ch00_process::{Container, Context, State, Step, StepError};
use nix::sched::CloneFlags;
use nix::unistd::ForkResult;
use tempfile::TempDir;

use crate::overlay::Overlay;

/// True if we are root. Otherwise say the test is skipped (the convention of
/// `tests/it/support/skip.rs`: libtest names the thread after the test), or,
/// under `CI=true`, fail.
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{name}: needs root, and CI=true");
    // Past libtest's capture, which takes `eprintln!`.
    let _ = writeln!(io::stderr(), "SKIPPED {name}: needs root");
    false
}

/// Run `f` in a forked child, whose changes (mounts, cwd, ids) die with it,
/// and return what it reports.
pub fn in_a_child(f: impl FnOnce() -> String) -> String {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    // SAFETY: the child runs `f` and leaves with _exit; glibc's allocator is
    // safe to use in a child of a multi-threaded process.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read);
            let report = catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|_| "the child panicked (its message is above)".into());
            let _ = File::from(write).write_all(report.as_bytes());
            // SAFETY: ends the child at once, running none of the test's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut report = String::new();
            File::from(read).read_to_string(&mut report).expect("the child's report");
            nix::sys::wait::waitpid(child, None).expect("wait for the child");
            report
        }
    }
}

/// A store, a container whose rootfs is in it, and the container's state.
pub struct Fixture {
    pub store: TempDir,
    _states: TempDir,
    pub container: Container,
    pub state: State,
}

impl Fixture {
    pub fn new() -> Fixture {
        let (store, states) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        fs::create_dir(store.path().join("containers")).unwrap();
        let mut container = Container::new("/", vec![]);
        container.rootfs = store.path().join("containers").join(&container.id).join("rootfs");
        let state = State::create(states.path(), &container).unwrap();
        Fixture { store, _states: states, container, state }
    }

    pub fn cx(&self) -> Context<'_> {
        let (container, state) = (&self.container, &self.state);
        Context { container, namespaces: CloneFlags::empty(), state, console: None }
    }

    pub fn dir(&self) -> PathBuf {
        self.container.rootfs.parent().unwrap().to_owned()
    }

    /// Layer `n` in the store, named like a diff id, holding `files`.
    pub fn layer(&self, n: usize, files: &[(&str, &str)]) -> PathBuf {
        let layer = self.store.path().join(format!("layers/sha256/{n:064x}"));
        fs::create_dir_all(&layer).unwrap();
        for (path, text) in files {
            let path = layer.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        layer
    }

    pub fn prepare(&self, overlay: &Overlay) -> Result<(), StepError> {
        overlay.before_clone(&self.cx(), &mut CloneInto::default())
    }
}
