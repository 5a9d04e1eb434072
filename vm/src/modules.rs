//! Kernel modules for the guest: the ones a run names, and the ones they need.
//!
//! A module (`.ko`) is an ELF object the kernel links into itself at run time
//! (`init_module(2)`, or `finit_module(2)` from an open file). Its `.modinfo`
//! section holds `key=value` strings; `depends=llc,stp` lists the modules that
//! must be loaded first. `depmod(8)` turns those into `modules.dep` when a
//! kernel package is installed; we never install it, so we read them ourselves
//! and put the modules into the initramfs in an order `insmod` can follow.
//! Man pages: `man 8 insmod`, `man 2 init_module`, `man 5 modules.dep`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{Initramfs, Kernel};

impl Initramfs {
    /// Add the modules `names` of `kernel` and those they depend on, under
    /// `/lib/modules/RELEASE/` as in the package. Returns their guest paths in
    /// the order to load them (dependencies first).
    pub fn modules(&mut self, kernel: &Kernel, names: &[&str]) -> Result<Vec<String>> {
        let index = index(&kernel.modules)?;
        let mut order = Vec::new();
        for name in names {
            visit(&normal(name), &index, &mut order, &mut Vec::new())?;
        }
        let mut guest_paths = Vec::new();
        for name in order {
            let host = &index[&name];
            let relative = host.strip_prefix(&kernel.modules).expect("below the modules");
            let guest = format!("/lib/modules/{}/{}", kernel.release, relative.display());
            self.host_file(host, &guest)?;
            guest_paths.push(guest);
        }
        Ok(guest_paths)
    }
}

/// Add `name` after what it depends on (depth first), once.
fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    order: &mut Vec<String>,
    path: &mut Vec<String>,
) -> Result<()> {
    if order.iter().any(|n| n == name) {
        return Ok(());
    }
    if path.iter().any(|n| n == name) {
        bail!("modules depend on each other in a circle: {} -> {name}", path.join(" -> "));
    }
    let file = index.get(name).with_context(|| format!("the kernel has no module {name}"))?;
    let bytes = fs::read(file).with_context(|| format!("read {}", file.display()))?;
    path.push(name.to_owned());
    for dependency in depends(&bytes) {
        visit(&dependency, index, order, path)?;
    }
    path.pop();
    order.push(name.to_owned());
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo`: NUL-terminated strings, so
/// the entry starts after a NUL. (A module that needs nothing says `depends=`.)
fn depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(at) = module.windows(KEY.len()).position(|w| w == KEY) else { return Vec::new() };
    let rest = &module[at + KEY.len()..];
    let value = &rest[..rest.iter().position(|b| *b == 0).unwrap_or(rest.len())];
    String::from_utf8_lossy(value).split(',').filter(|n| !n.is_empty()).map(normal).collect()
}

/// Every module below `dir`, by name.
fn index(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Some(stem) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko"))
            {
                found.insert(normal(stem), path);
            }
        }
    }
    Ok(found)
}

/// The kernel treats `-` and `_` in module names alike (`crc-itu-t` is loaded
/// as `crc_itu_t`).
fn normal(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_reads_the_modinfo_entry() {
        let module = b"\x7fELF...\0license=GPL\0depends=llc,stp\0retpoline=Y\0";
        assert_eq!(depends(module), ["llc", "stp"]);
        assert!(depends(b"\0depends=\0name=veth\0").is_empty());
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, deps: &str| {
            fs::write(dir.path().join(format!("{name}.ko")), format!("\0depends={deps}\0")).unwrap()
        };
        write("bridge", "llc,stp");
        write("stp", "llc");
        write("llc", "");
        write("crc-itu-t", "");
        let index = index(dir.path()).unwrap();
        let mut order = Vec::new();
        for name in ["bridge", "stp", "crc-itu-t"] {
            visit(&normal(name), &index, &mut order, &mut Vec::new()).unwrap();
        }
        assert_eq!(order, ["llc", "stp", "bridge", "crc_itu_t"]);
    }
}
