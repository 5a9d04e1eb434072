//! The HTTP requests of a pull, with the authentication dance around them.

use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body, BodyReader};

use super::challenge::{self, Challenge, TokenResponse};
use super::credentials::{AuthError, Credentials};
use crate::Digest;
use crate::reference::Reference;

/// Every manifest type we can read, in the `Accept` header of every manifest
/// request. A registry answers with the best it has; without the OCI types it
/// would not send an OCI manifest at all, and without Docker's v2 types it would
/// convert an image to the old schema 1 (machine-facts: both seen with
/// `docker-registry` 2.8).
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How much of a manifest we read at most. The distribution spec asks
/// registries to accept manifests of at least 4 MiB; one larger than that is
/// not an image we want, and reading it whole into memory is what an attacker
/// would want.
pub const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach {url}: {source}{}", tls_hint(.source))]
    Unreachable { url: String, source: ureq::Error },
    #[error("{url}: {status}{}{}", message(.body), what_to_do(*.status))]
    Status { url: String, status: StatusCode, body: String },
    #[error(
        "{registry} asks for credentials ({scheme}) and there are none: log in with `docker login {registry}` or add an `auths` entry to ~/.docker/config.json"
    )]
    NeedsCredentials { registry: String, scheme: &'static str },
    #[error(
        "{registry} sends us for a token to {realm}, which is not HTTPS: refused, as our credentials would cross the network in clear"
    )]
    InsecureRealm { registry: String, realm: String },
    #[error("{registry}'s token service at {url} answered without a token")]
    NoToken { registry: String, url: String },
    #[error("{what} from {url} is larger than the {limit} bytes tincan accepts")]
    TooLarge { what: &'static str, url: String, limit: u64 },
    #[error(transparent)]
    Credentials(#[from] AuthError),
    #[error("reading {url}: {source}")]
    Read { url: String, source: io::Error },
}

fn tls_hint(error: &ureq::Error) -> &'static str {
    match error {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            " (if the registry speaks plain HTTP, and you trust the network, add --insecure)"
        }
        _ => "",
    }
}

/// The first message of an OCI error body: `{"errors":[{"code":…,"message":…}]}`.
fn message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<OciError>,
    }
    #[derive(serde::Deserialize)]
    struct OciError {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(Errors { errors }) => match errors.first() {
            Some(e) => format!(" ({}: {})", e.code, e.message),
            None => String::new(),
        },
        Err(_) => String::new(),
    }
}

fn what_to_do(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => ": check the name and the tag",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ": check your credentials (`docker login`, or ~/.docker/config.json), and that you may pull this image"
        }
        StatusCode::TOO_MANY_REQUESTS => ": the registry limits pulls; wait, or log in",
        _ => "",
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with the certificate checked: every registry that is not local.
    Https,
    /// Plain HTTP: a registry on this machine's loopback (as Docker allows),
    /// or one the user said to trust with `--insecure`.
    Http,
}

impl Transport {
    /// Plain HTTP only for a registry on this machine (as Docker allows:
    /// nothing crosses a network) or one the user chose to trust.
    pub fn choose(reference: &Reference, insecure: bool) -> Transport {
        if reference.is_loopback() || insecure { Transport::Http } else { Transport::Https }
    }
}

/// A manifest as fetched: its bytes, the media type the registry gave, and the
/// digest the registry says it has (`Docker-Content-Digest`).
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    pub digest_header: Option<String>,
}

/// A registry client for one repository.
pub struct Client {
    agent: Agent,
    base: String,
    registry: String,
    repository: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value that worked last: shared by the parallel
    /// downloads, renewed when a request is refused.
    authorization: Mutex<Option<String>>,
    /// Print each exchange on stderr (`--verbose`): the book's walk-through.
    verbose: bool,
}

