//! Credentials: where Docker keeps them, and how we find a registry's.
//!
//! `docker login` keeps credentials in `~/.docker/config.json` (or
//! `$DOCKER_CONFIG/config.json`), under `auths`, as base64 of `user:password` —
//! an encoding, not encryption: anyone who can read the file has the password.
//! Or it hands them to a **credential helper**, a program
//! (`docker-credential-pass`, `-secretservice`, `-ecr-login`…) that keeps them in
//! a keyring. tincan does not run those programs: running whatever a config file
//! names, as root, is more trust than a teaching runtime should grant.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use serde::Deserialize;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// `identitytoken` in config.json: an OAuth2 refresh token, sent to the
    /// token service as `grant_type=refresh_token` in a POST, instead of a
    /// password (what `docker login` stores for some registries, e.g. Azure's).
    IdentityToken(String),
}

/// What went wrong finding credentials, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {}: {source} (fix its permissions, or set DOCKER_CONFIG to another directory)", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{file} is not a Docker config file ({reason}): fix it, or set DOCKER_CONFIG to a directory with a valid config.json"
    )]
    Json { file: String, reason: String },
    #[error(
        "the \"auth\" of {key:?} in {file} is not base64 of USER:PASSWORD ({reason}): run `docker login` again, or write it with `printf USER:PASSWORD | base64`"
    )]
    BadAuth { file: String, key: String, reason: &'static str },
    #[error(
        "{file} says the credentials for {registry} are kept by the credential helper docker-credential-{helper}, which tincan does not run: put them in its \"auths\" (\"auth\": base64 of USER:PASSWORD), or, for a public image, set DOCKER_CONFIG to an empty directory to pull anonymously"
    )]
    CredentialHelper { file: String, registry: String, helper: String },
}

/// Credentials for `registry` (as in a reference: `docker.io`, `host:5000`) from
/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`. No file, or
/// no entry, is `None`: an anonymous pull.
///
/// A config that keeps this registry's credentials in a helper is an error, not
/// a warning and an anonymous pull: the user logged in, and an anonymous pull
/// would fail later and obscurely (a private image answers 401, or a 404 "not
/// found or unauthorized"; Docker Hub counts anonymous pulls against a lower
/// limit). The error says how to go on; the caller may still choose to warn
/// and pull anonymously by matching [`AuthError::CredentialHelper`].
pub fn credentials_for(registry: &str) -> Result<Option<Credentials>, AuthError> {
    match config_path(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME")) {
        Some(path) => credentials_in(&path, registry),
        None => Ok(None),
    }
}

fn config_path(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match (docker_config.filter(|d| !d.is_empty()), home.filter(|h| !h.is_empty())) {
        (Some(dir), _) => Some(PathBuf::from(dir).join("config.json")),
        (None, Some(home)) => Some(PathBuf::from(home).join(".docker/config.json")),
        (None, None) => None,
    }
}

fn credentials_in(path: &Path, registry: &str) -> Result<Option<Credentials>, AuthError> {
    match fs::read_to_string(path) {
        Ok(text) => lookup(&text, registry, &path.display().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuthError::Read { path: path.to_owned(), source }),
    }
}

/// [`credentials_for`], from the text of a config.json.
pub fn credentials_from(
    config_json: &str,
    registry: &str,
) -> Result<Option<Credentials>, AuthError> {
    lookup(config_json, registry, "config.json")
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

fn lookup(config_json: &str, registry: &str, file: &str) -> Result<Option<Credentials>, AuthError> {
    let config: ConfigFile = serde_json::from_str(config_json)
        .map_err(|e| AuthError::Json { file: file.to_owned(), reason: e.to_string() })?;
    let host = host_of(registry);
    let helper_error = |helper: &str| AuthError::CredentialHelper {
        file: file.to_owned(),
        registry: registry.to_owned(),
        helper: helper.to_owned(),
    };
    // A per-registry helper is the user saying "not the file": Docker does not
    // read `auths` for that registry, and neither do we.
    if let Some(helper) =
        config.cred_helpers.iter().find(|(k, h)| host_of(k) == host && !h.is_empty())
    {
        return Err(helper_error(helper.1));
    }
    // The exact key first, then any key naming the same host (`https://host/v1/`).
    let entry = config
        .auths
        .get_key_value(registry)
        .or_else(|| config.auths.iter().find(|(k, _)| host_of(k) == host));
    let Some((key, entry)) = entry else {
        // `docker login` with a credsStore still writes an empty entry, so no
        // entry means there was no login for this registry.
        return Ok(None);
    };
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if let Some(token) = nonempty(&entry.identitytoken) {
        return Ok(Some(Credentials::IdentityToken(token)));
    }
    if let Some(auth) = nonempty(&entry.auth) {
        let bad = |reason| AuthError::BadAuth { file: file.to_owned(), key: key.clone(), reason };
        let bytes = STANDARD_PAD_INDIFFERENT.decode(auth.trim()).map_err(|_| bad("not base64"))?;
        let pair = String::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let (username, password) = pair.split_once(':').ok_or_else(|| bad("no ':'"))?;
        if username.is_empty() {
            return Err(bad("no user before the ':'"));
        }
        let (username, password) =
            (username.to_owned(), password.trim_end_matches('\0').to_owned());
        return Ok(Some(Credentials::Basic { username, password }));
    }
    if let (Some(username), Some(password)) = (nonempty(&entry.username), nonempty(&entry.password))
    {
        return Ok(Some(Credentials::Basic { username, password }));
    }
    // An entry with nothing in it: the credentials are in the store, if any.
    match config.creds_store.filter(|s| !s.is_empty()) {
        Some(store) => Err(helper_error(&store)),
        None => Ok(None),
    }
}

