//! `--security-opt seccomp=…`: which profile, if any, and its program for a
//! start.
//!
//! A start needs a program, not a profile: [`Choice::program`] looks it up in
//! the cache by the profile *file's bytes* — with whether Docker's gates go on
//! top, the capabilities and the machine — before reading a word of them.
//! Parsing Podman's profile and putting the gates on costs ~0.25 ms, more
//! than reading the program it gives; a start that finds its program pays
//! neither. The bytes decide everything the parse, the gates and the choice
//! of rules would, so the code that does those is in the key too, as the
//! compiler's is.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::CapsHashSet;

use super::cache::{Cache, Key, code_digest};
use super::select::Host;
use super::{DEFAULT_PROFILE, Profile, Program, SeccompError};

/// The value of `--security-opt seccomp=VALUE`, as Docker and Podman take it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// No option: [`DEFAULT_PROFILE`] with Docker's gates on top
    /// ([`Profile::with_docker_gates`]).
    #[default]
    Default,
    /// `unconfined`: no filter at all.
    Unconfined,
    /// `PROFILE.json`: this profile, as it is (no gates added, as Docker does).
    File(PathBuf),
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(value: &str) -> Result<Choice, String> {
        match value {
            "" => Err("--security-opt seccomp= needs a profile's path or `unconfined`".into()),
            "unconfined" => Ok(Choice::Unconfined),
            path => Ok(Choice::File(path.into())),
        }
    }
}

impl Choice {
    /// The profile to compile, or `None` for `unconfined`.
    pub fn profile(&self) -> Result<Option<Profile>, SeccompError> {
        match self {
            Choice::Default => {
                Profile::read(Path::new(DEFAULT_PROFILE)).map(|p| Some(p.with_docker_gates()))
            }
            Choice::Unconfined => Ok(None),
            Choice::File(path) => Profile::read(path).map(Some),
        }
    }

    /// The program for a container whose bounding set is `caps`, or `None`
    /// for `unconfined`: kept in `cache` by the profile file's bytes, so a
    /// start that compiled these bytes before parses nothing; any other start
    /// parses them (a broken profile is an error, never a cached program),
    /// compiles and keeps the program.
    pub fn program(
        &self,
        caps: &CapsHashSet,
        cache: &Cache,
    ) -> Result<Option<Program>, SeccompError> {
        let (path, gates) = match self {
            Choice::Default => (Path::new(DEFAULT_PROFILE), true),
            Choice::Unconfined => return Ok(None),
            Choice::File(path) => (path.as_path(), false),
        };
        let bytes = Profile::read_bytes(path)?;
        let host = Host::this()?;
        let compile = || {
            let profile = Profile::from_file_bytes(&bytes, path)?;
            let profile = if gates { profile.with_docker_gates() } else { profile };
            profile.filter(caps, &host).compile()
        };
        cache.program(profile_key(&bytes, gates, caps, &host), compile).map(Some)
    }
}

/// The code that turns a profile file's bytes into a filter, besides the
/// compiler (which every key has): reading, choosing rules, this file.
const PROFILE_CODE: [u8; 16] = code_digest(&[
    include_str!("profile.rs"),
    include_str!("select.rs"),
    include_str!("choice.rs"),
]);

/// Docker's gates: their table is code, and a changed table another program.
const GATES_CODE: [u8; 16] = code_digest(&[include_str!("gates.rs")]);

