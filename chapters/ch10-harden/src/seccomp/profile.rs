//! Docker's seccomp profile format, as moby and containers-common write it.
//!
//! ```json
//! { "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
//!   "archMap": [ { "architecture": "SCMP_ARCH_X86_64",
//!                  "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] } ],
//!   "syscalls": [
//!     { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
//!     { "names": ["bpf"], "action": "SCMP_ACT_ALLOW",
//!       "includes": { "caps": ["CAP_SYS_ADMIN"] } },
//!     { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
//!       "args": [ { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] } ] }
//! ```
//!
//! Read strictly (`deny_unknown_fields`): a profile is security policy, and a
//! misspelt key that Go's lenient decoder would drop (`"exludes"`) would quietly
//! allow what its author meant to deny. `null` is read as empty, as Go does.

use std::path::Path;
use std::str::FromStr;

use caps::Capability;
use libseccomp::ScmpArch;
use nix::errno::Errno;
use serde::de::{Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer};

use super::filter::{Action, Arg, Flag};
use super::select::{ARCH_NAMES, KernelVersion};
use super::{Program, SeccompError};

/// A seccomp profile in Docker's format: the filter for every container,
/// before the choices by capability, architecture and kernel.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub(super) default_action: Action,
    #[serde(default)]
    pub(super) default_errno_ret: Option<u32>,
    /// containers-common writes the errno's name beside its number.
    #[serde(default)]
    default_errno: Option<String>,
    /// The old way to name architectures: all of them, whatever the machine.
    #[serde(default, deserialize_with = "scmp_arches")]
    pub(super) architectures: Vec<ScmpArch>,
    /// The new way: for each native architecture, the ones it also runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) syscalls: Vec<SyscallRule>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) flags: Vec<Flag>,
    /// A socket for a seccomp agent (`SCMP_ACT_NOTIFY`): refused, see below.
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, rename = "comment")]
    _comment: IgnoredAny,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ArchMap {
    #[serde(deserialize_with = "scmp_arch")]
    pub architecture: ScmpArch,
    #[serde(default, deserialize_with = "scmp_arches")]
    pub sub_architectures: Vec<ScmpArch>,
}

/// One entry of `syscalls`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SyscallRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// Old profiles name one system call per rule.
    #[serde(default)]
    name: Option<String>,
    pub action: Action,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    errno: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<Arg>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub includes: When,
    #[serde(default, deserialize_with = "null_as_default")]
    pub excludes: When,
    #[serde(default, rename = "comment")]
    _comment: IgnoredAny,
}

/// The condition of `includes` (all must hold for the rule to be in the filter)
/// or `excludes` (any one takes it out).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct When {
    /// Capabilities the container holds (its bounding set).
    #[serde(default, deserialize_with = "capabilities")]
    pub caps: Vec<Capability>,
    /// Native architectures by Go's names: `amd64`, `arm64`, `s390x`…
    #[serde(default, deserialize_with = "arch_names")]
    pub arches: Vec<String>,
    /// `"4.8"`: this kernel version or a later one.
    #[serde(default, deserialize_with = "kernel_version")]
    pub min_kernel: Option<KernelVersion>,
}

impl SyscallRule {
    /// A rule made in code, for one system call (see `gates.rs`).
    pub(super) fn new(
        name: &str,
        action: Action,
        errno_ret: Option<u32>,
        args: Vec<Arg>,
        includes: When,
        excludes: When,
    ) -> SyscallRule {
        SyscallRule {
            names: vec![name.to_owned()],
            name: None,
            action,
            errno_ret,
            errno: None,
            args,
            includes,
            excludes,
            _comment: IgnoredAny,
        }
    }
}

impl Profile {
    /// Read a profile from JSON text.
    pub fn from_json(text: &str) -> Result<Profile, SeccompError> {
        Self::parse(text, "(JSON text)")
    }

    /// Read the profile at `path`, such as [`super::DEFAULT_PROFILE`].
    pub fn read(path: &Path) -> Result<Profile, SeccompError> {
        Self::from_file_bytes(&Self::read_bytes(path)?, path)
    }