impl Client {
    pub fn new(
        reference: &Reference,
        transport: Transport,
        credentials: Option<Credentials>,
        verbose: bool,
    ) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("tincan/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // A registry that stops sending mid-blob must not hang the pull
            // (and the store's lock) for ever.
            .timeout_per_read(Some(Duration::from_secs(60)))
            // Registries send blobs through CDNs with a redirect; ureq follows it
            // and drops our Authorization header on the way (the default), so a
            // token for the registry is never handed to another host...
            .max_redirects(5)
            // ...and from a registry reached over HTTPS, never to plain HTTP.
            .https_only(transport == Transport::Https)
            .build()
            .into();
        let scheme = match transport {
            Transport::Https => "https",
            Transport::Http => "http",
        };
        Client {
            agent,
            base: format!("{scheme}://{}", reference.api_host()),
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            credentials,
            authorization: Mutex::new(None),
            verbose,
        }
    }

    /// The manifest (or index) named `reference`: a tag or a digest.
    pub fn manifest(&self, reference: &str) -> Result<Fetched, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let mut response = self.get(&url, &MANIFEST_TYPES.join(", "))?;
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let (media_type, digest_header) = (header("content-type"), header("docker-content-digest"));
        let bytes =
            read_limited(response.body_mut().as_reader(), MAX_MANIFEST, "the manifest", &url)?;
        Ok(Fetched { bytes, media_type, digest_header })
    }

    /// A reader of the blob `digest`. The caller checks what it reads against
    /// the digest and size it expects (`digest::Verify`): the registry, or the
    /// CDN it redirects to, is not trusted to send the right bytes.
    pub fn blob(&self, digest: &Digest) -> Result<BodyReader<'static>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        Ok(self.get(&url, "*/*")?.into_body().into_reader())
    }

    /// A small blob (`what`: "the image config"), read whole, at most `limit` bytes.
    pub fn small_blob(
        &self,
        digest: &Digest,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        read_limited(self.blob(digest)?, limit, what, &url)
    }

    // ANCHOR: retry
    /// GET `url`; on a 401, authenticate as the challenge asks and try once more.
    fn get(&self, url: &str, accept: &str) -> Result<Response<Body>, RegistryError> {
        let response = self.send(url, accept)?;
        let response = if response.status() == StatusCode::UNAUTHORIZED {
            let challenges = response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(challenge::parse_challenges)
                .collect::<Vec<_>>();
            self.authenticate(&challenges)?;
            self.send(url, accept)?
        } else {
            response
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let mut body = response.into_body();
        let body = body.with_config().limit(64 << 10).read_to_string().unwrap_or_default();
        Err(RegistryError::Status { url: url.to_owned(), status, body })
    }
    // ANCHOR_END: retry

    fn send(&self, url: &str, accept: &str) -> Result<Response<Body>, RegistryError> {
        let mut request = self.agent.get(url).header("Accept", accept);
        let authorization = self.authorization.lock().expect("not poisoned").clone();
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = request
            .call()
            .map_err(|source| RegistryError::Unreachable { url: url.to_owned(), source })?;
        if self.verbose {
            let path = url.strip_prefix(&self.base).unwrap_or(url);
            let auth =
                authorization.as_deref().and_then(|a| a.split(' ').next()).unwrap_or("anonymous");
            eprintln!("GET {path} ({auth}) → {}", response.status());
        }
        Ok(response)
    }

    // ANCHOR: authenticate
    /// Answer the registry's challenge: remember the `Authorization` value that
    /// the next requests will carry.
    fn authenticate(&self, challenges: &[Challenge]) -> Result<(), RegistryError> {
        // Bearer first: a registry that offers both prefers tokens.
        let bearer = challenges.iter().find(|c| matches!(c, Challenge::Bearer { .. }));
        let value = match bearer.or(challenges.first()) {
            Some(Challenge::Bearer { realm, service, scope }) => {
                format!("Bearer {}", self.token(realm, service.as_deref(), scope.as_deref())?)
            }
            Some(Challenge::Basic { .. }) => {
                match self.credentials.as_ref().and_then(Credentials::basic_authorization) {
                    Some(basic) => basic,
                    None => return Err(self.needs_credentials("Basic")),
                }
            }
            None => return Err(self.needs_credentials("an unknown scheme")),
        };
        *self.authorization.lock().expect("not poisoned") = Some(value);
        Ok(())
    }
    // ANCHOR_END: authenticate

    /// A token for pulling this repository from the token service at `realm`.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        // The realm is the registry's word, and our password goes there: from
        // a registry reached over HTTPS, never over plain HTTP.
        if self.base.starts_with("https:") && !realm.starts_with("https://") {
            return Err(RegistryError::InsecureRealm {
                registry: self.registry.clone(),
                realm: realm.to_owned(),
            });
        }
        // The scope the registry asked for, as Docker asks; else pulling this
        // repository, which is all we do.
        let scope =
            scope.map_or_else(|| format!("repository:{}:pull", self.repository), str::to_owned);
        let url = challenge::token_url(realm, service, &[scope]);
        let mut request = self.agent.get(&url);
        match &self.credentials {
            Some(credentials @ Credentials::Basic { .. }) => {
                let basic = credentials.basic_authorization().expect("Basic credentials");
                request = request.header("Authorization", basic);
            }
            // An identity token is a refresh token for the OAuth2 form of the
            // token service; few registries other than Docker Hub issue them.
            Some(Credentials::IdentityToken(_)) => {
                return Err(self.needs_credentials("Bearer, with a password"));
            }
            None => {}
        }
        let mut response = request
            .call()
            .map_err(|source| RegistryError::Unreachable { url: url.clone(), source })?;
        if self.verbose {
            eprintln!("GET {} → {}", url.split('?').next().unwrap_or(&url), response.status());
        }
        // Refused without credentials: the service wants a login, as a 401
        // from the registry itself would mean.
        if response.status() == StatusCode::UNAUTHORIZED && self.credentials.is_none() {
            return Err(self.needs_credentials("Bearer"));
        }
        if !response.status().is_success() {
            let status = response.status();
            let body = response
                .body_mut()
                .with_config()
                .limit(64 << 10)
                .read_to_string()
                .unwrap_or_default();
            return Err(RegistryError::Status { url, status, body });
        }
        let bytes = read_limited(response.body_mut().as_reader(), 1 << 20, "the token", &url)?;
        let answer: Option<TokenResponse> = serde_json::from_slice(&bytes).ok();
        match answer.as_ref().and_then(TokenResponse::token) {
            Some(token) => Ok(token.to_owned()),
            None => Err(RegistryError::NoToken { registry: self.registry.clone(), url }),
        }
    }

    fn needs_credentials(&self, scheme: &'static str) -> RegistryError {
        RegistryError::NeedsCredentials { registry: self.registry.clone(), scheme }
    }
}

