//! A bridge network for a container of the docker-style face (`tincan run
//! --network NAME`): the face names the bridge, its subnet and the ports to
//! publish in the annotation [`ANNOTATION`], and the core adds chapter 6's
//! own steps — the veth pair, the address lease, the NAT and port rules,
//! the `/etc/hosts` it bind-mounts — where otherwise a container gets a
//! network namespace with only `lo`.
//!
//! An engine such as podman makes the network itself (with netavark, or CNI
//! plugins) and hands the runtime a namespace to join; tincan's face asks the
//! core instead, so that what is made on the host is recorded in the
//! container's state before it is made, and `delete` takes it down.

use std::path::Path;

use ch06_net::{NetOptions, Network, PortMapping};
use serde::{Deserialize, Serialize};

use crate::bundle::BundleError;

/// The annotation: the network, as JSON ([`Asked`]).
pub const ANNOTATION: &str = "dev.tincan.network";

/// What the face asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asked {
    /// The bridge on the host (made with the first container on it).
    pub bridge: String,
    /// Its subnet, such as `10.90.1.0/24`.
    pub subnet: String,
    /// `-p`: host ports forwarded to the container's.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// `net` connected to the bridge the annotation's `value` asks for, if
/// `bundle` is the face's own (see [`crate::image_root::faces_own`]).
pub fn on_bridge(
    net: &mut NetOptions,
    value: &str,
    bundle: &Path,
    rootfs: &Path,
    id: &str,
) -> Result<(), BundleError> {
    crate::image_root::faces_own(ANNOTATION, bundle, rootfs, id)?;
    let bad = |why: String| BundleError::Invalid(format!("annotation {ANNOTATION}: {why}"));
    let asked: Asked = serde_json::from_str(value).map_err(|e| bad(e.to_string()))?;
    let publish = asked
        .publish
        .iter()
        .map(|p| p.parse::<PortMapping>().map_err(|e| bad(format!("{p}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    // An interface's name, as chapter 6 takes them.
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    if !(1..=15).contains(&asked.bridge.len()) || !asked.bridge.chars().all(allowed) {
        return Err(bad(format!("{:?} is not a bridge's name", asked.bridge)));
    }
    net.subnet = asked.subnet.parse().map_err(|e| bad(format!("subnet {}: {e}", asked.subnet)))?;
    net.net = Network::Bridge;
    net.bridge = asked.bridge;
    net.publish = publish;
    Ok(())
}
