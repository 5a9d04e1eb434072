//! What to run: the root filesystem, the command and its environment.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The search path a container starts with. It is the same list Docker uses: the
/// host's `PATH` may name directories that do not exist in the container's root.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a container may take to end after `SIGTERM` before it is killed, as
/// `docker stop` waits.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A container to run: the root filesystem, the command line and the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// A random identifier, 64 hex digits, as Docker makes them. Later chapters
    /// derive names from it: the default hostname, network interface names.
    pub id: String,
    /// The directory that becomes the container's `/` (from chapter 1 on).
    pub rootfs: PathBuf,
    /// `argv`: the command and its arguments. `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// The environment as `KEY=value` strings. The container does not inherit the
    /// runtime's environment: what a program sees should not depend on who started it.
    pub env: Vec<String>,
    /// After the runtime forwards `SIGTERM` or `SIGINT` to the container, how long
    /// it waits before it kills the container with `SIGKILL`.
    pub stop_timeout: Duration,
}

impl Container {
    /// A container running `argv` in `rootfs` with a minimal environment: `PATH`,
    /// `HOME`, and the caller's `TERM` so that an interactive shell draws correctly.
    pub fn new(rootfs: impl Into<PathBuf>, argv: Vec<String>) -> Self {
        let mut env = vec![format!("PATH={DEFAULT_PATH}"), "HOME=/root".to_owned()];
        if let Ok(term) = std::env::var("TERM") {
            env.push(format!("TERM={term}"));
        }
        let (id, rootfs) = (random_id(), rootfs.into());
        Container { id, rootfs, argv, env, stop_timeout: DEFAULT_STOP_TIMEOUT }
    }

    /// The first 12 hex digits of the id: what `docker ps` shows.
    pub fn short_id(&self) -> &str {
        // An id an engine chose (the OCI runtime's) may be shorter.
        self.id.get(..12).unwrap_or(&self.id)
    }

    /// The value of `PATH` in the container's environment.
    pub fn path_var(&self) -> &str {
        self.env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
    }
}

/// 32 random bytes from the kernel, as hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fill `bytes` from the kernel's random source: getrandom(2), one system
/// call where opening /dev/urandom takes three; the file where a seccomp
/// filter or an old kernel refuses the call. Neither can run dry; failing
/// both means a broken system, and a predictable id would be worse than
/// stopping.
fn fill_random(bytes: &mut [u8]) {
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is ours, and as long as we say.
        let read = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(read) {
            Ok(n) => filled += n,
            Err(_) => match std::io::Error::last_os_error().raw_os_error() {
                // Before the pool is ready (early boot), the call may wait,
                // and a signal may cut the wait short.
                Some(libc::EINTR) => {}
                _ => {
                    use std::io::Read;
                    std::fs::File::open("/dev/urandom")
                        .and_then(|mut f| f.read_exact(rest))
                        .expect("read /dev/urandom");
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let (a, b) = (Container::new("/r", vec![]), Container::new("/r", vec![]));
        assert_eq!(a.id.len(), 64);
        assert!(a.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.id, b.id);
        assert_eq!(a.short_id(), &a.id[..12]);
    }
}
