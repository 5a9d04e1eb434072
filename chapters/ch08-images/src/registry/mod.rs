//! Talking to a registry: the OCI distribution API (the Docker Registry HTTP
//! API v2 under a new name), read-only, as a pull needs it.
//!
//! A pull is a handful of HTTP requests, all under `/v2/<repository>/`:
//!
//! ```text
//! GET /v2/library/alpine/manifests/3.20      → 401, WWW-Authenticate: Bearer realm=…,scope=…
//! GET https://auth.docker.io/token?service=…&scope=repository:library/alpine:pull → {"token": …}
//! GET /v2/library/alpine/manifests/3.20      → 200, an index: one manifest per platform
//! GET /v2/library/alpine/manifests/sha256:…  → 200, this platform's manifest
//! GET /v2/library/alpine/blobs/sha256:…      → 200 (or 307 to a CDN), the config
//! GET /v2/library/alpine/blobs/sha256:…      → 200 (or 307 to a CDN), each layer
//! ```
//!
//! Three ways to authenticate exist in the wild: none (a local registry), Basic
//! (a user and password in every request: a registry behind htpasswd, and
//! Amazon ECR, whose password is a token `aws ecr get-login-password` prints),
//! and Bearer (Docker Hub, GHCR, Quay): the registry's 401 names a token
//! service; we ask it for a short-lived token for exactly this repository and
//! action, with the user's credentials if there are any, and retry with that
//! token. `challenge.rs` reads the 401's challenge and the token service's
//! answer, `credentials.rs` finds the user's credentials, and `client.rs` makes
//! the requests.
//!
//! We use `ureq`, a small blocking HTTP client: a pull is a few sequential
//! requests and a few parallel downloads, which threads do well, and a blocking
//! client keeps the code in the order a reader follows (the async `oci-client`
//! crate would bring a whole runtime for the same requests).

pub mod challenge;
mod client;
pub mod credentials;

pub use client::{Client, Fetched, MAX_MANIFEST, RegistryError, Transport};
