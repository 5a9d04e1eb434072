//! Image references: what `alpine` means.
//!
//! A reference is `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`, and Docker fills in
//! what is left out, by rules every tool that talks to Docker Hub follows (they
//! come from `github.com/distribution/reference`):
//!
//! - The first `/`-separated component is a **registry** when it *looks like a
//!   host*: it holds a `.` (`ghcr.io`, `127.0.0.1`) or a `:` (`host:5000`,
//!   `[::1]:5000`), or is `localhost`. Otherwise the whole name is a repository
//!   on Docker Hub, `docker.io`: `myuser/app` is `docker.io/myuser/app`.
//! - A one-component repository on Docker Hub is an **official image**, kept
//!   under `library/`: `alpine` is `docker.io/library/alpine`.
//! - With neither tag nor digest, the tag is `latest`. With a digest, the digest
//!   alone decides what is pulled: a tag beside it is only a label for people.
//!
//! A tag is a *name* someone can move to other bytes tomorrow; a digest is the
//! hash of the manifest, so `alpine@sha256:…` means those bytes forever.
//! `docker.io` is a name, not a host: Docker Hub's API is served by
//! `registry-1.docker.io`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

const DOCKER_HUB: &str = "docker.io";
/// The name Docker Hub had as "the Docker Index": still found in old references.
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const OFFICIAL: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// Registry and repository together, as Docker limits them.
const NAME_MAX: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("{0:?} names no repository: expected [REGISTRY/]NAME[:TAG][@DIGEST], like alpine:3.20")]
    NoName(String),
    #[error("repository name must be lowercase: {name:?} in {input:?} (did you mean {lower:?}?)")]
    Uppercase { input: String, name: String, lower: String },
    #[error(
        "{component:?} in {input:?} is not a repository name component: use lowercase letters and digits, joined by one '.', one or two '_', or '-'s"
    )]
    Component { input: String, component: String },
    #[error(
        "{host:?} in {input:?} is not a registry: expected a host name, an IPv4 address or an [IPv6] address, with an optional :PORT"
    )]
    Registry { input: String, host: String },
    #[error(
        "tag {tag:?} in {input:?} is not valid: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    )]
    Tag { input: String, tag: String },
    #[error("{name:?} is {len} characters long; registry and repository may have at most 255")]
    TooLong { name: String, len: usize },
    #[error("{0:?} is an image ID, not a name: to pull by content, write NAME@sha256:{0}")]
    ImageId(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl Reference {
    /// The registry as written in canonical names: `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) to connect to for the registry's API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// The repository inside the registry: `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when the reference had neither tag nor digest.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask for in `/v2/<repository>/manifests/<reference>`: the digest
    /// when there is one (it wins over a tag), else the tag.
    pub fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(digest) => digest.to_string(),
            None => self.tag().unwrap_or(DEFAULT_TAG).to_owned(),
        }
    }

    /// The short form `docker images` shows: `alpine:3.20`, `myuser/app:1`.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            // `library/` goes only when nothing is nested under it.
            match self.repository.strip_prefix(OFFICIAL) {
                Some(official) if !official.contains('/') => official.to_owned(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        };
        name + &self.suffix()
    }

    /// The same reference pinned to `digest` (the tag stays, as a label).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { digest: Some(digest), ..self.clone() }
    }

    /// The same reference without its digest: the tag alone (none, if it had
    /// only a digest), as the image index names what was pulled by tag.
    pub fn without_digest(&self) -> Reference {
        Reference { digest: None, ..self.clone() }
    }

    /// Whether the registry is this machine (`localhost`, `127.0.0.0/8`,
    /// `[::1]`): Docker allows plain HTTP there, since nothing crosses a network.
    pub fn is_loopback(&self) -> bool {
        let (host, _port) = split_port(&self.registry);
        match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()),
            None => {
                host == "localhost" || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    fn suffix(&self) -> String {
        let tag = self.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        let digest = self.digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
        tag + &digest
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        // 64 hex digits alone is what `docker images` prints as an ID: refuse to
        // read it as a repository called that.
        if input.len() == 64 && input.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::ImageId(input.to_owned()));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => (name, Some(digest.parse::<Digest>()?)),
            None => (input, None),
        };
        let (registry, rest) = split_registry(name_and_tag);
        // The registry is gone, so the only `:` left is the tag's.
        let (path, tag) = match rest.split_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(ReferenceError::NoName(input.to_owned()));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            let (name, lower) = (path.to_owned(), path.to_ascii_lowercase());
            return Err(ReferenceError::Uppercase { input: input.to_owned(), name, lower });
        }
        if !valid_registry(registry) {
            return Err(ReferenceError::Registry {
                input: input.to_owned(),
                host: registry.into(),
            });
        }
        if let Some(bad) = path.split('/').find(|c| !valid_component(c)) {
            let component = bad.to_owned();
            return Err(ReferenceError::Component { input: input.to_owned(), component });
        }
        if let Some(tag) = tag.filter(|t| !valid_tag(t)) {
            return Err(ReferenceError::Tag { input: input.to_owned(), tag: tag.to_owned() });
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL}{path}")
        } else {
            path.to_owned()
        };
        let len = registry.len() + 1 + repository.len();
        if len > NAME_MAX {
            return Err(ReferenceError::TooLong { name: format!("{registry}/{repository}"), len });
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Reference { registry: registry.to_owned(), repository, tag, digest })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.registry, self.repository, self.suffix())
    }
}

