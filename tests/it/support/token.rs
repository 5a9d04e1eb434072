//! A token service for a registry with token auth: the flow Docker Hub, ghcr.io
//! and most registries use (distribution's `docs/spec/auth/token.md`).
//!
//! The registry answers a request without a token `401` with
//! `WWW-Authenticate: Bearer realm="http://…/token",service="…",scope="repository:NAME:pull"`.
//! The client asks the realm for a token (`GET /token?service=…&scope=…`, with
//! HTTP Basic credentials if it has any), gets `{"token": "…"}`, and repeats its
//! request with `Authorization: Bearer <token>`. The token is a JWT the registry
//! verifies itself (distribution 2.8 `registry/auth/token/token.go`): signed RS256
//! by a key whose certificate, carried in the header's `x5c`, chains to the
//! registry's `rootcertbundle`; `iss` and `aud` must be the configured issuer and
//! service; `exp`/`nbf` must hold (±60 s); `access` lists what it grants.
//!
//! The service here makes its own key and self-signed certificate with the
//! `openssl` command, signs with `openssl dgst -sha256 -sign` (RS256 is exactly
//! PKCS#1 v1.5 over SHA-256), grants every scope asked to the right user, and
//! records each request so tests can check the client's side of the flow.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

/// The registry's name in tokens (`aud`) and in its challenge (`service=`).
pub const SERVICE: &str = "tincan-test-registry";
/// Who signs the tokens (`iss`).
pub const ISSUER: &str = "tincan-test-token-service";

/// One request the token service answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Such as `/token?scope=repository%3Athree%3Apull&service=tincan-test-registry`.
    pub path_and_query: String,
    /// The user named in an HTTP Basic `Authorization` header, if one was sent.
    pub basic_user: Option<String>,
    /// 200 (a token), 401 (wrong or missing credentials) or 400 (wrong service).
    pub status: u16,
}

/// The token service on 127.0.0.1, stopped when dropped.
pub struct TokenServer {
    realm: String,
    cert: PathBuf,
    seen: Arc<Mutex<Vec<TokenRequest>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Who gets what.
struct Policy {
    user: String,
    password: String,
    /// Anonymous clients get `pull` (Docker Hub's public repositories); else 401.
    anonymous_pull: bool,
    key: PathBuf,
    /// The certificate, DER in standard base64: the PEM body on one line.
    x5c: String,
}

impl TokenServer {
    /// Make a key and certificate in `dir` and start serving tokens to `user`.
    pub fn start(dir: &Path, user: &str, password: &str, anonymous_pull: bool) -> TokenServer {
        let (key, cert) = (dir.join("token-key.pem"), dir.join("token-cert.pem"));
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"])
            .arg(format!("/CN={ISSUER}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(&cert).expect("read the certificate");
        let x5c = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let policy = Policy {
            user: user.to_owned(),
            password: password.to_owned(),
            anonymous_pull,
            key,
            x5c,
        };

        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (serving, seeing) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let (status, body) = answer(&policy, &request);
                let basic_user = basic_credentials(&request).map(|(user, _)| user);
                let path_and_query = request.url().to_owned();
                seeing.lock().unwrap_or_else(|e| e.into_inner()).push(TokenRequest {
                    path_and_query,
                    basic_user,
                    status,
                });
                let mut response = tiny_http::Response::from_string(body).with_status_code(status);
                response.add_header(header("Content-Type", "application/json"));
                if status == 401 {
                    response.add_header(header("WWW-Authenticate", r#"Basic realm="tincan-test""#));
                }
                let _ = request.respond(response);
            }
        });
        let realm = format!("http://127.0.0.1:{port}/token");
        TokenServer { realm, cert, seen, server, thread: Some(thread) }
    }

    /// The URL the registry sends clients to.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The certificate the registry trusts (`rootcertbundle`).
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(policy: &Policy, request: &tiny_http::Request) -> (u16, String) {
    let query = request.url().split_once('?').map_or("", |(_, q)| q);
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    if !params.iter().any(|(k, v)| k == "service" && v == SERVICE) {
        return (400, json!({ "details": format!("service must be {SERVICE}") }).to_string());
    }
    let subject = match basic_credentials(request) {
        Some((user, password)) if user == policy.user && password == policy.password => Some(user),
        None if policy.anonymous_pull => None,
        _ => return (401, json!({ "details": "wrong or missing credentials" }).to_string()),
    };
    let access: Vec<_> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, scope)| {
            // `repository:NAME:pull,push`. Anonymous clients get pull at most,
            // like Docker Hub; the registry then refuses their push.
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> =
                actions.split(',').filter(|a| subject.is_some() || *a == "pull").collect();
            Some(json!({ "type": kind, "name": name, "actions": actions }))
        })
        .collect();
    let token = sign(policy, subject.as_deref().unwrap_or(""), &access);
    (200, json!({ "token": token, "access_token": token, "expires_in": 300 }).to_string())
}

/// A JWT: base64url(header) . base64url(claims) . base64url(RS256 signature).
fn sign(policy: &Policy, subject: &str, access: &[serde_json::Value]) -> String {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static JTI: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({ "typ": "JWT", "alg": "RS256", "x5c": [policy.x5c] });
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now, "iat": now,
        "jti": format!("{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&policy.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl dgst");
    openssl.stdin.take().expect("stdin").write_all(signing_input.as_bytes()).expect("to openssl");
    let out = openssl.wait_with_output().expect("openssl dgst");
    assert!(out.status.success(), "openssl dgst -sign failed");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(out.stdout))
}

/// `Authorization: Basic base64(user:password)`, decoded.
fn basic_credentials(request: &tiny_http::Request) -> Option<(String, String)> {
    let value = request.headers().iter().find(|h| h.field.equiv("Authorization"))?.value.as_str();
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `%3A` → `:`, `+` → space: a query string's escapes.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}