    /// The bytes of the profile file at `path`, unread as yet: what the cache
    /// keys a program by (`choice.rs`), before any parsing.
    pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, SeccompError> {
        std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SeccompError::Missing { path: path.to_owned() },
            _ => SeccompError::Read { path: path.to_owned(), source },
        })
    }

    /// The profile in `bytes`, read from the file `path`.
    pub(super) fn from_file_bytes(bytes: &[u8], path: &Path) -> Result<Profile, SeccompError> {
        let text = std::str::from_utf8(bytes).map_err(|e| SeccompError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Self::parse(text, &path.display().to_string())
    }

    /// The program for this machine's architecture (and its `archMap`
    /// sub-architectures), for a process that will hold the capabilities `caps`.
    pub fn compile(&self, caps: &caps::CapsHashSet) -> Result<Program, SeccompError> {
        self.filter(caps, &super::Host::this()?).compile()
    }

    /// As [`Profile::compile`], through `cache`: the first start with these
    /// capabilities compiles (~10 ms), the next ones read the program.
    pub fn compile_cached(
        &self,
        caps: &caps::CapsHashSet,
        cache: &super::Cache,
    ) -> Result<Program, SeccompError> {
        cache.compile(&self.filter(caps, &super::Host::this()?))
    }

    fn parse(text: &str, file: &str) -> Result<Profile, SeccompError> {
        let error =
            |at: String, reason: String| SeccompError::Profile { file: file.into(), at, reason };
        let mut json = serde_json::Deserializer::from_str(text);
        let mut profile: Profile = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            // `.` or `?` where the error is not inside a field.
            let at = e.path().to_string();
            let at = if at == "." || at == "?" { "the top level".into() } else { at };
            error(at, e.into_inner().to_string())
        })?;
        // Nothing but white space after the profile.
        json.end().map_err(|e| error("the end".into(), e.to_string()))?;
        profile.check().map_err(|(at, reason)| error(at, reason))?;
        Ok(profile)
    }

    /// What serde cannot check: fields that go together, names beside numbers.
    fn check(&mut self) -> Result<(), (String, String)> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err((
                "archMap".into(),
                "use either `architectures` or `archMap`, not both".into(),
            ));
        }
        if self.listener_path.as_deref().is_some_and(|p| !p.is_empty())
            || self.listener_metadata.as_deref().is_some_and(|m| !m.is_empty())
        {
            return Err(("listenerPath".into(), NO_AGENT.into()));
        }
        let default = (self.default_action, self.default_errno_ret, self.default_errno.as_deref());
        self.default_errno_ret = errno_ret(default).map_err(|e| ("defaultErrnoRet".into(), e))?;
        for (i, rule) in self.syscalls.iter_mut().enumerate() {
            let at = |field: &str| format!("syscalls[{i}].{field}");
            match (rule.name.take(), rule.names.is_empty()) {
                (Some(_), false) => {
                    return Err((at("name"), "use either `name` or `names`".into()));
                }
                (Some(name), true) => rule.names.push(name),
                (None, true) => return Err((at("names"), "names no system call".into())),
                (None, false) => {}
            }
            let given = (rule.action, rule.errno_ret, rule.errno.as_deref());
            rule.errno_ret = errno_ret(given).map_err(|e| (at("errnoRet"), e))?;
            if let Some(j) = rule.args.iter().position(|a| a.index > 5) {
                let reason = "a system call has 6 arguments, numbered 0 to 5".into();
                return Err((at(&format!("args[{j}].index")), reason));
            }
        }
        Ok(())
    }
}

const NO_AGENT: &str =
    "a seccomp agent (SCMP_ACT_NOTIFY with a listener socket) is not supported by tincan";

/// The number for an action's `errnoRet`, checked against its `errno` name
/// where containers-common writes both, and in the range the kernel keeps.
fn errno_ret(
    (action, ret, name): (Action, Option<u32>, Option<&str>),
) -> Result<Option<u32>, String> {
    let from_name = match name {
        None => None,
        Some(name) => match (1..=4095).map(Errno::from_raw).find(|e| format!("{e:?}") == name) {
            Some(errno) => Some(errno as u32),
            None => return Err(format!("unknown errno name `{name}`")),
        },
    };
    let ret = match (ret, from_name) {
        (Some(n), Some(m)) if n != m => {
            return Err(format!("{n} is not {}", name.unwrap_or_default()));
        }
        (ret, from_name) => ret.or(from_name),
    };
    match (action, ret) {
        (_, None) => Ok(None),
        (Action::Errno, Some(n)) if n > 4095 => Err(format!("{n} is not an errno (1 to 4095)")),
        (Action::Trace, Some(n)) if n > 0xffff => Err(format!("{n} is over 65535")),
        (Action::Errno | Action::Trace, ret) => Ok(ret),
        (action, Some(_)) => {
            Err(format!("{action:?} takes no errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do"))
        }
    }
}

