//! A registry that misbehaves on request, for what a real registry never does
//! but a hostile or broken one can: serve bytes that do not match their digest,
//! fewer or more bytes than the descriptor says, a manifest of 64 MiB, a redirect
//! to a CDN on another host (which must not get the registry's credentials), or
//! a decompression bomb (`bomb.rs`).
//!
//! It serves the read side of the distribution API from memory: `GET`/`HEAD`
//! `/v2/`, `/v2/NAME/manifests/REF` (tag or digest) and `/v2/NAME/blobs/DIGEST`,
//! with `Content-Type`, `Content-Length` and `Docker-Content-Digest` as
//! distribution sends them. Like distribution, it answers a manifest request
//! `404 MANIFEST_UNKNOWN` unless `Accept` lists the manifest's media type. It
//! records every request, its own and the CDN's.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use super::oci_layout::{OCI_INDEX, OciLayout, sha256};
use super::token::header;

/// What to do instead of serving a manifest or blob normally.
#[derive(Clone, Debug)]
pub enum Misbehaviour {
    /// Serve these bytes, with the true digest in the headers.
    OtherBytes(Vec<u8>),
    /// Serve only the first this many bytes (and say so in `Content-Length`).
    Truncated(usize),
    /// Serve the bytes, then these.
    Extended(Vec<u8>),
    /// Serve the bytes padded with spaces (still valid JSON for a manifest) to
    /// `len` bytes, streamed; with `Content-Length`, or chunked, so that only
    /// counting what arrives catches it.
    Huge { len: u64, chunked: bool },
    /// Answer `307` with the CDN's URL for the blob; the CDN serves it.
    RedirectToCdn,
    /// Answer this status (such as 500 or 429) with an error body.
    Status(u16),
}

/// Which server saw a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Registry,
    Cdn,
}

/// One request, as a server saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub side: Side,
    pub method: String,
    pub path: String,
    pub accept: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// By (name, tag or digest).
    manifests: HashMap<(String, String), Manifest>,
    /// By digest; manifests too (the CDN serves them, and distribution does).
    blobs: HashMap<String, Arc<Vec<u8>>>,
    misbehaviours: HashMap<String, Misbehaviour>,
    seen: Vec<SeenRequest>,
    basic: Option<String>,
    cdn: String,
}

#[derive(Clone)]
struct Manifest {
    media_type: String,
    bytes: Arc<Vec<u8>>,
}

/// The fake registry and its CDN on 127.0.0.1, stopped when dropped.
pub struct FakeRegistry {
    host: String,
    state: Arc<Mutex<State>>,
    servers: Vec<(Arc<tiny_http::Server>, Option<std::thread::JoinHandle<()>>)>,
}

impl FakeRegistry {
    pub fn start() -> FakeRegistry {
        Self::serve(None)
    }

    /// One that wants HTTP Basic credentials on every request (else `401`).
    pub fn with_basic_auth(user: &str, password: &str) -> FakeRegistry {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self::serve(Some(format!("Basic {encoded}")))
    }

