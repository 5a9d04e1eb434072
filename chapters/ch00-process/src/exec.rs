//! Finding the command and replacing the child with it: `execve(2)`.

use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::Container;
use crate::handshake::ChildFailure;

/// Find `command` the way a shell does: a name with a `/` is a path; any other
/// name is looked up in each directory of `path_var`, in order, and the first
/// executable file of that name wins (a file without `x` is passed over, as
/// `execvp(3)` passes it over).
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
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ANCHOR: exec
/// Replace this process with the container's command. Returns only on failure.
pub fn exec(container: &Container) -> ChildFailure {
    let command = container.argv.first().cloned().unwrap_or_default();
    let Some(path) = resolve(&command, container.path_var()) else {
        return ChildFailure::NotFound { command };
    };
    // Strings with an interior NUL byte cannot be passed to the kernel.
    let (Ok(c_path), Ok(argv), Ok(env)) = (
        CString::new(path.as_os_str().as_encoded_bytes()),
        cstrings(&container.argv),
        cstrings(&container.env),
    ) else {
        return ChildFailure::CannotExecute { command, errno: Errno::EINVAL as i32 };
    };
    // Nothing but stdin, stdout and stderr may reach the command: whatever else
    // the runtime had open (a state lock, a pipe, a directory of the host — runc's
    // CVE-2024-21626 was such a leaked descriptor) closes at execve.
    close_on_exec_from(3);
    crate::signals::reset_to_defaults();
    match nix::unistd::execve(&c_path, &argv, &env) {
        Err(Errno::ENOENT) => match missing_interpreter(&path) {
            Some(interpreter) => ChildFailure::InterpreterMissing { command, interpreter },
            None => ChildFailure::NotFound { command },
        },
        Err(errno) => ChildFailure::CannotExecute { command, errno: errno as i32 },
    }
}
// ANCHOR_END: exec

/// Mark every descriptor from `first` up close-on-exec. Not closed at once: the
/// handshake's pipe must stay usable until `execve`, to report a failure.
fn close_on_exec_from(first: u32) {
    // SAFETY: F_SETFD only changes a descriptor's flags (EBADF if it is not open).
    each_from(first, libc::CLOSE_RANGE_CLOEXEC, |fd| unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    });
}

/// Close every descriptor from `first` up, now: for a process that never
/// executes anything (`--init`'s PID 1).
pub(crate) fn close_from(first: u32) {
    // SAFETY: closing descriptors this process no longer uses (EBADF if not open).
    each_from(first, 0, |fd| unsafe {
        libc::close(fd);
    });
}

/// `close_range(2)` with `flags` over every descriptor from `first` up; on a
/// kernel without it (before 5.9; 5.11 for CLOSE_RANGE_CLOEXEC), `one_by_one` on
/// every number up to the highest a descriptor may have.
fn each_from(first: u32, flags: libc::c_uint, one_by_one: impl Fn(libc::c_int)) {
    // SAFETY: a plain system call on this process's descriptor table.
    let done = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) };
    if done == 0 {
        return;
    }
    let (limit, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1 << 20, 1 << 20));
    for fd in first..limit.min(1 << 20) as u32 {
        one_by_one(fd as libc::c_int);
    }
}

/// `execve` says `ENOENT` for a file that exists when the program it names to
/// run it is missing: the dynamic loader of an ELF program (its `PT_INTERP`,
/// such as `/lib64/ld-linux-x86-64.so.2`, which then loads the C library), or the
/// interpreter on a script's `#!` line. Which one is missing, if that is it?
fn missing_interpreter(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(4096).read_to_end(&mut head).ok()?;
    let interpreter = match head.strip_prefix(b"#!") {
        Some(line) => {
            let line = line.split(|b| *b == b'\n').next()?;
            let line = String::from_utf8_lossy(line);
            line.split_whitespace().next()?.to_owned()
        }
        None => elf_interpreter(path)?,
    };
    (!Path::new(&interpreter).exists()).then_some(interpreter)
}

/// The `PT_INTERP` of a 64-bit little-endian ELF file (`man 5 elf`): the program
/// headers start at `e_phoff`, each `e_phentsize` bytes; an entry of type 3 points
/// at the loader's path, NUL-terminated.
fn elf_interpreter(path: &Path) -> Option<String> {
    let elf = std::fs::read(path).ok()?;
    let u16_at = |i: usize| Some(u16::from_le_bytes(elf.get(i..i + 2)?.try_into().ok()?) as usize);
    let u32_at = |i: usize| Some(u32::from_le_bytes(elf.get(i..i + 4)?.try_into().ok()?));
    let u64_at = |i: usize| Some(u64::from_le_bytes(elf.get(i..i + 8)?.try_into().ok()?) as usize);
    if elf.get(..5)? != b"\x7fELF\x02" || elf.get(5) != Some(&1) {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    (0..phnum).find_map(|i| {
        let header = phoff + i * phentsize;
        const PT_INTERP: u32 = 3;
        (u32_at(header)? == PT_INTERP).then_some(())?;
        let (offset, size) = (u64_at(header + 8)?, u64_at(header + 32)?);
        let bytes = elf.get(offset..offset + size)?;
        let bytes = bytes.split(|b| *b == 0).next()?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    })
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
    fn the_first_executable_match_in_path_wins() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        fs::create_dir_all(a.join("tool")).unwrap(); // a directory, not a command
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("tool"), "").unwrap(); // a file, but not executable
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("tool"), "").unwrap();
        fs::set_permissions(c.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let path_var = format!("{}::{}:{}", a.display(), b.display(), c.display());
        assert_eq!(resolve("tool", &path_var), Some(c.join("tool")));
        assert_eq!(resolve("missing", &path_var), None);
    }

    #[test]
    fn a_scripts_missing_interpreter_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        fs::write(&script, "#!/nonexistent/bash -e\necho hi\n").unwrap();
        assert_eq!(missing_interpreter(&script).as_deref(), Some("/nonexistent/bash"));
        fs::write(&script, "#!/bin/sh\n").unwrap(); // this one exists
        assert_eq!(missing_interpreter(&script), None);
    }

    /// This test binary is a dynamically linked program: its loader is the
    /// host's, an absolute path that exists.
    #[test]
    fn an_elf_programs_loader_is_read_from_its_headers() {
        let exe = std::env::current_exe().unwrap();
        let loader = elf_interpreter(&exe).expect("a dynamically linked test binary");
        assert!(loader.starts_with('/') && loader.contains("ld-"), "{loader}");
        assert_eq!(missing_interpreter(&exe), None);
    }
}