/// The host an `auths` key or a registry name stands for: schemes and paths
/// dropped (docker/cli's `ConvertToHostname`), Docker Hub's names made one.
fn host_of(key: &str) -> &str {
    let stripped =
        key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    match stripped.split('/').next().unwrap_or_default() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        host => host,
    }
}

impl Credentials {
    /// The `Authorization` header value for Basic credentials.
    pub fn basic_authorization(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{username}:{password}"))))
            }
            Credentials::IdentityToken(_) => None,
        }
    }
}

/// Never print a secret: error reports and `{:?}` show only whose it is.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: <hidden> }}")
            }
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(<hidden>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::challenge::TokenResponse;

    const ALICE: &str = "YWxpY2U6czNjcjp0"; // alice:s3cr:t

    fn alice() -> Option<Credentials> {
        Some(Credentials::Basic { username: "alice".into(), password: "s3cr:t".into() })
    }

    #[test]
    fn finds_credentials_under_every_spelling_of_a_registry() {
        let auths = |key: &str| format!(r#"{{"auths":{{"{key}":{{"auth":"{ALICE}"}}}}}}"#);
        let table = [
            (auths("https://index.docker.io/v1/"), "docker.io", alice()),
            (auths("docker.io"), "docker.io", alice()),
            (auths("host:5000"), "host:5000", alice()),
            (auths("https://host:5000/v2/"), "host:5000", alice()),
            (auths("http://host:5000"), "host:5000", alice()),
            (auths("host:5000"), "host", None),
            (auths("https://index.docker.io/v1/"), "ghcr.io", None),
            (
                r#"{"auths":{"ghcr.io":{"username":"alice","password":"s3cr:t"}}}"#.into(),
                "ghcr.io",
                alice(),
            ),
            (
                r#"{"auths":{"acr.io":{"auth":"PHRva2VuPjo=","identitytoken":"refresh"}}}"#.into(),
                "acr.io",
                Some(Credentials::IdentityToken("refresh".into())),
            ),
            (r#"{"auths":{"ghcr.io":{}}}"#.into(), "ghcr.io", None),
            (r#"{"auths":{"ghcr.io":{"auth":""}}}"#.into(), "ghcr.io", None),
            ("{}".into(), "docker.io", None),
            (r#"{"credsStore":"pass","auths":{}}"#.into(), "docker.io", None),
            (
                format!(r#"{{"credsStore":"pass","auths":{{"ghcr.io":{{"auth":"{ALICE}"}}}}}}"#),
                "ghcr.io",
                alice(),
            ),
        ];
        for (config, registry, expected) in table {
            let found =
                credentials_from(&config, registry).unwrap_or_else(|e| panic!("{config}: {e}"));
            assert_eq!(found, expected, "{registry} in {config}");
        }
    }

    #[test]
    fn says_what_to_do_when_credentials_cannot_be_used() {
        let table = [
            (
                r#"{"credHelpers":{"gcr.io":"gcloud"},"auths":{"gcr.io":{"auth":"YTpi"}}}"#,
                "gcr.io",
                "docker-credential-gcloud, which tincan does not run",
            ),
            (
                r#"{"credsStore":"desktop","auths":{"https://index.docker.io/v1/":{}}}"#,
                "docker.io",
                "docker-credential-desktop",
            ),
            (
                r#"{"auths":{"ghcr.io":{"auth":"%%%"}}}"#,
                "ghcr.io",
                "is not base64 of USER:PASSWORD (not base64)",
            ),
            (r#"{"auths":{"ghcr.io":{"auth":"YWxpY2U="}}}"#, "ghcr.io", "(no ':')"),
            (r#"{"auths":{"ghcr.io":{"auth":"OnB3"}}}"#, "ghcr.io", "(no user before the ':')"),
            (r#"{"auths":[]}"#, "ghcr.io", "config.json is not a Docker config file"),
            ("not json", "ghcr.io", "set DOCKER_CONFIG"),
        ];
        for (config, registry, fragment) in table {
            let error = credentials_from(config, registry).expect_err(config).to_string();
            assert!(error.contains(fragment), "{config}: {error}");
        }
    }

    #[test]
    fn reads_docker_config_then_home_and_a_missing_file_is_anonymous() {
        let path =
            |d: Option<&str>, h: Option<&str>| config_path(d.map(Into::into), h.map(Into::into));
        assert_eq!(path(Some("/d"), Some("/h")), Some(PathBuf::from("/d/config.json")));
        assert_eq!(path(Some(""), Some("/h")), Some(PathBuf::from("/h/.docker/config.json")));
        assert_eq!(path(None, None), None);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        assert_eq!(credentials_in(&file, "docker.io").unwrap(), None);
        fs::write(&file, format!(r#"{{"auths":{{"docker.io":{{"auth":"{ALICE}"}}}}}}"#)).unwrap();
        assert_eq!(credentials_in(&file, "docker.io").unwrap(), alice());
        fs::write(&file, "{").unwrap();
        let error = credentials_in(&file, "docker.io").unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{} is not a Docker config file", file.display())),
            "{error}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let shown = format!("{:?} {:?}", alice(), Credentials::IdentityToken("refresh".into()));
        assert!(
            !shown.contains("s3cr") && !shown.contains("refresh") && shown.contains("alice"),
            "{shown}"
        );
        let answer: TokenResponse = serde_json::from_str(r#"{"token":"tok"}"#).unwrap();
        assert!(!format!("{answer:?}").contains("tok\""), "{answer:?}");
    }

    #[test]
    fn basic_authorization_is_base64_of_user_colon_password() {
        assert_eq!(alice().unwrap().basic_authorization(), Some(format!("Basic {ALICE}")));
        assert_eq!(Credentials::IdentityToken("t".into()).basic_authorization(), None);
    }
}