/// `null` as the empty value, as Go's decoder reads it.
fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn scmp_arch<'de, D: Deserializer<'de>>(d: D) -> Result<ScmpArch, D::Error> {
    let name = String::deserialize(d)?;
    ScmpArch::from_str(&name).map_err(|_| {
        D::Error::custom(format!("unknown architecture `{name}` (such as SCMP_ARCH_X86_64)"))
    })
}

fn scmp_arches<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ScmpArch>, D::Error> {
    let names: Vec<String> = null_as_default(d)?;
    let known = |name: &String| ScmpArch::from_str(name).ok();
    names.iter().map(|n| known(n).ok_or(n)).collect::<Result<_, _>>().map_err(|name| {
        D::Error::custom(format!("unknown architecture `{name}` (such as SCMP_ARCH_X86_64)"))
    })
}

fn capabilities<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Capability>, D::Error> {
    let names: Vec<String> = null_as_default(d)?;
    names
        .iter()
        .map(|name| {
            Capability::from_str(name).map_err(|_| {
                D::Error::custom(format!("unknown capability `{name}` (such as CAP_SYS_ADMIN)"))
            })
        })
        .collect()
}

fn arch_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names: Vec<String> = null_as_default(d)?;
    match names.iter().find(|n| !ARCH_NAMES.iter().any(|(known, _)| known == n)) {
        Some(name) => {
            Err(D::Error::custom(format!("unknown architecture `{name}` (such as amd64, arm64)")))
        }
        None => Ok(names),
    }
}