    fn serve(basic: Option<String>) -> FakeRegistry {
        let state = Arc::new(Mutex::new(State { basic, ..State::default() }));
        let mut servers = Vec::new();
        let mut hosts = Vec::new();
        for side in [Side::Registry, Side::Cdn] {
            let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
            hosts.push(format!("127.0.0.1:{}", server.server_addr().to_ip().expect("IP").port()));
            let (serving, state) = (server.clone(), state.clone());
            let thread = std::thread::spawn(move || {
                for request in serving.incoming_requests() {
                    let state = state.clone();
                    // A thread each: a 64 MiB answer must not hold up the rest.
                    std::thread::spawn(move || handle(side, request, &state));
                }
            });
            servers.push((server, Some(thread)));
        }
        lock(&state).cdn = format!("http://{}/cdn", hosts[1]);
        FakeRegistry { host: hosts.swap_remove(0), state, servers }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    pub fn add_blob(&self, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        lock(&self.state).blobs.insert(digest.clone(), Arc::new(bytes));
        digest
    }

    /// Serve `bytes` as `NAME:TAG` and `NAME@DIGEST`; the digest.
    pub fn add_manifest(&self, name: &str, tag: &str, media_type: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        let manifest = Manifest { media_type: media_type.to_owned(), bytes: Arc::new(bytes) };
        let mut state = lock(&self.state);
        state.blobs.insert(digest.clone(), manifest.bytes.clone());
        state.manifests.insert((name.to_owned(), digest.clone()), manifest.clone());
        state.manifests.insert((name.to_owned(), tag.to_owned()), manifest);
        digest
    }

    /// Serve the image (or index, with its images) tagged `layout_tag` in
    /// `layout` as `NAME:TAG`, with all its blobs; the manifest's digest.
    pub fn add_from_layout(
        &self,
        name: &str,
        tag: &str,
        layout: &OciLayout,
        layout_tag: &str,
    ) -> String {
        let descriptor =
            layout.resolve(layout_tag).unwrap_or_else(|| panic!("no tag {layout_tag}"));
        self.add_descriptor(name, tag, layout, &descriptor)
    }

    fn add_descriptor(
        &self,
        name: &str,
        tag: &str,
        layout: &OciLayout,
        descriptor: &serde_json::Value,
    ) -> String {
        let media_type = descriptor["mediaType"].as_str().expect("mediaType");
        let bytes = layout.blob(descriptor["digest"].as_str().expect("digest"));
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("a manifest");
        if media_type == OCI_INDEX {
            for image in manifest["manifests"].as_array().expect("an index lists manifests") {
                let digest = image["digest"].as_str().expect("digest");
                self.add_descriptor(name, digest, layout, image);
            }
        } else {
            let config = std::iter::once(&manifest["config"]);
            for blob in config.chain(manifest["layers"].as_array().expect("layers")) {
                self.add_blob(layout.blob(blob["digest"].as_str().expect("digest")));
            }
        }
        self.add_manifest(name, tag, media_type, bytes)
    }

    /// Misbehave when serving `reference`: a blob's digest, a tag, or a
    /// manifest's digest.
    pub fn misbehave(&self, reference: &str, misbehaviour: Misbehaviour) {
        lock(&self.state).misbehaviours.insert(reference.to_owned(), misbehaviour);
    }

    /// Every request so far, registry's and CDN's, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.state).seen.clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        for (server, thread) in &mut self.servers {
            server.unblock();
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

type Answer = tiny_http::ResponseBox;

fn handle(side: Side, request: tiny_http::Request, state: &Mutex<State>) {
    let value = |name: &'static str| {
        let values: Vec<&str> = request
            .headers()
            .iter()
            .filter(|h| h.field.equiv(name))
            .map(|h| h.value.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let seen = SeenRequest {
        side,
        method: request.method().as_str().to_owned(),
        path: request.url().to_owned(),
        accept: value("Accept"),
        authorization: value("Authorization"),
    };
    let mut state = lock(state);
    state.seen.push(seen.clone());
    let answer = answer(side, &seen, &state);
    drop(state);
    let _ = request.respond(answer);
}

fn answer(side: Side, seen: &SeenRequest, state: &State) -> Answer {
    if side == Side::Cdn {
        let blob = seen.path.strip_prefix("/cdn/").and_then(|d| state.blobs.get(d));
        return match blob {
            Some(bytes) => body(200, bytes.to_vec(), "application/octet-stream", None),
            None => error(404, "BLOB_UNKNOWN"),
        };
    }
    if state.basic.is_some() && seen.authorization != state.basic {
        return error(401, "UNAUTHORIZED")
            .with_header(header("WWW-Authenticate", r#"Basic realm="fake""#));
    }
    let path = seen.path.split('?').next().unwrap_or_default();
    if path == "/v2/" || path == "/v2" {
        return body(200, b"{}".to_vec(), "application/json", None);
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return error(404, "NOT_FOUND") };
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        let Some(Manifest { media_type, bytes }) =
            state.manifests.get(&(name.to_owned(), reference.to_owned()))
        else {
            return error(404, "MANIFEST_UNKNOWN");
        };
        if !accepts(seen.accept.as_deref(), media_type) {
            return error(404, "MANIFEST_UNKNOWN");
        }
        let digest = sha256(bytes);
        let how = state.misbehaviours.get(reference).or(state.misbehaviours.get(&digest));
        return misbehave(how, bytes, media_type, &digest, state);
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        let Some(bytes) = state.blobs.get(digest) else { return error(404, "BLOB_UNKNOWN") };
        return misbehave(
            state.misbehaviours.get(digest),
            bytes,
            "application/octet-stream",
            digest,
            state,
        );
    }
    error(404, "NOT_FOUND")
}

/// Does `Accept` (`type;q=…, type, …`) list `media_type`?
fn accepts(accept: Option<&str>, media_type: &str) -> bool {
    let listed = |t: &str| t.split(';').next().unwrap_or_default().trim() == media_type;
    accept.is_some_and(|accept| accept.split(',').any(listed))
}

fn misbehave(
    how: Option<&Misbehaviour>,
    bytes: &[u8],
    media_type: &str,
    digest: &str,
    state: &State,
) -> Answer {
    let ok = |bytes: Vec<u8>| body(200, bytes, media_type, Some(digest));
    match how {
        None => ok(bytes.to_vec()),
        Some(Misbehaviour::OtherBytes(other)) => ok(other.clone()),
        Some(Misbehaviour::Truncated(n)) => ok(bytes[..(*n).min(bytes.len())].to_vec()),
        Some(Misbehaviour::Extended(more)) => ok([bytes, more].concat()),
        Some(Misbehaviour::Huge { len, chunked }) => {
            let padding = len.saturating_sub(bytes.len() as u64);
            let reader = Cursor::new(bytes.to_vec()).chain(std::io::repeat(b' ').take(padding));
            let length = (!chunked).then(|| usize::try_from(*len).expect("fits"));
            let headers =
                vec![header("Content-Type", media_type), header("Docker-Content-Digest", digest)];
            let chunk_from = if *chunked { 0 } else { usize::MAX };
            tiny_http::Response::new(
                200.into(),
                headers,
                Box::new(reader) as Box<dyn Read + Send>,
                length,
                None,
            )
            .with_chunked_threshold(chunk_from)
        }
        Some(Misbehaviour::RedirectToCdn) => {
            let location = format!("{}/{digest}", state.cdn);
            body(307, Vec::new(), "text/plain", None).with_header(header("Location", &location))
        }
        Some(Misbehaviour::Status(status)) => error(*status, "UNKNOWN"),
    }
}

/// A body with its length (never chunked, as distribution sends blobs).
fn body(status: u16, bytes: Vec<u8>, media_type: &str, digest: Option<&str>) -> Answer {
    let mut headers = vec![header("Content-Type", media_type)];
    headers.extend(digest.map(|d| header("Docker-Content-Digest", d)));
    let length = bytes.len();
    tiny_http::Response::new(
        status.into(),
        headers,
        Box::new(Cursor::new(bytes)) as Box<dyn Read + Send>,
        Some(length),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// The distribution API's error body.
fn error(status: u16, code: &str) -> Answer {
    let json = serde_json::json!({ "errors": [{ "code": code, "message": code.to_lowercase().replace('_', " ") }] });
    body(status, json.to_string().into_bytes(), "application/json", None)
}
