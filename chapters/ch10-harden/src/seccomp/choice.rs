//! `--security-opt seccomp=…`: which profile, if any.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{DEFAULT_PROFILE, Profile, SeccompError};

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
