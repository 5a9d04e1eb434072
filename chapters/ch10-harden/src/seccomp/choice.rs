//! `--security-opt seccomp=…`: which profile, if any.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{DEFAULT_PROFILE, Profile, SeccompError};

/// The value of `--security-opt seccomp=VALUE`, as Docker and Podman take it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// No option: Docker's default profile, [`DEFAULT_PROFILE`].
    #[default]
    Default,
    /// `unconfined`: no filter at all.
    Unconfined,
    /// `PROFILE.json`: this profile.
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
            Choice::Default => Profile::read(Path::new(DEFAULT_PROFILE)).map(Some),
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
}
