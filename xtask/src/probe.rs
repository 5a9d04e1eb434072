//! Building `tincan-probe` as a static executable.
//!
//! The probe runs inside root filesystems with no C library, so it must carry its
//! own. Rust can link glibc statically (`-C target-feature=+crt-static`), but that
//! flag cannot be set for one package of a workspace in Cargo.toml, and setting it
//! for all would break proc-macro crates. So we build the probe on its own, into
//! `target/static`, where the flag does not disturb the normal build.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::workspace_root;

pub fn build_static() -> Result<PathBuf> {
    let target_dir = workspace_root().join("target/static");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["rustc", "--quiet", "--release", "--package", "tincan-probe", "--target-dir"])
        .arg(&target_dir)
        .args(["--", "-C", "target-feature=+crt-static"])
        .status()?;
    if !status.success() {
        bail!("building the static tincan-probe failed");
    }
    Ok(target_dir.join("release/tincan-probe"))
}
