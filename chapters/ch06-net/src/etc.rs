//! The container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
//!
//! They depend on the container's name and address, which the image cannot know.
//! Docker writes them outside the image and bind-mounts them over the image's
//! files; so do we. The rootfs on disk is never written: the bind mounts live in
//! the container's mount namespace and vanish with it. (Only a file that is missing
//! entirely is created, empty, as a mount point, as runc does.)

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ch00_process::{Doing, StepError};
use nix::mount::{MsFlags, mount};

const FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// Where a container's generated files live on the host.
pub fn dir(container_id: &str) -> PathBuf {
    crate::state_dir().join("containers").join(container_id)
}

/// Write the three files for a container called `hostname` at `address`.
pub fn write(dir: &Path, hostname: &str, address: Ipv4Addr) -> Result<(), StepError> {
    fs::create_dir_all(dir).doing(|| format!("create {}", dir.display()))?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n"
    );
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for (name, content) in [
        ("hosts", hosts),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv_conf(&host_resolv)),
    ] {
        let path = dir.join(name);
        fs::write(&path, content).doing(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// The host's resolvers, except those on its loopback (a local cache such as
/// systemd-resolved at 127.0.0.53), which the container cannot reach.
fn resolv_conf(host: &str) -> String {
    let mut out =
        String::from("# written by tincan: the host's resolvers that a container can reach\n");
    for line in host.lines() {
        let on_loopback = line
            .strip_prefix("nameserver")
            .is_some_and(|addr| addr.trim().starts_with("127.") || addr.trim() == "::1");
        if !on_loopback && !line.trim_start().starts_with('#') && !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// In the child, before `pivot_root`: bind the files over the rootfs's own.
pub fn bind(dir: &Path, rootfs: &Path) -> Result<(), StepError> {
    for name in FILES {
        let (source, target) = (dir.join(name), rootfs.join("etc").join(name));
        if !target.exists() {
            fs::create_dir_all(rootfs.join("etc")).doing(|| "create ROOTFS/etc".to_owned())?;
            fs::write(&target, "")
                .doing(|| format!("create {} to mount onto", target.display()))?;
        }
        mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .doing(|| format!("bind {} over {}", source.display(), target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_resolvers_are_left_out() {
        let host =
            "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n";
        assert_eq!(
            super::resolv_conf(host),
            "# written by tincan: the host's resolvers that a container can reach\nnameserver 192.0.2.53\nsearch example.org\n"
        );
    }
}