/// The key of the program made from the profile file `bytes`, with Docker's
/// gates or without, for `caps` on `host`.
fn profile_key(bytes: &[u8], gates: bool, caps: &CapsHashSet, host: &Host) -> Key {
    let mut key = Key::new("profile file");
    key.put(&PROFILE_CODE);
    key.put(bytes);
    key.put(if gates { &GATES_CODE } else { b"no gates" });
    // A set has no order: the capabilities' numbers, sorted.
    let mut numbers: Vec<u8> = caps.iter().map(|cap| cap.index()).collect();
    numbers.sort_unstable();
    key.put(&numbers);
    key.put(format!("{host:?}").as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfined_is_no_profile_and_anything_else_a_file() {
        assert_eq!("unconfined".parse(), Ok(Choice::Unconfined));
        assert_eq!("my.json".parse(), Ok(Choice::File("my.json".into())));
        assert!("".parse::<Choice>().unwrap_err().contains("`unconfined`"));
        assert!(Choice::Unconfined.profile().unwrap().is_none());
        let missing = Choice::File("/nonexistent/p.json".into()).profile().unwrap_err();
        assert!(matches!(missing, SeccompError::Missing { .. }), "{missing}");
    }

    const DENY_MKDIR: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"], "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn the_key_changes_with_each_byte_the_gates_the_capabilities_and_the_host() {
        let host = Host::this().unwrap();
        let none = CapsHashSet::new();
        let key = |bytes: &[u8], gates, caps: &CapsHashSet, host: &Host| {
            profile_key(bytes, gates, caps, host).name()
        };
        let base = key(DENY_MKDIR.as_bytes(), false, &none, &host);
        assert_eq!(base, key(DENY_MKDIR.as_bytes(), false, &none, &host));
        let mut changed = DENY_MKDIR.as_bytes().to_vec();
        *changed.last_mut().unwrap() = b' ';
        assert_ne!(base, key(&changed, false, &none, &host), "one byte");
        assert_ne!(base, key(DENY_MKDIR.as_bytes(), true, &none, &host), "the gates");
        let admin = CapsHashSet::from([caps::Capability::CAP_SYS_ADMIN]);
        assert_ne!(base, key(DENY_MKDIR.as_bytes(), false, &admin, &host), "a capability");
        let older = Host { kernel: crate::seccomp::KernelVersion { major: 4, minor: 8 }, ..host };
        assert_ne!(base, key(DENY_MKDIR.as_bytes(), false, &none, &older), "the kernel");
        // The same set, made in another order, is the same key.
        let two = [caps::Capability::CAP_CHOWN, caps::Capability::CAP_KILL];
        assert_eq!(
            key(b"p", false, &CapsHashSet::from(two), &host),
            key(b"p", false, &two.into_iter().rev().collect(), &host)
        );
    }

    #[test]
    fn a_kept_program_is_served_only_for_the_bytes_it_was_made_from() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let path = dir.path().join("mine.json");
        std::fs::write(&path, DENY_MKDIR).unwrap();
        let choice = Choice::File(path.clone());
        let none = CapsHashSet::new();
        let first = choice.program(&none, &cache).unwrap().unwrap();
        let again = choice.program(&none, &cache).unwrap().unwrap();
        assert_eq!(again.to_bytes(), first.to_bytes());
        assert_eq!(again.flags(), libc::SECCOMP_FILTER_FLAG_TSYNC, "the flags are kept too");
        assert_eq!(files(&dir.path().join("cache")), 1);
        // Another errno: the file's bytes changed, so does the program.
        std::fs::write(&path, DENY_MKDIR.replace("13", "1")).unwrap();
        let other = choice.program(&none, &cache).unwrap().unwrap();
        assert_ne!(other.to_bytes(), first.to_bytes());
        assert_eq!(files(&dir.path().join("cache")), 2);
        // A broken file is an error naming it, not the program kept for the
        // bytes it had before.
        std::fs::write(&path, &DENY_MKDIR[..DENY_MKDIR.len() - 1]).unwrap();
        let e = choice.program(&none, &cache).unwrap_err().to_string();
        assert!(e.starts_with(&format!("seccomp profile {}: ", path.display())), "{e}");
        assert_eq!(files(&dir.path().join("cache")), 2, "nothing kept for it");
    }

    #[test]
    fn a_start_that_finds_its_program_parses_nothing() {
        // Plant a program under the key of bytes that do not parse: served
        // as it is, so nothing read them. (The cache never keeps one for such
        // bytes: see the test above.)
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{ not json").unwrap();
        let none = CapsHashSet::new();
        let planted = crate::seccomp::testing::profile(DENY_MKDIR)
            .filter(&none, &Host::this().unwrap())
            .compile()
            .unwrap();
        let key = profile_key(b"{ not json", false, &none, &Host::this().unwrap());
        cache.program(key, || Ok(planted.clone())).unwrap();
        let served = Choice::File(path).program(&none, &cache).unwrap().unwrap();
        assert_eq!(served.to_bytes(), planted.to_bytes());
    }

    #[test]
    fn the_default_choice_is_the_gated_profiles_program_and_unconfined_none() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert!(Choice::Unconfined.program(&CapsHashSet::new(), &cache).unwrap().is_none());
        assert_eq!(files(dir.path()), 0);
        let Some(_) = crate::seccomp::testing::default_profile() else { return };
        for caps in [CapsHashSet::new(), caps::all()] {
            let gated = Choice::Default.profile().unwrap().unwrap().compile(&caps).unwrap();
            for _ in 0..2 {
                let program = Choice::Default.program(&caps, &cache).unwrap().unwrap();
                assert_eq!(program.to_bytes(), gated.to_bytes());
            }
        }
        assert_eq!(files(dir.path()), 2);
    }

    /// `cargo test --release -p ch10-harden -- --ignored --nocapture measure_a_start`:
    /// a start's seccomp work in the runtime on a cache hit, step by step, the
    /// way through the parsed profile beside the way by the file's bytes (run
    /// in turn, medians of 300), and the install in the child.
    #[test]
    #[ignore = "a measurement: run it in release and read what it prints"]
    fn measure_a_starts_seccomp_work() {
        use std::time::{Duration, Instant};
        let Some(_) = crate::seccomp::testing::default_profile() else { return };
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let caps = CapsHashSet::new();
        let path = Path::new(DEFAULT_PROFILE);
        let timed = |step: &mut dyn FnMut()| {
            let start = Instant::now();
            step();
            start.elapsed()
        };
        // Both ways' programs in the cache first: these are hits.
        Choice::Default.program(&caps, &cache).unwrap();
        let mut by_parse = Vec::new();
        let mut by_bytes = Vec::new();
        for _ in 0..300 {
            let mut profile = None;
            let parse = timed(&mut || profile = Choice::Default.profile().unwrap());
            let profile = profile.unwrap();
            let select = timed(&mut || drop(profile.compile_cached(&caps, &cache).unwrap()));
            by_parse.push([parse, select, parse + select]);
            let (mut bytes, mut key) = (Vec::new(), None);
            let read = timed(&mut || bytes = Profile::read_bytes(path).unwrap());
            let hash = timed(&mut || {
                key = Some(profile_key(&bytes, true, &caps, &Host::this().unwrap()));
            });
            let kept = timed(&mut || {
                drop(cache.program(key.take().unwrap(), || panic!("a miss")).unwrap());
            });
            let whole = timed(&mut || drop(Choice::Default.program(&caps, &cache).unwrap()));
            by_bytes.push([read, hash, kept, whole]);
        }
        let median = |runs: &[[Duration; 4]], i: usize| {
            let mut seen: Vec<Duration> = runs.iter().map(|r| r[i]).collect();
            seen.sort();
            seen[seen.len() / 2]
        };
        let by_parse: Vec<[Duration; 4]> =
            by_parse.iter().map(|&[a, b, c]| [a, b, c, Duration::ZERO]).collect();
        println!(
            "by the parsed profile: read + parse + gates {:?}, select + key + read {:?}; \
             together {:?}",
            median(&by_parse, 0),
            median(&by_parse, 1),
            median(&by_parse, 2)
        );
        println!(
            "by the file's bytes: read {:?}, key {:?}, read the program {:?}; Choice::program {:?}",
            median(&by_bytes, 0),
            median(&by_bytes, 1),
            median(&by_bytes, 2),
            median(&by_bytes, 3)
        );
    }

    /// Does the profile allow `name` to a container without capabilities?
    fn allows_everyone(profile: &Profile, name: &str) -> bool {
        profile.syscalls.iter().any(|r| {
            r.names.iter().any(|n| n == name)
                && r.action == crate::seccomp::Action::Allow
                && r.includes.caps.is_empty()
        })
    }

    #[test]
    fn the_default_profile_gets_dockers_gates_and_a_named_one_is_taken_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.json");
        std::fs::write(
            &path,
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read", "unshare", "mount"], "action": "SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let mine = Choice::File(path).profile().unwrap().unwrap();
        assert!(allows_everyone(&mine, "unshare") && allows_everyone(&mine, "mount"));
        let Some(podman) = crate::seccomp::testing::default_profile() else { return };
        // Podman's file allows unshare to everyone; the default choice does not.
        assert!(allows_everyone(&podman, "unshare"));
        let default = Choice::Default.profile().unwrap().unwrap();
        assert!(!allows_everyone(&default, "unshare") && !allows_everyone(&default, "mount"));
        assert!(allows_everyone(&default, "read"));
    }
}
