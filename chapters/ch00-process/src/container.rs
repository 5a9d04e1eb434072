//! What to run: the root filesystem, the command and its environment.

use std::path::PathBuf;

/// The search path a container starts with. It is the same list Docker uses: the
/// host's `PATH` may name directories that do not exist in the container's root.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container to run: the root filesystem, the command line and the environment.
#[derive(Debug, Clone)]
pub struct Container {
    /// The directory that becomes the container's `/` (from chapter 1 on).
    pub rootfs: PathBuf,
    /// `argv`: the command and its arguments. `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// The environment as `KEY=value` strings. The container does not inherit the
    /// runtime's environment: what a program sees should not depend on who started it.
    pub env: Vec<String>,
}

impl Container {
    /// A container running `argv` in `rootfs` with a minimal environment: `PATH`,
    /// `HOME`, and the caller's `TERM` so that an interactive shell draws correctly.
    pub fn new(rootfs: impl Into<PathBuf>, argv: Vec<String>) -> Self {
        let mut env = vec![format!("PATH={DEFAULT_PATH}"), "HOME=/root".to_owned()];
        if let Ok(term) = std::env::var("TERM") {
            env.push(format!("TERM={term}"));
        }
        Container { rootfs: rootfs.into(), argv, env }
    }

    /// The value of `PATH` in the container's environment.
    pub fn path_var(&self) -> &str {
        self.env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
    }
}
