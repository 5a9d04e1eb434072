//! Compiled programs kept on disk, so a start does not pay libseccomp again.
//!
//! libseccomp 2.5 takes ~10 ms to compile and export Docker's profile for
//! x86_64 with its x86 and x32 sub-architectures (ours measured it; runc pays
//! it on every start). The same profile and the same capabilities always give
//! the same program, so, like crun (`.cache/seccomp` in its state directory),
//! we keep each program in a file named by a SHA-256 of everything it depends
//! on (a [`Key`]): the source of the code that compiles it (a learner who
//! changes `comparator()` gets a new program, not the old one), libseccomp's
//! version, the kernel (`uname`), and what the program is made from. That is
//! either a [`Filter`] ([`Cache::compile`]) or, for a start, the profile
//! *file's bytes* with the gates and capabilities (`Choice::program`): a start
//! that finds its file then reads ~12 KiB and parses no JSON at all.
//!
//! Whoever can write a program there decides what the next container may
//! call, so the cache trusts nothing it has not checked:
//!
//! - the directory is opened without following a symbolic link
//!   (`O_DIRECTORY | O_NOFOLLOW`) and used only if it is the runtime's own and
//!   nobody else may write to it (`fstat(2)`: owner, mode). Anyone may make a
//!   directory in `/tmp` before us, with an allow-all program in it under the
//!   name the next start will look for; such a directory is not used (one
//!   warning line, and the filter is compiled without the cache);
//! - files are opened relative to that directory's descriptor, so nobody can
//!   swap the directory after the check (`openat(2)`), with `O_NOFOLLOW` (no
//!   symbolic link out of it) and `O_NONBLOCK` (a FIFO does not block the
//!   start), and read only if they are regular files;
//! - a file starts with a SHA-256 of what follows (the filter's flags, then
//!   the program), checked on reading: a file cut short or damaged is
//!   compiled again, not installed;
//! - a program is written to a new file (`O_CREAT | O_EXCL | O_NOFOLLOW`),
//!   then renamed over the old one: a runtime starting beside us reads an old
//!   file or a whole new one.
//!
//! The cache only saves time: a cache that cannot be read or written costs a
//! warning and a compile, never a start.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{UnlinkatFlags, geteuid, unlinkat};
use sha2::{Digest, Sha256};

use super::{Filter, Program, Rule, SeccompError};

/// A directory of compiled programs, one file per filter and machine.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// The first line of a cache file; the second is the SHA-256 of the rest:
/// the program's `SECCOMP_FILTER_FLAG_*` bits (a C `unsigned long`,
/// little-endian), then its instructions.
const MAGIC: &[u8] = b"tincan seccomp program\n";

/// The size of the flags in a cache file.
const FLAGS: usize = std::mem::size_of::<libc::c_ulong>();

/// More than any file we write (a program has at most 4096 8-byte instructions).
const MAX_FILE: u64 = 64 * 1024;

/// The code that decides which program a filter compiles to and how it is
/// stored: part of the key, so that changing it (the workshop's exercise is
/// in `compile.rs`) changes the file's name.
const SOURCES: &[&str] = &[
    include_str!("compile.rs"),
    include_str!("filter.rs"),
    include_str!("install.rs"),
    include_str!("cache.rs"),
];

/// [`SOURCES`] hashed while the runtime is compiled, not at each start.
const COMPILER: [u8; 16] = code_digest(SOURCES);

/// A digest of source files, worked out by the compiler (`const fn`): FNV-1a
/// with 128 bits. Hashing our ~125 KB of sources with SHA-256 took ~60 µs of
/// every start. FNV is no cryptographic hash, and need not be: it tells
/// versions of our own code apart, and nobody but whoever builds the
/// runtime chooses that text. What a user chooses — the profile file's
/// bytes — goes into the SHA-256.
pub(super) const fn code_digest(sources: &[&str]) -> [u8; 16] {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut hash = OFFSET;
    let mut i = 0;
    while i < sources.len() {
        let bytes = sources[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            hash = (hash ^ bytes[j] as u128).wrapping_mul(PRIME);
            j += 1;
        }
        // A byte no UTF-8 text holds ends each file: ["ab", "c"] is not ["a", "bc"].
        hash = (hash ^ 0xff).wrapping_mul(PRIME);
        i += 1;
    }
    hash.to_le_bytes()
}

