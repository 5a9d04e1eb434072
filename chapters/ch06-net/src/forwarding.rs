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

use ch00_process::{Doing, StepError};

use crate::firewall;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Remembers that forwarding was off before tincan switched it on: a mark in
/// the host's table `ip tincan`, not a file in a state directory. The setting
/// is the host's, and so must be who switched it on and who still needs it:
/// another tincan with a state directory of its own (a test's, a user's)
/// sees the same table. (An `nft flush ruleset` takes the mark away with
/// the rest: forwarding then stays on.)
const WAS_OFF: &str = "tincan ip_forward was off";

/// For a bridge just created: forwarding on, and loopback-sourced packets allowed
/// out of this bridge.
pub fn on(bridge: &str) -> Result<(), StepError> {
    let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    fs::write(&localnet, "1").doing(|| format!("write {localnet}"))?;
    let current = fs::read_to_string(IP_FORWARD).doing(|| format!("read {IP_FORWARD}"))?;
    if current.trim() == "0" {
        firewall::add_mark(WAS_OFF)?;
        fs::write(IP_FORWARD, "1").doing(|| format!("write {IP_FORWARD}"))?;
    }
    Ok(())
}

/// When a bridge has been removed, its rules with it: switch forwarding back
/// off if tincan switched it on and no bridge of any tincan is left.
pub fn restore() -> Result<(), StepError> {
    let tags = crate::nft::our_tags()?;
    if firewall::any_bridge(&tags) || !tags.iter().any(|tag| tag == WAS_OFF) {
        return Ok(());
    }
    // The mark first: were we stopped in between, forwarding stays on — not
    // a mark left to switch off, later, what someone else switched on.
    crate::nft::remove_tagged(WAS_OFF)?;
    fs::write(IP_FORWARD, "0").doing(|| format!("write {IP_FORWARD}"))
}