fn kernel_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KernelVersion>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => KernelVersion::from_str(&v).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::testing::{default_profile, profile};

    /// The error for `json`, which the test means to be wrong.
    fn error(json: &str) -> String {
        Profile::from_json(json).expect_err("an invalid profile").to_string()
    }

    fn with_rule(rule: &str) -> String {
        format!(r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{rule}]}}"#)
    }

    #[test]
    fn the_default_profile_is_read_as_its_file_says() {
        let Some(profile) = default_profile() else { return };
        // containers-common 0.50: ENOSYS for what no rule names, so a program
        // that tries a newer call falls back to an older one.
        assert_eq!((profile.default_action, profile.default_errno_ret), (Action::Errno, Some(38)));
        let x86_64 = profile.arch_map.iter().find(|m| m.architecture == ScmpArch::X8664).unwrap();
        assert_eq!(x86_64.sub_architectures, [ScmpArch::X86, ScmpArch::X32]);
        assert!(profile.architectures.is_empty() && profile.flags.is_empty());
        // Rules by capability, such as `bpf` with and without CAP_SYS_ADMIN.
        let bpf: Vec<_> =
            profile.syscalls.iter().filter(|r| r.names.iter().any(|n| n == "bpf")).collect();
        assert_eq!(bpf.len(), 2);
        assert_eq!(
            (bpf[0].action, &bpf[0].includes.caps[..]),
            (Action::Allow, &[Capability::CAP_SYS_ADMIN][..])
        );
        assert_eq!((bpf[1].action, bpf[1].errno_ret), (Action::Errno, Some(1)));
        assert_eq!(bpf[1].excludes.caps, [Capability::CAP_SYS_ADMIN]);
    }

    #[test]
    fn broken_json_says_where() {
        let e = error("{");
        assert!(
            e.starts_with(
                "seccomp profile (JSON text): the top level: EOF while parsing an object"
            ),
            "{e}"
        );
        let e = error(r#"{"defaultAction": "SCMP_ACT_ALLOW"} x"#);
        assert!(e.starts_with("seccomp profile (JSON text): the end: trailing characters"), "{e}");
    }

    #[test]
    fn comments_nulls_and_the_old_name_field_are_read() {
        let json = r#"{"comment": "top", "defaultAction": "SCMP_ACT_ALLOW", "architectures": null,
            "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "args": null, "comment": "one",
                          "includes": {}, "excludes": null}]}"#;
        let rule = &profile(json).syscalls[0];
        assert_eq!((&rule.names[..], rule.args.len()), (&["mkdir".to_owned()][..], 0));
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it() {
        let e =
            error(&with_rule(r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW", "exludes": {}}"#));
        assert!(
            e.starts_with(
                "seccomp profile (JSON text): syscalls[0].exludes: unknown field `exludes`"
            ),
            "{e}"
        );
        let e = error(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscals": []}"#);
        assert!(e.contains("unknown field `syscals`"), "{e}");
    }

    #[test]
    fn a_misspelt_action_or_operator_is_an_error_naming_it() {
        let e = error(&with_rule(r#"{"names": ["read"], "action": "SCMP_ACT_ALLOWW"}"#));
        assert!(e.contains("syscalls[0].action: unknown variant `SCMP_ACT_ALLOWW`"), "{e}");
        let arg = r#"{"index": 0, "value": 1, "op": "SCMP_CMP_EQUAL"}"#;
        let e = error(&with_rule(&format!(
            r#"{{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{arg}]}}"#
        )));
        assert!(e.contains("syscalls[0].args[0].op: unknown variant `SCMP_CMP_EQUAL`"), "{e}");
    }

    #[test]
    fn unknown_capabilities_architectures_and_kernel_versions_are_errors() {
        let when = |w: &str| {
            with_rule(&format!(
                r#"{{"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {w}}}"#
            ))
        };
        let e = error(&when(r#"{"caps": ["CAP_SYS_ADMN"]}"#));
        assert!(e.contains("syscalls[0].includes.caps: unknown capability `CAP_SYS_ADMN`"), "{e}");
        let e = error(&when(r#"{"arches": ["amd46"]}"#));
        assert!(e.contains("syscalls[0].includes.arches: unknown architecture `amd46`"), "{e}");
        let e = error(&when(r#"{"minKernel": "4"}"#));
        assert!(
            e.contains("syscalls[0].includes.minKernel: kernel version `4` is not MAJOR.MINOR"),
            "{e}"
        );
        let e =
            error(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_46"]}"#);
        assert!(e.contains("architectures: unknown architecture `SCMP_ARCH_X86_46`"), "{e}");
    }

    #[test]
    fn fields_that_contradict_each_other_are_errors() {
        let e = error(&with_rule(
            r#"{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}"#,
        ));
        assert!(e.contains("syscalls[0].name: use either `name` or `names`"), "{e}");
        let e = error(&with_rule(
            r#"{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "errno": "EINVAL"}"#,
        ));
        assert!(e.contains("syscalls[0].errnoRet: 1 is not EINVAL"), "{e}");
        let e =
            error(&with_rule(r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}"#));
        assert!(e.contains("syscalls[0].errnoRet: Allow takes no errno"), "{e}");
        let arg = r#"{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}"#;
        let e = error(&with_rule(&format!(
            r#"{{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{arg}]}}"#
        )));
        assert!(e.contains("syscalls[0].args[0].index: a system call has 6 arguments"), "{e}");
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}"#;
        assert!(error(both).contains("archMap: use either `architectures` or `archMap`"));
        let agent = r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#;
        assert!(error(agent).contains("listenerPath: a seccomp agent"));
    }

    #[test]
    fn an_errno_name_alone_gives_its_number() {
        let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"}]}"#;
        let profile = profile(json);
        assert_eq!(
            (profile.default_errno_ret, profile.syscalls[0].errno_ret),
            (Some(38), Some(13))
        );
        assert!(error(&json.replace("EACCES", "EACCESS")).contains("unknown errno name `EACCESS`"));
    }

    #[test]
    fn a_missing_profile_says_what_to_install_and_how_to_do_without() {
        let e = Profile::read(Path::new("/nonexistent/seccomp.json")).unwrap_err().to_string();
        assert!(
            e.starts_with("the seccomp profile /nonexistent/seccomp.json does not exist"),
            "{e}"
        );
        assert!(
            e.contains("golang-github-containers-common") && e.contains("seccomp=unconfined"),
            "{e}"
        );
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).unwrap();
        let e = Profile::read(&path).unwrap_err().to_string();
        let expected = format!(
            "seccomp profile {}: defaultAction: unknown variant `SCMP_ACT_NOPE`",
            path.display()
        );
        assert!(e.starts_with(&expected), "{e}");
    }
}
