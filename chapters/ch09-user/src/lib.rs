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
//!
//! Man pages: `man 7 user_namespaces`, `man 5 subuid`, `man 1 newuidmap`.

/// One line for `ch09 --help` and the `tincan` listing.
pub const ABOUT: &str = "user namespaces: root inside, nobody outside; rootless containers";

mod early;
pub mod idmap;
mod layers;
pub mod run;
pub mod subid;
pub mod userns;
