//! tincan's workspace tests: one binary, a module per topic (ripgrep's layout).
//!
//! - `ch00` … `ch10`: what each chapter's binary does, from the outside.
//! - `errors`, `hostile_rootfs`, `crash`: clear errors, a rootfs the project did
//!   not build, and a runtime killed at any moment.
//! - `snapshot`: the stage probe's report, per chapter, pinned with insta.
//! - `run_it`: each chapter's "Run it" session for the book, pinned likewise.
//! - `escape_lab`: attacks against every stage; which stage stops which attack.
//! - `escape_vm`: the attacks that would harm a real host, against every stage
//!   inside a VM.
//! - `support`: privileges, root filesystems, the outer sandbox, filters; for
//!   chapter 8, registries (real and fake) and images made by real tools.
//! - `registry_harness`: that chapter 8's harness itself works.
//! - `workspace`: the README keeps up with the chapters (needs no root).
//!
//! Test names carry their chapter (`ch02::...`, `escape_lab::ch02::...`) so that
//! `cargo xtask check ch02` can select a chapter's checks.
//!
//! These tests create real namespaces and mounts and need root. `cargo xtask test`
//! runs them through `sudo -E` when you are not root. Run directly (`cargo test`
//! as root), they first build the chapter binaries and the test rootfs if their
//! sources changed, so they never test stale code (see `support/mod.rs`).

mod ch00;
mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch06_ports;
mod ch07;
mod ch07_v2;
mod ch08;
mod ch08_hostile;
mod ch09;
mod ch09_rootless;
mod ch10;
mod ch10_v2;
mod containerd;
mod crash;
mod doctor;
mod errors;
mod escape_lab;
mod escape_vm;
mod face;
mod face_commands;
mod face_leaks;
mod face_network;
mod face_transcript;
mod hostile_rootfs;
mod oci_runtime;
mod oci_runtime_v2;
mod podman;
mod registry_harness;
mod run_it;
mod snapshot;
mod supervisor;
mod support;
mod sweep;
mod workspace;
