//! Compiled programs kept on disk, so a start does not pay libseccomp again.
//!
//! libseccomp 2.5 takes ~10 ms to compile and export Docker's profile for
//! x86_64 with its x86 and x32 sub-architectures (ours measured it; runc pays
//! it on every start). The same profile and the same capabilities always give
//! the same program, so, like crun (`.cache/seccomp` in its state directory),
//! we keep each program in a file named by a SHA-256 of everything it depends
//! on: the filter, tincan's and libseccomp's versions, and the kernel
//! (`uname`). A start that finds its file reads ~10 KiB instead.
//!
//! The directory must be as private as the runtime's state (`0700`, root's):
//! whoever can write a program there decides what the next container may call.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Filter, Program, Rule, SeccompError};

/// A directory of compiled programs, one file per filter and machine.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (made on first use, `0700`), such as the runtime's
    /// state directory's `seccomp/`.
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The program for `filter`: from the cache, or compiled and kept there.
    pub fn compile(&self, filter: &Filter) -> Result<Program, SeccompError> {
        let path = self.dir.join(key(filter));
        match fs::read(&path) {
            // A file that is not a program (cut short, say) is compiled again.
            Ok(bytes) => {
                if let Ok(program) = Program::from_bytes(&bytes, filter.flag_bits()) {
                    return Ok(program);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(SeccompError::Cache { path, source }),
        }
        let program = filter.compile()?;
        self.keep(&path, &program.to_bytes())
            .map_err(|source| SeccompError::Cache { path, source })?;
        Ok(program)
    }

    /// Write the file whole or not at all: a temporary file, then a rename,
    /// so a runtime starting beside us reads an old file or a full one.
    fn keep(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        fs::rename(&temporary, path).inspect_err(|_| drop(fs::remove_file(&temporary)))
    }
}

/// The file's name: a SHA-256 of what the program depends on.
fn key(filter: &Filter) -> String {
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname.as_ref().map(|u| (u.release(), u.version(), u.machine()));
    let library = libseccomp::ScmpVersion::current().ok().map(|v| (v.major, v.minor, v.micro));
    let mut hash = Sha256::new();
    // Each part ends with a 0 byte, so no two lists of parts hash alike.
    let mut put = |part: &str| hash.update([part.as_bytes(), &[0]].concat());
    // tincan's version: how it compiles may change with it.
    put(env!("CARGO_PKG_VERSION"));
    put(&format!("{library:?} {kernel:?}"));
    let Filter { default_action, default_errno_ret, architectures, flags, rules } = filter;
    put(&format!("{default_action:?} {default_errno_ret:?} {architectures:?} {flags:?}"));
    for Rule { names, action, errno_ret, args } in rules {
        put(&format!("{} {action:?} {errno_ret:?} {args:?}", names.len()));
        names.iter().for_each(|name| put(name));
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use caps::CapsHashSet;

    use super::*;
    use crate::seccomp::testing::{
        default_profile, errno, in_filtered_child, no_new_privs, profile,
    };

    const DENY_MKDIR: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_first_compile_keeps_the_program_and_the_next_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("seccomp"));
        let filter =
            profile(DENY_MKDIR).filter(&CapsHashSet::new(), &crate::seccomp::Host::this().unwrap());
        let compiled = cache.compile(&filter).unwrap();
        let [name] = &files(&dir.path().join("seccomp"))[..] else { panic!("one file") };
        assert!(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let mode = fs::metadata(dir.path().join("seccomp")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = dir.path().join("seccomp").join(name);
        assert_eq!(fs::read(&file).unwrap(), compiled.to_bytes());
        // Read back, it is the same program, and the kernel enforces it.
        let read = cache.compile(&filter).unwrap();
        assert_eq!(read.to_bytes(), compiled.to_bytes());
        // SAFETY: a valid C string.
        let mkdir =
            || vec![errno(unsafe { libc::mkdir(c"/nonexistent-parent/x".as_ptr(), 0o700) }.into())];
        assert_eq!(in_filtered_child(&read, no_new_privs, mkdir), Ok(vec![libc::EACCES]));
    }

    #[test]
    fn a_damaged_file_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let filter =
            profile(DENY_MKDIR).filter(&CapsHashSet::new(), &crate::seccomp::Host::this().unwrap());
        let compiled = cache.compile(&filter).unwrap();
        let file = dir.path().join(&files(dir.path())[0]);
        fs::write(&file, &compiled.to_bytes()[..13]).unwrap();
        assert_eq!(cache.compile(&filter).unwrap().to_bytes(), compiled.to_bytes());
        assert_eq!(fs::read(&file).unwrap(), compiled.to_bytes(), "the file is whole again");
    }

    #[test]
    fn other_capabilities_are_another_program() {
        let Some(profile) = default_profile() else { return };
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let none = profile.compile_cached(&CapsHashSet::new(), &cache).unwrap();
        let all = profile.compile_cached(&caps::all(), &cache).unwrap();
        assert_eq!(files(dir.path()).len(), 2);
        assert_ne!(none.to_bytes(), all.to_bytes());
        assert_eq!(
            profile.compile_cached(&caps::all(), &cache).unwrap().to_bytes(),
            all.to_bytes()
        );
        assert_eq!(files(dir.path()).len(), 2, "no third file");
    }
}
