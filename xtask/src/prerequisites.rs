//! What `cargo xtask test` needs from the machine, checked before it starts:
//! a missing tool would otherwise surface minutes later as a failing test.
//! Each is a Debian (and Ubuntu) package; the README lists the same.

use std::path::Path;

use anyhow::{Result, bail};

use crate::{is_root, rootfs, vm};

/// A command the tests run, and the package that has it.
struct Tool {
    command: &'static str,
    package: &'static str,
    purpose: &'static str,
}

const TOOLS: [Tool; 22] = [
    Tool { command: "unshare", package: "util-linux", purpose: "the tests' outer sandbox" },
    Tool { command: "hostname", package: "hostname", purpose: "the tests' outer sandbox" },
    Tool { command: "ip", package: "iproute2", purpose: "the tests' outer sandbox" },
    Tool { command: "nft", package: "nftables", purpose: "chapter 6's NAT and published ports" },
    Tool { command: "strip", package: "binutils", purpose: "small binaries in the VM" },
    Tool { command: "hyperfine", package: "hyperfine", purpose: "the benchmarks" },
    Tool {
        command: "runc",
        package: "runc",
        purpose: "the benchmarks and the runtime's tests compare with it",
    },
    Tool {
        command: "crun",
        package: "crun",
        purpose: "the benchmarks and the runtime's tests compare with it",
    },
    Tool {
        command: "containerd",
        package: "containerd",
        purpose: "driving the runtime in its tests",
    },
    Tool { command: "ctr", package: "containerd", purpose: "driving the runtime in its tests" },
    Tool { command: "podman", package: "podman", purpose: "driving the runtime in its tests" },
    Tool { command: "conmon", package: "conmon", purpose: "podman's monitor of each container" },
    Tool {
        command: "iptables",
        package: "iptables",
        purpose: "podman's network (its CNI plugins)",
    },
    Tool { command: "docker-registry", package: "docker-registry", purpose: "chapter 8's tests" },
    Tool { command: "umoci", package: "umoci", purpose: "chapter 8's test images" },
    Tool { command: "skopeo", package: "skopeo", purpose: "pushing chapter 8's test images" },
    Tool { command: "htpasswd", package: "apache2-utils", purpose: "chapter 8's Basic auth tests" },
    Tool { command: "openssl", package: "openssl", purpose: "chapter 8's token auth tests" },
    Tool { command: "newuidmap", package: "uidmap", purpose: "chapter 9 without root" },
    Tool {
        command: "slirp4netns",
        package: "slirp4netns",
        purpose: "chapter 9's network without root",
    },
    Tool {
        command: "keyctl",
        package: "keyutils",
        purpose: "the escape lab's keyring attack (VM)",
    },
    Tool {
        command: "script",
        package: "bsdutils",
        purpose: "the escape lab's terminal attack (VM)",
    },
];

/// A file the build or the tests need, and the package that has it.
struct File {
    path: &'static str,
    package: &'static str,
    purpose: &'static str,
}

const FILES: [File; 2] = [
    File {
        // The linker's name for the library: only the -dev package has it,
        // in the machine's multiarch directory (x86_64-linux-gnu, ...).
        path: "/usr/lib/*/libseccomp.so",
        package: "libseccomp-dev",
        purpose: "chapter 10's seccomp filters (the libseccomp crate links it)",
    },
    File {
        path: "/usr/share/containers/seccomp.json",
        package: "golang-github-containers-common",
        purpose: "chapter 10's default seccomp profile",
    },
];

/// Does `pattern` name a file? Its one `*`, if any, stands for a directory.
fn exists(pattern: &str) -> bool {
    let Some((dir, rest)) = pattern.split_once("/*/") else { return Path::new(pattern).exists() };
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| e.path().join(rest).exists())
}

/// Stop, with one line per missing thing and the command that installs it,
/// unless everything is there.
pub fn check() -> Result<()> {
    let mut missing: Vec<(String, &str)> = Vec::new();
    if rootfs::static_busybox().is_err() {
        let what = "a static /bin/busybox (the tests' root file systems)".to_owned();
        missing.push((what, rootfs::BUSYBOX_PACKAGE));
    }
    for tool in TOOLS.iter().filter(|t| !installed(t.command)) {
        missing.push((format!("{} ({})", tool.command, tool.purpose), tool.package));
    }
    for file in FILES.iter().filter(|f| !exists(f.path)) {
        missing.push((format!("{} ({})", file.path, file.purpose), file.package));
    }
    if let Err(why) = qemu_available(&vm::cache_dir()) {
        missing.push((why, tincan_vm::qemu::PACKAGE));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let sudo = if is_root() { "" } else { "sudo " };
    eprintln!("cargo xtask test needs what is missing here:");
    for (what, package) in &missing {
        eprintln!("  {what}: {sudo}apt-get install {package}");
    }
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    bail!(
        "{} prerequisites are missing; install them with: {sudo}apt-get install --no-remove {}",
        missing.len(),
        packages.join(" ")
    )
}

/// On `PATH`, or in the directories of root's `PATH` that a user's may lack
/// (Debian puts `ip` and `nft` in /usr/sbin; the tests run as root).
pub fn installed(command: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .any(|dir| dir.join(command).is_file())
}

/// The VM needs a qemu: the system's, one fetched before, or one the harness
/// can fetch (apt-get knows which packages it takes).
fn qemu_available(cache: &Path) -> Result<(), String> {
    if tincan_vm::qemu::find_qemu(cache).is_some() {
        return Ok(());
    }
    match tincan_vm::qemu::packages_to_fetch() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("qemu, for the VM of chapter 7's cgroup v2 tests ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_found_on_path_or_in_sbin() {
        assert!(installed("sh"));
        assert!(!installed("tincan-no-such-command"));
        assert!(exists("/proc/*/status"));
        assert!(!exists("/proc/*/tincan-no-such-file"));
    }
}
