//! IP forwarding: the host passing packets between its interfaces.
//!
//! Without it, packets from the bridge never leave through the host's other
//! interfaces, and NAT has nothing to translate. It is a setting of the whole
//! network namespace (`net.ipv4.ip_forward`), so we touch it only while a bridge
//! needs it: switched on with the first bridge if it was off, and back off when the
//! last bridge goes — only if we switched it on. A bridge also needs
//! `route_localnet`, for ports published on 127.0.0.1; that setting belongs to the
//! bridge's own interface and goes away with it.

use std::fs;
use std::path::PathBuf;

use ch00_process::{Doing, StepError};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Remembers that forwarding was off before tincan switched it on.
fn marker() -> PathBuf {
    crate::net_dir().join("ip_forward-was-off")
}

/// For a bridge just created: forwarding on, and loopback-sourced packets allowed
/// out of this bridge.
pub fn on(bridge: &str) -> Result<(), StepError> {
    let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    fs::write(&localnet, "1").doing(|| format!("write {localnet}"))?;
    let current = fs::read_to_string(IP_FORWARD).doing(|| format!("read {IP_FORWARD}"))?;
    if current.trim() == "0" {
        fs::write(marker(), "").doing(|| format!("write {}", marker().display()))?;
        fs::write(IP_FORWARD, "1").doing(|| format!("write {IP_FORWARD}"))?;
    }
    Ok(())
}

/// When a bridge is removed: switch forwarding back off if we switched it on and
/// no other bridge of ours is in use.
pub fn restore() -> Result<(), StepError> {
    let in_use = fs::read_dir(crate::net_dir())
        .map(|entries| {
            entries.flatten().any(|e| e.path().is_dir() && crate::claim::any_in(&e.path()))
        })
        .unwrap_or(false);
    if in_use || !marker().exists() {
        return Ok(());
    }
    fs::write(IP_FORWARD, "0").doing(|| format!("write {IP_FORWARD}"))?;
    fs::remove_file(marker()).doing(|| format!("remove {}", marker().display()))
}
