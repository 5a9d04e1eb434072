//! Finding the command and replacing the child with it: `execve(2)`.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::Container;
use crate::handshake::ChildFailure;

/// Find `command` the way a shell does: a name with a `/` is a path; any other
/// name is looked up in each directory of `path_var`, in order.
///
/// We search ourselves, after the chapter's steps have run, instead of calling
/// `execvp(3)`: that would search the *runtime's* `PATH`, not the container's.
pub fn resolve(command: &str, path_var: &str) -> Option<PathBuf> {
    if command.contains('/') {
        return Some(PathBuf::from(command));
    }
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(command))
        .find(|candidate| candidate.is_file())
}

/// Replace this process with the container's command. Returns only on failure.
pub fn exec(container: &Container) -> ChildFailure {
    let command = container.argv.first().cloned().unwrap_or_default();
    let not_found = || ChildFailure::NotFound { command: command.clone() };
    let Some(path) = resolve(&command, container.path_var()) else {
        return not_found();
    };
    let cannot = |errno: Errno| ChildFailure::CannotExecute {
        command: command.clone(),
        errno: errno as i32,
    };
    // Strings with an interior NUL byte cannot be passed to the kernel.
    let (Ok(path), Ok(argv), Ok(env)) = (
        CString::new(path.into_os_string().into_encoded_bytes()),
        cstrings(&container.argv),
        cstrings(&container.env),
    ) else {
        return cannot(Errno::EINVAL);
    };
    match nix::unistd::execve(&path, &argv, &env) {
        Err(Errno::ENOENT) => not_found(),
        Err(errno) => cannot(errno),
    }
}

fn cstrings(strings: &[String]) -> Result<Vec<CString>, std::ffi::NulError> {
    strings.iter().map(|s| CString::new(s.as_bytes())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_name_with_a_slash_is_used_as_is() {
        assert_eq!(resolve("./x", ""), Some(PathBuf::from("./x")));
    }

    #[test]
    fn the_first_match_in_path_wins_and_directories_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(a.join("tool")).unwrap(); // a directory, not a command
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("tool"), "").unwrap();
        let path_var = format!("{}::{}", a.display(), b.display());
        assert_eq!(resolve("tool", &path_var), Some(b.join("tool")));
        assert_eq!(resolve("missing", &path_var), None);
    }
}