impl Cache {
    /// A cache in `dir` (made on first use, `0700`), such as the runtime's
    /// state directory's `seccomp/`.
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The program for `filter`: from the cache, or compiled and kept there.
    pub fn compile(&self, filter: &Filter) -> Result<Program, SeccompError> {
        self.program(filter_key(filter), || filter.compile())
    }

    /// The program kept under `key`, or the one `compile` makes, then kept
    /// there. Whoever makes the key puts in it everything `compile` depends on.
    pub(super) fn program(
        &self,
        key: Key,
        compile: impl FnOnce() -> Result<Program, SeccompError>,
    ) -> Result<Program, SeccompError> {
        let dir = match self.open_dir() {
            Ok(dir) => dir,
            Err(why) => {
                self.warn(&format!("not using it: {why}"));
                return compile();
            }
        };
        let name = key.name();
        // A file that is not a whole program is compiled again.
        if let Some(program) = read(&dir, &name) {
            return Ok(program);
        }
        let program = compile()?;
        if let Err(e) = keep(&dir, &name, &program) {
            self.warn(&format!("cannot keep the compiled filter in it: {e}"));
        }
        Ok(program)
    }

    fn warn(&self, what: &str) {
        eprintln!("warning: the seccomp cache {}: {what}", self.dir.display());
    }

    /// The directory, made if missing, if it is ours and nobody else's to
    /// write: else why not, with what to do.
    fn open_dir(&self) -> Result<OwnedFd, String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot make it: {e}"))?;
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let dir = open(&self.dir, flags, Mode::empty()).map_err(|e| match e {
            // O_NOFOLLOW | O_DIRECTORY on a symbolic link: ENOTDIR.
            Errno::ELOOP | Errno::ENOTDIR => {
                "it is not a directory (a symbolic link, say): remove it".to_owned()
            }
            e => format!("cannot open it: {e}"),
        })?;
        let stat = fstat(&dir).map_err(|e| format!("cannot read its owner: {e}"))?;
        let me = geteuid().as_raw();
        if stat.st_uid != me {
            return Err(format!("it belongs to uid {}, not to us ({me}): remove it", stat.st_uid));
        }
        if stat.st_mode & 0o022 != 0 {
            let mode = stat.st_mode & 0o7777;
            return Err(format!("others may write to it (mode {mode:o}): chmod 700 it"));
        }
        Ok(dir)
    }
}

/// The program kept as `name` in `dir`, if that is a regular file whose
/// contents match their SHA-256.
fn read(dir: &OwnedFd, name: &str) -> Option<Program> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let file = openat(dir, name, flags, Mode::empty()).ok()?;
    let kind = SFlag::from_bits_truncate(fstat(&file).ok()?.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFREG {
        return None;
    }
    let mut bytes = Vec::new();
    File::from(file).take(MAX_FILE).read_to_end(&mut bytes).ok()?;
    let (digest, body) = bytes.strip_prefix(MAGIC)?.split_at_checked(65)?;
    if digest != digest_line(body) {
        return None;
    }
    let (flags, program) = body.split_first_chunk::<FLAGS>()?;
    Program::from_bytes(program, libc::c_ulong::from_le_bytes(*flags)).ok()
}

/// What a cache file holds for `program`.
fn contents(program: &Program) -> Vec<u8> {
    let body = [&program.flags().to_le_bytes()[..], &program.to_bytes()].concat();
    [MAGIC, &digest_line(&body), &body].concat()
}

