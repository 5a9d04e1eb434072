//! # Chapter 8: layered images
//!
//! Every chapter so far ran a directory we built by hand. What people mean by "a
//! container image" is something else: a stack of **layers** — tar archives, each
//! holding the files one build step added, changed or deleted — plus a **config**
//! (the command to run, its environment, its user and working directory), tied
//! together by a **manifest** and named by their digests. A **registry** serves
//! them over HTTP; `ch08 pull alpine` fetches them, checks every byte against its
//! digest, and unpacks each layer once into a store on disk.
//!
//! To run an image, the runtime does not copy the layers into one directory:
//! **overlayfs** stacks them, read-only, under one writable directory of the
//! container's own. Ten containers of one image share its layers on disk and in
//! the page cache; each writes only its own changes. A file a layer deletes is a
//! **whiteout** in that layer, which overlayfs understands.
//!
//! Builds on chapter 7 ([`ch07_cgroups::plan()`]): the rootfs becomes an overlay
//! mount, and the image's config says what to run, as whom, and where.
//!
//! # Layout
//!
//! - `reference.rs`: `alpine` → `docker.io/library/alpine:latest`.
//! - `digest.rs`: content addresses, checked while the bytes stream.
//! - `registry/`: the distribution API over HTTP: auth, manifests, blobs.
//! - `platform.rs`: picking this machine's image from an index.
//! - `pull.rs`: reference → token → manifest → config → layers, in parallel.
//! - `store.rs`, `index.rs`: blobs, unpacked layers and names on disk.
//! - `unpack/`: applying a layer: whiteouts, and hostile archives kept inside.
//! - `import.rs`: a rootfs tarball as a one-layer image.
//! - `overlay.rs`: the container's root, stacked from the layers.
//! - `cli.rs`: the command line, which later chapters extend with their own `run` options.
//! - `config.rs`, `user.rs`: the image config: command, environment, user, directory.
//!
//! Man pages and specs: the OCI image spec (`image-layout`, `manifest`, `layer`,
//! `config`), the OCI distribution spec, the kernel's
//! `Documentation/filesystems/overlayfs.rst`.

pub mod cli;
pub mod compression;
pub mod config;
pub mod digest;
pub mod image;
pub mod import;
pub mod index;
pub mod layer;
pub mod overlay;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod run;
pub mod store;
pub mod unpack;
pub mod user;
pub mod workdir;

#[cfg(test)]
mod testing;

pub use digest::{Digest, DigestError};

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "layered images: pulled from registries, verified, stacked with overlayfs";