/// The registry and the rest: the first component only if it looks like a host.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((DOCKER_HUB_LEGACY, rest)) => (DOCKER_HUB, rest),
        Some((first, rest)) if first == "localhost" || first.contains(['.', ':']) => (first, rest),
        _ => (DOCKER_HUB, name),
    }
}

/// `host` and `Some(port)` of `host:port`, `[v6]:port`, or `(host, None)`.
fn split_port(registry: &str) -> (&str, Option<&str>) {
    let host_end = if registry.starts_with('[') {
        registry.find(']').map_or(registry.len(), |i| i + 1)
    } else {
        registry.find(':').unwrap_or(registry.len())
    };
    let (host, port) = registry.split_at(host_end);
    (host, port.strip_prefix(':').or((!port.is_empty()).then_some(port)))
}

fn valid_registry(registry: &str) -> bool {
    let (host, port) = split_port(registry);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        // DNS labels (an IPv4 address is four of them): letters, digits and
        // inner dashes.
        None => host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        }),
    };
    host_ok
        && port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or dashes: splitting on the
/// alphanumerics leaves exactly the separators to check.
fn valid_component(component: &str) -> bool {
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = component.as_bytes();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && component
            .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-'))
}

fn valid_tag(tag: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = tag.as_bytes();
    (1..=128).contains(&b.len())
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn normalises_like_docker() {
        let table = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            ("library/alpine:3.20", "docker.io/library/alpine:3.20"),
            ("docker.io/library/alpine", "docker.io/library/alpine:latest"),
            ("docker.io/alpine", "docker.io/library/alpine:latest"),
            ("index.docker.io/myuser/app:1", "docker.io/myuser/app:1"),
            ("myuser/app", "docker.io/myuser/app:latest"),
            ("host:5000/name:tag", "host:5000/name:tag"),
            ("ghcr.io/a/b", "ghcr.io/a/b:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x:y", "localhost:5000/x:y"),
            ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000/a/b/c:v1"),
            ("[::1]:5000/x", "[::1]:5000/x:latest"),
            ("a.b--c__d_e.f:V_1.0-rc", "docker.io/library/a.b--c__d_e.f:V_1.0-rc"),
            (&format!("name@{D}"), &format!("docker.io/library/name@{D}")),
            (&format!("name:tag@{D}"), &format!("docker.io/library/name:tag@{D}")),
        ];
        for (input, canonical) in table {
            let parsed: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(parsed.to_string().parse::<Reference>(), Ok(parsed), "{input} round trip");
        }
    }

    #[test]
    fn refuses_malformed_names_saying_what_is_wrong() {
        let long = format!("{}:1", "a".repeat(240));
        let table = [
            ("Alpine", "must be lowercase: \"Alpine\""),
            ("myuser/App", "must be lowercase"),
            ("alpine:", "tag \"\""),
            (":tag", "names no repository"),
            ("", "names no repository"),
            ("a//b", "\"\" in \"a//b\" is not a repository name component"),
            ("a/-b", "\"-b\""),
            ("a..b", "\"a..b\""),
            ("a___b", "\"a___b\""),
            ("host:port:bad", "tag \"port:bad\""),
            ("host:port:bad/x", "\"host:port:bad\" in \"host:port:bad/x\" is not a registry"),
            ("host:99999/x", "is not a registry"),
            ("[::g]:5000/x", "is not a registry"),
            ("-host.io/x", "is not a registry"),
            ("alpine:.hidden", "tag \".hidden\""),
            (&format!("alpine:{}", "t".repeat(129)), "is not valid"),
            (&long, "is 258 characters long"),
            (&D[7..], "is an image ID"),
            ("alpine@sha256:abc", "is not a digest"),
            ("alpine@md5:abc", "algorithm tincan does not support"),
        ];
        for (input, fragment) in table {
            let error = input.parse::<Reference>().expect_err(input).to_string();
            assert!(error.contains(fragment), "{input}: {error}");
        }
    }

    #[test]
    fn a_digest_decides_what_is_pulled_and_latest_is_only_a_default() {
        let both: Reference = format!("alpine:3.20@{D}").parse().unwrap();
        assert_eq!((both.tag(), both.manifest_reference()), (Some("3.20"), D.to_owned()));
        let pinned: Reference = format!("alpine@{D}").parse().unwrap();
        assert_eq!((pinned.tag(), pinned.digest().map(|d| d.to_string())), (None, Some(D.into())));
        let plain: Reference = "alpine".parse().unwrap();
        assert_eq!(plain.manifest_reference(), "latest");
        let repinned = plain.with_digest(D.parse().unwrap());
        assert_eq!(repinned.to_string(), format!("docker.io/library/alpine:latest@{D}"));
        assert_eq!(repinned.without_digest(), plain);
        assert_eq!(pinned.without_digest().to_string(), "docker.io/library/alpine");
    }

    #[test]
    fn familiar_names_drop_what_docker_fills_in() {
        let table = [
            ("docker.io/library/alpine:3.20", "alpine:3.20"),
            ("myuser/app:1", "myuser/app:1"),
            ("docker.io/library/a/b", "library/a/b:latest"),
            ("127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y"),
        ];
        for (input, familiar) in table {
            assert_eq!(input.parse::<Reference>().unwrap().familiar(), familiar, "{input}");
        }
    }

    #[test]
    fn docker_hub_is_reached_at_registry_1() {
        let hub: Reference = "alpine".parse().unwrap();
        assert_eq!(
            (hub.registry(), hub.api_host(), hub.repository()),
            (DOCKER_HUB, DOCKER_HUB_API, "library/alpine")
        );
        let own: Reference = "host:5000/name".parse().unwrap();
        assert_eq!((own.registry(), own.api_host()), ("host:5000", "host:5000"));
    }

    #[test]
    fn only_this_machine_is_loopback() {
        let table = [
            ("localhost/x", true),
            ("localhost:5000/x", true),
            ("127.0.0.1/x", true),
            ("127.1.2.3:5000/x", true),
            ("[::1]:5000/x", true),
            ("[::1]/x", true),
            ("10.0.0.1:5000/x", false),
            ("[::2]/x", false),
            ("localhost.evil.io/x", false),
            ("alpine", false),
        ];
        for (input, loopback) in table {
            assert_eq!(input.parse::<Reference>().unwrap().is_loopback(), loopback, "{input}");
        }
    }
}