/// Read all of `reader`, but refuse more than `limit` bytes.
fn read_limited(
    reader: impl Read,
    limit: u64,
    what: &'static str,
    url: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| RegistryError::Read { url: url.to_owned(), source })?;
    if bytes.len() as u64 > limit {
        return Err(RegistryError::TooLarge { what, url: url.to_owned(), limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_this_machine_or_when_asked() {
        for (name, insecure, expected) in [
            ("alpine", false, Transport::Https),
            ("registry.example.com/app:1", false, Transport::Https),
            ("registry.example.com/app:1", true, Transport::Http),
            ("127.0.0.1:5000/app", false, Transport::Http),
            ("127.1.2.3:5000/app", false, Transport::Http),
            ("localhost:5000/app", false, Transport::Http),
            ("localhost.example.com/app", false, Transport::Https),
        ] {
            let reference: Reference = name.parse().unwrap();
            assert_eq!(
                Transport::choose(&reference, insecure),
                expected,
                "{name}, insecure: {insecure}"
            );
        }
    }

    /// Checked before any request: nothing here reaches a network.
    #[test]
    fn an_https_registry_may_not_send_our_password_to_a_plain_http_token_service() {
        let reference: Reference = "registry.example.com/app:1".parse().unwrap();
        let credentials = Credentials::Basic { username: "u".into(), password: "p".into() };
        let client = Client::new(&reference, Transport::Https, Some(credentials), false);
        let challenge = Challenge::Bearer {
            realm: "http://auth.example.com/token".into(),
            service: None,
            scope: None,
        };
        let refused = client.authenticate(&[challenge]).unwrap_err();
        assert!(matches!(refused, RegistryError::InsecureRealm { .. }), "{refused}");
    }

    #[test]
    fn an_oci_error_body_gives_its_first_message() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(message(body), " (MANIFEST_UNKNOWN: manifest unknown)");
        assert_eq!(message("<html>"), "");
    }
}
