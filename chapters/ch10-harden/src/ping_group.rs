//! `ping` without `CAP_NET_RAW`: the ICMP "ping sockets" of Linux 3.0.
//!
//! `ping` used to need a raw socket (`socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)`),
//! so `CAP_NET_RAW` — which is why it was set-user-ID root, and why Docker keeps
//! that capability. Since Linux 3.0 a process may instead open
//! `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`: a socket that sends only ICMP
//! echo requests, with an identifier the kernel picks, and receives only their
//! replies — no forged packets. Who may open one is a sysctl of each network
//! namespace, `net.ipv4.ping_group_range`: the processes whose group (any of
//! their groups) is in that range. It is `1 0` by default: nobody.
//!
//! Chapter 10 takes `CAP_NET_RAW` away (`capabilities.rs`), so, as Docker has
//! done since 20.10 for every container with a network namespace of its own,
//! the container's namespace gets `0 2147483647`: every group may ping. The
//! file is written from inside, in the child — a process reading or writing
//! `/proc/sys/net` sees the sysctls of its own network namespace — before the
//! read-only paths step makes `/proc/sys` read-only. Not with `--net host`:
//! there the namespace, and its setting, are the host's.
//!
//! In a user namespace of its own the range must name groups that namespace
//! maps (the kernel refuses others with `EINVAL`), so the top of the range is
//! the highest group `/proc/self/gid_map` maps, if that is lower.
//!
//! Man pages: `man 7 icmp` (`ping_group_range`), `man 7 user_namespaces`.

use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;

/// Docker's range (moby's `WithSysctls`): every group, up to the largest the
/// sysctl takes (a signed 32-bit number).
const HIGHEST: u64 = 2_147_483_647;

const SYSCTL: &str = "/proc/sys/net/ipv4/ping_group_range";

/// The range to write, for a process whose `/proc/self/gid_map` is `gid_map`:
/// from group 0 to the highest group mapped, at most [`HIGHEST`].
fn range(gid_map: &str) -> Option<String> {
    let top = gid_map
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (inside, _outside, count) = (fields.next()??, fields.next()??, fields.next()??);
            (count > 0).then(|| inside + count - 1)
        })
        .max()?;
    Some(format!("0 {}", top.min(HIGHEST)))
}

/// Let every group of the container open ICMP ping sockets in its own
/// network namespace.
pub struct PingGroupRange;

// ANCHOR: step
impl Step for PingGroupRange {
    fn name(&self) -> &'static str {
        "ping group range"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let map = "/proc/self/gid_map";
        let gid_map = std::fs::read_to_string(map).doing(|| format!("read {map}"))?;
        let range = range(&gid_map).ok_or_else(|| {
            StepError::new(format!("find a mapped group in {map}"), Errno::EINVAL)
                .hint(format!("{map} holds {gid_map:?}"))
        })?;
        std::fs::write(SYSCTL, &range).doing(|| format!("write {range:?} to {SYSCTL}"))
    }
}
// ANCHOR_END: step

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_or_every_mapped_one() {
        // No user namespace: the whole 32-bit range is mapped.
        assert_eq!(range("         0          0 4294967295\n").as_deref(), Some("0 2147483647"));
        // Chapter 9's: root to a host id, then 65536 subordinate groups.
        let map = "0 1000 1\n1 100000 65536\n";
        assert_eq!(range(map).as_deref(), Some("0 65536"));
        assert_eq!(range(""), None);
    }
}
