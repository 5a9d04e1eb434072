//! The container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
//!
//! They depend on the container's name and address, which the image cannot know.
//! Docker writes them outside the image and bind-mounts them over the image's
//! files; so do we. The rootfs's files are never written: the bind mounts live in
//! the container's mount namespace and vanish with it. (Only what is missing
//! entirely — `/etc`, or one of the files — is created, empty, as a mount point,
//! as runc does.)
//!
//! The mounts are made before `pivot_root`, while our files on the host are in
//! reach — and so while the *host's* paths are in reach too. The targets are
//! therefore resolved inside the rootfs (`ch01_chroot::RootDir`): a rootfs whose
//! `etc/hosts` is a symbolic link to `/etc/hosts` gets its own file covered,
//! never the host's.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ch00_process::{Context, Doing, State, Step, StepError};
use ch01_chroot::{RootDir, fd_path};
use nix::mount::{MsFlags, mount};

const FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// Public resolvers, for a host whose only resolver is on its own loopback and
/// that names no upstream (Docker falls back to the same two).
const FALLBACK_RESOLVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// systemd-resolved's list of the upstream servers it forwards to.
const RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

/// Where a container's generated files live on the host: in its state directory.
fn dir(state: &State) -> PathBuf {
    state.dir().join("etc")
}

/// Write the three files for a container called `hostname` at `address`.
pub fn write(state: &State, hostname: &str, address: Ipv4Addr) -> Result<(), StepError> {
    let dir = dir(state);
    fs::create_dir_all(&dir).doing(|| format!("create {}", dir.display()))?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n"
    );
    let read = |path| fs::read_to_string(path).unwrap_or_default();
    let resolv = resolv_conf(&read("/etc/resolv.conf"), &read(RESOLVED_UPSTREAMS));
    for (name, content) in
        [("hosts", hosts), ("hostname", format!("{hostname}\n")), ("resolv.conf", resolv)]
    {
        let path = dir.join(name);
        fs::write(&path, content).doing(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// The host's resolvers that a container can reach. Those on the host's loopback
/// (systemd-resolved's 127.0.0.53, a local dnsmasq) are not: the container's
/// `127.0.0.1` is its own. In their place come resolved's upstream servers, or,
/// failing those, public ones.
fn resolv_conf(host: &str, resolved_upstreams: &str) -> String {
    let mut out =
        String::from("# written by tincan: the host's resolvers that a container can reach\n");
    let usable = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
            .filter(|line| {
                let server = line.strip_prefix("nameserver").map(str::trim);
                !server.is_some_and(|addr| addr.starts_with("127.") || addr == "::1")
            })
            .map(str::to_owned)
            .collect()
    };
    let is_server = |line: &String| line.starts_with("nameserver");
    let mut lines = usable(host);
    if !lines.iter().any(is_server) {
        lines.extend(usable(resolved_upstreams).into_iter().filter(is_server));
    }
    if !lines.iter().any(is_server) {
        out.push_str("# (the host's only resolvers are on its loopback: public ones instead)\n");
        lines.extend(FALLBACK_RESOLVERS.map(|addr| format!("nameserver {addr}")));
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Put the written files over the rootfs's own, inside the container's mount
/// namespace. Runs in the child, before `pivot_root`.
pub struct EtcFiles;

// ANCHOR: etc_files
impl Step for EtcFiles {
    fn name(&self) -> &'static str {
        "bind /etc files"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let rootfs = RootDir::open(&cx.container.rootfs)?;
        rootfs.dir("etc")?; // a rootfs without /etc gets one
        for name in FILES {
            let source = dir(cx.state).join(name);
            let target = rootfs.file(&format!("etc/{name}"))?;
            bind(&source, &fd_path(&target), &rootfs.shown(&format!("etc/{name}")))?;
        }
        Ok(())
    }
}
// ANCHOR_END: etc_files

fn bind(source: &Path, target: &Path, shown: &str) -> Result<(), StepError> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .doing(|| format!("bind {} over {shown}", source.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# written by tincan: the host's resolvers that a container can reach\n";

    #[test]
    fn loopback_resolvers_are_left_out() {
        let host =
            "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n";
        assert_eq!(
            resolv_conf(host, ""),
            format!("{HEADER}nameserver 192.0.2.53\nsearch example.org\n")
        );
    }

    /// systemd-resolved: the host asks 127.0.0.53, which asks the real servers.
    #[test]
    fn behind_systemd_resolved_its_upstream_servers_are_used() {
        let host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let upstreams =
            "# This is /run/systemd/resolve/resolv.conf\nnameserver 192.0.2.1\nsearch lan\n";
        assert_eq!(
            resolv_conf(host, upstreams),
            format!("{HEADER}options edns0 trust-ad\nsearch lan\nnameserver 192.0.2.1\n")
        );
    }

    #[test]
    fn with_no_reachable_resolver_public_ones_are_used() {
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", ""),
            format!(
                "{HEADER}# (the host's only resolvers are on its loopback: public ones instead)\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
            )
        );
    }
}
