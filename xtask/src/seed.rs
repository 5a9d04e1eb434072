//! Give the workshop's build the dependencies our build already compiled.
//!
//! The learner workspace is a copy of ours with the exercises cut out, built in
//! a target directory of its own (its chapter binaries must not replace ours).
//! Its dependencies from crates.io are the very same: same `Cargo.lock`, same
//! features, same compiler. Cargo names their compiled files by a hash of
//! exactly that, not of where the workspace lies, so our files for them are the
//! files the workshop's build would make. Placed in its target directory, cargo
//! finds them fresh and compiles only the workspace's own crates.
//!
//! Not the workspace's own crates: cargo names those by their path *within* the
//! workspace, so ours and the learner's (which differ) share file names.
//! `.rlib` and `.rmeta` files are hard-linked: rustc writes them by renaming a
//! new file into place, so a later rebuild replaces the link and never writes
//! through it into our file. Everything else (dep-info, cargo's fingerprints,
//! build scripts and their output, proc-macro libraries) is copied, because
//! those may be rewritten in place.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Seed `into` (a target directory) with the dependencies compiled in `ours`
/// (the target directory of the workspace at `root`). Entries already in `into`
/// are kept.
pub fn seed(root: &Path, ours: &Path, into: &Path) -> Result<()> {
    let own = own_names(root)?;
    for dir in ["deps", "build", ".fingerprint"] {
        let (from, to) = (ours.join("debug").join(dir), into.join("debug").join(dir));
        let Ok(entries) = fs::read_dir(&from) else {
            continue; // nothing built yet
        };
        fs::create_dir_all(&to)?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let dest = to.join(&name);
            if is_own(&name.to_string_lossy(), &own) || dest.symlink_metadata().is_ok() {
                continue;
            }
            link_or_copy(&entry.path(), &dest)
                .with_context(|| format!("seeding {} from {}", dest.display(), from.display()))?;
        }
    }
    Ok(())
}

/// The names of the workspace's packages and targets, with `_` for `-` (as
/// cargo writes them in file names): `ch02_pid`, `ch02`, `it`, ...
fn own_names(root: &Path) -> Result<HashSet<String>> {
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let packages = metadata["packages"].as_array().context("cargo metadata without packages")?;
    let mut names = HashSet::new();
    for package in packages {
        names.extend(package["name"].as_str().map(normal));
        let targets = package["targets"].as_array().into_iter().flatten();
        names.extend(targets.filter_map(|t| t["name"].as_str()).map(normal));
    }
    Ok(names)
}

fn normal(name: &str) -> String {
    name.replace('-', "_")
}

/// Is `file` (`libch02_pid-0123.rlib`, `ch02-pid-0123`, `it-0123.d`) one of
/// the workspace's own? A name without a hash is treated as ours: only what
/// cargo named by a hash can be shared.
fn is_own(file: &str, own: &HashSet<String>) -> bool {
    let Some((stem, _hash)) = file.rsplit_once('-') else {
        return true;
    };
    let stem = normal(stem);
    own.contains(&stem) || stem.strip_prefix("lib").is_some_and(|s| own.contains(s))
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            link_or_copy(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if from.extension().is_some_and(|e| e == "rlib" || e == "rmeta") {
        fs::hard_link(from, to)?;
    } else if from.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else {
        fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_s_own_files_are_told_apart() {
        let own: HashSet<String> =
            ["ch02_pid", "ch02", "it", "tincan_probe"].map(str::to_owned).into();
        for ours in [
            "libch02_pid-0123.rlib",
            "ch02_pid-0123.d",
            "ch02-pid-0123",
            "ch02-0123",
            "it-0123",
            "tincan-probe-0123",
            "tincan_probe-0123.d",
            "nohash",
        ] {
            assert!(is_own(ours, &own), "{ours}");
        }
        for theirs in ["libc-0123.d", "liblibc-0123.rlib", "libserde_derive-0123.so", "nix-0123"] {
            assert!(!is_own(theirs, &own), "{theirs}");
        }
    }

    #[test]
    fn seeding_links_libraries_copies_the_rest_and_skips_our_crates() {
        let ours = tempfile::tempdir().unwrap();
        let deps = ours.path().join("debug/deps");
        fs::create_dir_all(&deps).unwrap();
        for file in ["libnix-0123.rlib", "nix-0123.d", "libch02_pid-0123.rlib"] {
            fs::write(deps.join(file), file).unwrap();
        }
        let into = tempfile::tempdir().unwrap();
        // This workspace's own names, as cargo metadata gives them.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        seed(root, ours.path(), into.path()).unwrap();
        use std::os::unix::fs::MetadataExt;
        let seeded = |f: &str| fs::metadata(into.path().join("debug/deps").join(f));
        assert_eq!(seeded("libnix-0123.rlib").unwrap().nlink(), 2, "hard-linked");
        assert_eq!(seeded("nix-0123.d").unwrap().nlink(), 1, "copied");
        assert!(seeded("libch02_pid-0123.rlib").is_err(), "ours: not seeded");
    }
}
