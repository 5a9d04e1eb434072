//! # Chapter 9: user namespaces
//!
//! (Being written: root inside the container, an unprivileged user outside.)

/// One line for `ch09 --help` and the `tincan` listing.
pub const ABOUT: &str = "user namespaces: root inside, nobody outside; rootless containers";

pub mod delegate;
pub mod rootless;
pub mod run;
pub mod slirp;
