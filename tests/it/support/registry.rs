//! A real registry on 127.0.0.1 for chapter 8's tests: Debian's `docker-registry`,
//! the CNCF distribution project 2.8 (the code behind Docker Hub's first
//! registry and most private ones), with its storage in a temporary directory.
//!
//! It speaks the OCI distribution API (`GET /v2/`, `/v2/NAME/manifests/REF`,
//! `/v2/NAME/blobs/DIGEST`) over plain HTTP, and can ask for credentials the two
//! ways registries do: HTTP Basic checked against an htpasswd file (bcrypt only),
//! or bearer tokens from a token service (`token.rs`). Nothing listens beyond
//! 127.0.0.1. Dropping a [`Registry`] stops the process (SIGTERM, then SIGKILL)
//! and removes its directory, also when a test panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::token::{ISSUER, SERVICE, TokenRequest, TokenServer};

/// The commands the registry tests run, and the Debian packages that have them.
pub const REGISTRY_TOOLS: [(&str, &str); 5] = [
    ("docker-registry", "docker-registry"),
    ("umoci", "umoci"),
    ("skopeo", "skopeo"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
];

/// How the registry asks for credentials.
#[derive(Clone, Debug)]
pub enum RegistryAuth {
    None,
    /// HTTP Basic on every request.
    Htpasswd {
        user: String,
        password: String,
    },
    /// Bearer tokens from a token service that wants these credentials.
    Token {
        user: String,
        password: String,
    },
    /// Like `Token`, but the service also gives anonymous clients pull access,
    /// as Docker Hub does for public repositories.
    TokenPublicPull {
        user: String,
        password: String,
    },
}

pub struct Registry {
    child: Child,
    host: String,
    credentials: Option<(String, String)>,
    token: Option<TokenServer>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start a registry and wait until it answers `GET /v2/`.
    pub fn start(auth: RegistryAuth) -> Registry {
        let dir = tempfile::Builder::new().prefix("tincan-registry-").tempdir().expect("temp dir");
        let (credentials, token) = match &auth {
            RegistryAuth::None => (None, None),
            RegistryAuth::Htpasswd { user, password } => {
                (Some((user.clone(), password.clone())), None)
            }
            RegistryAuth::Token { user, password }
            | RegistryAuth::TokenPublicPull { user, password } => {
                let anonymous_pull = matches!(auth, RegistryAuth::TokenPublicPull { .. });
                let token = TokenServer::start(dir.path(), user, password, anonymous_pull);
                (Some((user.clone(), password.clone())), Some(token))
            }
        };
        let auth_yaml = match (&auth, &token) {
            (RegistryAuth::Htpasswd { user, password }, _) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, htpasswd(user, password)).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: tincan-test\n    path: {}\n",
                    yaml_path(&file)
                )
            }
            (_, Some(token)) => format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                token.realm(),
                yaml_path(token.cert())
            ),
            _ => String::new(),
        };
        // A free port, found by binding to port 0, could be taken by someone else
        // before the registry binds it: then try another.
        let log_path = dir.path().join("registry.log");
        let mut log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(&config, config_yaml(dir.path(), port, &auth_yaml))
                .expect("write config");
            let log_file = std::fs::File::create(&log_path).expect("create log");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("dup log"))
                .stderr(log_file)
                .spawn()
                .expect("run docker-registry (Debian package docker-registry)");
            let host = format!("127.0.0.1:{port}");
            if wait_until_ready(&mut child, &host) {
                return Registry { child, host, credentials, token, dir };
            }
            stop(&mut child);
            log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !log.contains("address already in use") {
                break;
            }
        }
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        panic!("docker-registry did not start; the end of its log:\n{tail}");
    }

    /// `127.0.0.1:PORT`, for image references (`127.0.0.1:PORT/NAME:TAG`).
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The user and password it wants, if it has auth.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// What the token service was asked so far (empty without token auth).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token.as_ref().map(TokenServer::requests).unwrap_or_default()
    }

    /// The registry's log: one access-log line per request (`"GET /v2/… HTTP/1.1"
    /// 200 …`), for tests that count what a client fetched.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child);
        // Then the token service and the directory go, as fields drop.
    }
}

/// Poll `GET /v2/` until it answers 200, or 401 with auth; false if the process
/// exits or 10 s pass.
fn wait_until_ready(child: &mut Child, host: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if let Ok((200 | 401, _, _)) = http_get(host, "/v2/", &[]) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// SIGTERM, up to 5 s to exit, then SIGKILL; reaped either way.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Minimal: listen on loopback only, keep blobs in `dir`, log requests.
fn config_yaml(dir: &Path, port: u16, auth: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n\
         {auth}",
        yaml_path(&dir.join("storage"))
    )
}

/// A path as a double-quoted YAML string (the JSON escapes are YAML's too).
fn yaml_path(path: &Path) -> String {
    serde_json::Value::from(path.to_str().expect("temp paths are UTF-8")).to_string()
}

/// An htpasswd line with a bcrypt hash, the only kind distribution accepts.
fn htpasswd(user: &str, password: &str) -> Vec<u8> {
    let out = Command::new("htpasswd")
        .args(["-B", "-b", "-n", user, password])
        .output()
        .expect("run htpasswd (Debian package apache2-utils)");
    assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.local_addr().expect("address").port()
}

/// A bare HTTP/1.0 `GET` (the server then closes the connection after the body,
/// and sends no chunked encoding): status, headers as `name: value` lines with
/// lowercase names, body. For readiness checks and tests that look at headers.
pub fn http_get(
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let status =
        status.ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| format!("{}: {}\n", name.to_ascii_lowercase(), value.trim()))
        .collect();
    Ok((status, headers, body))
}
