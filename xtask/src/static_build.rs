//! A statically linked release build of some of the workspace's binaries,
//! for `cargo xtask bench` (the project's ordinary build stays dynamic).
//!
//! A dynamically linked program pays, at every start, for the dynamic
//! loader: it maps each shared library (glibc, libm, libgcc_s, libseccomp),
//! relocates them, and binds every symbol the program imports. A static one
//! still relocates itself (it is position-independent, so that it loads at
//! a random address), but does none of the rest. For a runtime that lives a
//! few milliseconds that is measurable: the bench's "tincan, dynamically
//! linked" row. A static glibc program still needs the host's NSS libraries
//! to look names up (`tincan state` asks for the owner's user name); built
//! and run on one host, as here, they match.
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
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(theirs) if !theirs.trim().is_empty() => {
            format!("{theirs} -C target-feature=+crt-static")
        }
        _ => "-C target-feature=+crt-static".to_owned(),
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--target", &triple])
        // The caller's flags too, so that the two builds differ in linking
        // only; the encoded form would override them, so it goes.
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // libseccomp-sys's switches for its archive and where it is.
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env("LIBSECCOMP_LIB_PATH", &seccomp);
    for bin in bins {
        cargo.args(["--bin", bin]);
    }
    if !cargo.status()?.success() {
        bail!("the static build of {} failed (see above)", bins.join(", "));
    }
    let dir = workspace_root().join("target").join(triple).join("release");
    for bin in bins {
        let path = dir.join(bin);
        if has_interpreter(&path).with_context(|| format!("read {}", path.display()))? {
            bail!("{} was linked dynamically, where it should be static", path.display());
        }
    }
    Ok(dir)
}

/// Does the ELF file at `path` name a dynamic loader (a `PT_INTERP`
/// segment)? A static program does not.
fn has_interpreter(path: &Path) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    let elf = std::fs::read(path)?;
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at =
        |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    // ELF64, little-endian: where the program headers are, their size, their count.
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        bail!("not a 64-bit little-endian ELF file");
    }
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        bail!("a truncated ELF header");
    };
    Ok((0..usize::from(count)).any(|i| {
        let at = phoff as usize + i * usize::from(size);
        elf.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            == Some(PT_INTERP)
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_names_its_loader_and_a_static_one_does_not() {
        // /bin/sh is dash, linked dynamically; busybox-static is a prerequisite.
        assert!(has_interpreter(Path::new("/bin/sh")).unwrap());
        assert!(!has_interpreter(Path::new("/bin/busybox")).unwrap());
        assert!(has_interpreter(Path::new("/etc/hostname")).is_err());
    }
}
