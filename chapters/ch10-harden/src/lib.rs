//! # Chapter 10: hardening
//!
//! (Being written: the defaults a production runtime applies.)

/// One line for `ch10 --help` and the `tincan` listing.
pub const ABOUT: &str = "hardening: capabilities, seccomp, no_new_privs, masked paths, devices";

pub mod run;