/// Keep `program` as `name` in `dir`: a new file, then a rename.
fn keep(dir: &OwnedFd, name: &str, program: &Program) -> Result<(), Errno> {
    // Unique in this process; O_EXCL refuses a name another process has.
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let temporary = format!(".{name}.{}.{n}.tmp", std::process::id());
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let file = openat(dir, temporary.as_str(), flags, Mode::from_bits_truncate(0o600))?;
    let kept = File::from(file)
        .write_all(&contents(program))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        .and_then(|()| renameat(dir, temporary.as_str(), dir, name));
    if kept.is_err() {
        let _ = unlinkat(dir, temporary.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    kept
}

/// The SHA-256 of `bytes` in hex, and a newline.
fn digest_line(bytes: &[u8]) -> Vec<u8> {
    [hex(&Sha256::digest(bytes)).as_bytes(), b"\n"].concat()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cache file's name in the making: a SHA-256 of what its program depends on.
pub(super) struct Key(Sha256);

impl Key {
    /// A key for a program made from `what` (`"filter"`, `"profile file"`) on
    /// this machine by the compiler's code. Its maker then [`Key::put`]s the
    /// rest, with the [`code_digest`] of any code that turns `what` into a
    /// filter.
    pub(super) fn new(what: &str) -> Key {
        let mut key = Key(Sha256::new());
        key.put(what.as_bytes());
        key.put(&COMPILER);
        let uname = nix::sys::utsname::uname().ok();
        let kernel = uname.as_ref().map(|u| (u.release(), u.version(), u.machine()));
        let library = libseccomp::ScmpVersion::current().ok().map(|v| (v.major, v.minor, v.micro));
        key.put(format!("{library:?} {kernel:?}").as_bytes());
        key
    }

    /// Add one part. Each goes in after its length, so no two lists of parts
    /// hash alike (a profile file may hold any byte, so no byte can end one).
    pub(super) fn put(&mut self, part: &[u8]) {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part);
    }

    /// The file's name: the SHA-256 in hex.
    pub(super) fn name(self) -> String {
        hex(&self.0.finalize())
    }
}

/// The key of the program for `filter`.
fn filter_key(filter: &Filter) -> Key {
    let mut key = Key::new("filter");
    let Filter { default_action, default_errno_ret, architectures, flags, rules } = filter;
    let mut put = |part: String| key.put(part.as_bytes());
    put(format!("{default_action:?} {default_errno_ret:?} {architectures:?} {flags:?}"));
    for Rule { names, action, errno_ret, args } in rules {
        put(format!("{} {action:?} {errno_ret:?} {args:?}", names.len()));
        names.iter().for_each(|name| put(name.clone()));
    }
    key
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use caps::CapsHashSet;

    use super::*;
    use crate::seccomp::testing::{
        default_profile, errno, in_filtered_child, no_new_privs, profile, root_or_skip,
    };

    const DENY_MKDIR: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;

    fn deny_mkdir() -> Filter {
        profile(DENY_MKDIR).filter(&CapsHashSet::new(), &crate::seccomp::Host::this().unwrap())
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The file the cache keeps for `filter` in `dir`.
    fn file_for(dir: &Path, filter: &Filter) -> PathBuf {
        dir.join(filter_key(filter).name())
    }

    #[test]
    fn the_first_compile_keeps_the_program_and_the_next_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("seccomp"));
        let filter = deny_mkdir();
        let compiled = cache.compile(&filter).unwrap();
        let [name] = &files(&dir.path().join("seccomp"))[..] else { panic!("one file") };
        assert!(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let mode = fs::metadata(dir.path().join("seccomp")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // The magic line, the SHA-256 in hex of the rest: the flags, the program.
        let kept = fs::read(dir.path().join("seccomp").join(name)).unwrap();
        let body = [&[0; FLAGS][..], &compiled.to_bytes()].concat();
        let digest: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let expected = [&b"tincan seccomp program\n"[..], digest.as_bytes(), b"\n", &body];
        assert_eq!(kept, expected.concat());
        // Read back, it is the same program, and the kernel enforces it.
        let read = cache.compile(&filter).unwrap();
        assert_eq!(read.to_bytes(), compiled.to_bytes());
        // SAFETY: a valid C string.
        let mkdir =
            || vec![errno(unsafe { libc::mkdir(c"/nonexistent-parent/x".as_ptr(), 0o700) }.into())];
        assert_eq!(in_filtered_child(&read, no_new_privs, mkdir), Ok(vec![libc::EACCES]));
    }

    #[test]
    fn a_file_cut_short_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let filter = deny_mkdir();
        let compiled = cache.compile(&filter).unwrap();
        let file = file_for(dir.path(), &filter);
        let whole = fs::read(&file).unwrap();
        fs::write(&file, &whole[..whole.len() - 13]).unwrap();
        assert_eq!(cache.compile(&filter).unwrap().to_bytes(), compiled.to_bytes());
        assert_eq!(fs::read(&file).unwrap(), whole, "the file is whole again");
    }

    #[test]
    fn a_program_changed_in_the_file_fails_its_checksum_and_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let filter = deny_mkdir();
        let compiled = cache.compile(&filter).unwrap();
        let file = file_for(dir.path(), &filter);
        let whole = fs::read(&file).unwrap();
        // The last instruction's `k`: still a program of whole instructions,
        // one that says something else.
        let mut changed = whole.clone();
        *changed.last_mut().unwrap() ^= 0xff;
        fs::write(&file, &changed).unwrap();
        assert_eq!(cache.compile(&filter).unwrap().to_bytes(), compiled.to_bytes());
        assert_eq!(fs::read(&file).unwrap(), whole, "the file is whole again");
    }

    #[test]
    fn a_symbolic_link_or_a_fifo_in_the_cache_is_not_followed_and_blocks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("seccomp");
        fs::create_dir(&cache_dir).unwrap();
        let filter = deny_mkdir();
        let compiled = Cache::new(&cache_dir).compile(&filter).unwrap();
        let file = file_for(&cache_dir, &filter);
        let whole = fs::read(&file).unwrap();
        // A link to a file elsewhere: an allow-all program, with a right checksum.
        let allow_all = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
            .filter(&CapsHashSet::new(), &crate::seccomp::Host::this().unwrap())
            .compile()
            .unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, contents(&allow_all)).unwrap();
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        assert_eq!(
            Cache::new(&cache_dir).compile(&filter).unwrap().to_bytes(),
            compiled.to_bytes()
        );
        assert!(fs::symlink_metadata(&file).unwrap().is_file(), "the link is replaced by a file");
        // A FIFO: opened without blocking, then replaced.
        fs::remove_file(&file).unwrap();
        nix::unistd::mkfifo(&file, Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            Cache::new(&cache_dir).compile(&filter).unwrap().to_bytes(),
            compiled.to_bytes()
        );
        assert!(fs::symlink_metadata(&file).unwrap().is_file(), "the FIFO is replaced by a file");
        assert_eq!(fs::read(&file).unwrap(), whole);
        assert_eq!(files(&cache_dir).len(), 1, "no temporary file is left");
    }

    /// The reason `dir` is refused; the cache then compiles without writing there.
    fn refused(dir: &Path) -> String {
        let cache = Cache::new(dir);
        let why = cache.open_dir().expect_err("a directory the cache must not use");
        let before = files(dir);
        assert_eq!(
            cache.compile(&deny_mkdir()).unwrap().to_bytes(),
            deny_mkdir().compile().unwrap().to_bytes()
        );
        assert_eq!(files(dir), before, "nothing written there");
        why
    }

    #[test]
    fn a_directory_others_may_write_to_is_not_used() {
        for mode in [0o777, 0o770, 0o702] {
            let dir = tempfile::tempdir().unwrap();
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
            let why = refused(dir.path());
            assert_eq!(why, format!("others may write to it (mode {mode:o}): chmod 700 it"));
        }
    }

    #[test]
    fn a_directory_of_another_user_is_not_used() {
        if !root_or_skip() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("seccomp");
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::chown(&theirs, Some(nobody), None).unwrap();
        assert_eq!(refused(&theirs), "it belongs to uid 65534, not to us (0): remove it");
    }

    #[test]
    fn a_directory_that_is_a_symbolic_link_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("seccomp");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(refused(&link), "it is not a directory (a symbolic link, say): remove it");
        assert!(files(&real).is_empty());
    }

    #[test]
    fn the_key_changes_with_the_compilers_source() {
        let digest = code_digest;
        assert_ne!(digest(&["fn comparator() { a }"]), digest(&["fn comparator() { b }"]));
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["same"]), digest(&["same"]));
        assert_eq!(COMPILER, digest(SOURCES));
        // The workshop's exercise is in compile.rs; its text is in the key.
        assert!(SOURCES.iter().any(|s| s.contains("fn comparator(arg: &Arg) -> ScmpArgCompare")));
        assert!(SOURCES.iter().any(|s| s.contains("fn from_bytes(")));
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
