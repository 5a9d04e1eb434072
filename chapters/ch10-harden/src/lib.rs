//! # Chapter 10: hardening — what a root process in a container may still do
pub mod seccomp;
