//! A statically linked release build of some of the workspace's binaries:
//! what `cargo xtask bench` measures.
//!
//! A dynamically linked program pays, at every start, for the dynamic
//! loader: it maps each shared library, looks up every symbol it imports, and
//! writes its relocations into pages it must first copy. For a runtime that
//! lives a few milliseconds that is most of a millisecond (measured: the
//! bench's "tincan, dynamically linked" row). runc's releases are static for
//! that reason among others; a static glibc program needs the shared NSS
//! libraries of the same glibc only to look up names (users, hosts), which
//! the start of a container does not do.
//!
//! `+crt-static` has to reach every crate (the `libc` crate links glibc
//! differently with it), but not the build scripts and proc-macros, which run
//! inside cargo: hence `--target` with the host's own triple, which keeps
//! `RUSTFLAGS` off those. The binaries land in `target/<triple>/release/`, out
//! of the way of the ordinary `target/release/` build. libseccomp, which
//! chapter 10 links, comes from its static archive (Debian's
//! `libseccomp-dev` ships both).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// Build `bins` statically, in release mode; the directory they are in.
pub fn build(bins: &[&str]) -> Result<PathBuf> {
    let triple = host_triple()?;
    let seccomp = static_archive_dir("libseccomp.a")
        .context("the static build links libseccomp.a: sudo apt-get install libseccomp-dev")?;
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--target", &triple])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // libseccomp-sys's switches for its archive and where it is.
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env("LIBSECCOMP_LIB_PATH", &seccomp);
    for bin in bins {
        cargo.args(["--bin", bin]);
    }
    if !cargo.status()?.success() {
        bail!("the static build of {} failed (see above)", bins.join(", "));
    }
    Ok(workspace_root().join("target").join(triple).join("release"))
}

/// The triple rustc builds for by default: `host: x86_64-unknown-linux-gnu`.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("run rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let host = text.lines().find_map(|l| l.strip_prefix("host: "));
    Ok(host.context("rustc -vV names no host")?.trim().to_owned())
}

/// The directory of a static archive the C compiler would link.
fn static_archive_dir(name: &str) -> Result<PathBuf> {
    let out =
        Command::new("cc").arg(format!("-print-file-name={name}")).output().context("run cc")?;
    // cc prints the bare name back when it finds no such file.
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    match path.parent() {
        Some(dir) if path.is_file() && dir != Path::new("") => Ok(dir.to_owned()),
        _ => bail!("cc finds no {name}"),
    }
}
