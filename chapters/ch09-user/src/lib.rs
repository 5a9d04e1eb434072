//! # Chapter 9: user namespaces
//!
//! Until now the container's root was the host's root, fenced in by
//! namespaces: any way out of the fence (a kernel bug, a mount left in
//! reach, a device) was a way to root on the host. A user namespace changes
//! *who* the container's root is: a process that is 0 inside, with every
//! capability over the container's own namespaces, and an unprivileged ID
//! outside (100000, say), with no capability over anything else. A file it
//! creates belongs to 100000 on the host; a host file only root may read stays
//! closed to it.
//!
//! # Layout
//!
//! - `idmap.rs`: ID maps (`--uidmap 0:100000:65536`), checked as the kernel will.
//! - `subid.rs`: the ranges `/etc/subuid` and `/etc/subgid` hand out (`--userns`).
//! - `userns.rs`: the step: the maps, written from outside; root taken on inside.
//! - `layers.rs`: the image's layers through idmapped mounts, under an overlay
//!   mounted in the user namespace.
//! - `early.rs`: `/proc` and `/sys`, mounted while the host's are in view.
//! - (chapter 3's `dev.rs`: the host's device nodes bound, where `mknod` is refused.)
//! - `run.rs`: `ch09 run`'s options and plan.
//! - `rootless.rs`: what changes without root: no bridge; the container's cgroup
//!   under one root delegated to the user, or none.
//! - `slirp.rs`, `slirp_process.rs`: `--net slirp4netns`, a user-mode network (the
//!   default without root), and its process.
//! - `images.rs`: `pull`, `import` and `rmi` without root, run again as root of a
//!   user namespace.
//! - `delegate.rs`: `sudo ch09 delegate USER`, root's one-time set-up for a user's limits.
//!
//! Man pages: `man 7 user_namespaces`, `man 5 subuid`, `man 1 newuidmap`.

/// One line for `ch09 --help` and the `tincan` listing.
pub const ABOUT: &str = "user namespaces: root inside, nobody outside; rootless containers";

pub mod delegate;
mod early;
pub use early::{EarlyProc, EarlySys};
pub mod idmap;
pub mod images;
mod layers;
pub mod rootless;
pub mod run;
pub mod slirp;
mod slirp_process;
pub mod subid;
pub mod userns;
