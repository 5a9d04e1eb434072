//! # Chapter 6: a network namespace
//!
//! A network namespace is a whole network stack of its own: interfaces, addresses,
//! routes, firewall rules, sockets and port numbers, and its own loopback. A
//! process in a new network namespace can bind port 80 while the host does too, and
//! cannot reach a service the host bound to `127.0.0.1` — that `127.0.0.1` is now
//! its own.
//!
//! A new network namespace starts with a single interface, `lo`, and even that is
//! *down*: a container that wants to talk to itself over `127.0.0.1` needs it up.
//!
//! `--net` chooses the container's network, as `docker run --network` does
//! (and, as there, `bridge` is the default):
//!
//! - `none`: a network namespace with only `lo`, up. Isolated: nothing in or out.
//! - `host`: no network namespace at all; the container shares the host's stack.
//!   Fast and simple, and the isolation of chapters 0–5 for networking: none.
//! - `bridge`: its own stack, plus a virtual cable (a veth pair) to a bridge on
//!   the host, an address from `--subnet` and a default route through the bridge
//!   (see `bridge.rs`). Containers on one bridge reach each other.
//!
//! Builds on chapter 5 ([`ch05_ipc::plan()`]): with `--net none`, one more
//! namespace and one step, in the child: `lo` up.
//!
//! Man pages: `man 7 network_namespaces`, `man 7 netlink`.

mod bridge;
mod claim;
mod etc;
mod firewall;
mod forwarding;
mod interface;
mod lease;
mod netlink;
mod nft;
mod ports;

pub use bridge::Bridge;
pub use etc::{EtcFiles, write as write_etc_files};
pub use firewall::forward_droppers;
pub use ports::{PortMapping, Protocol};

use ch00_process::{Context, Plan, Step, StepError};
use ch04_uts::UtsOptions;
use nix::net::if_::InterfaceFlags;
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "network namespace: its own network stack (--net none|host|bridge)";

/// The container's network, as `--net` names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// Its own network stack with only `lo`, up.
    None,
    /// The host's network stack, shared.
    Host,
    /// Its own stack, connected to a bridge on the host.
    Bridge,
    /// Its own stack, with a user-mode network for a way out: what a container
    /// run without root gets (chapter 9 brings it).
    Slirp4netns,
}

/// `bridge`, as Docker has it; for a user, who cannot make a bridge,
/// `slirp4netns`, as Docker's and podman's rootless modes have it.
impl Default for Network {
    fn default() -> Self {
        if nix::unistd::geteuid().is_root() { Network::Bridge } else { Network::Slirp4netns }
    }
}

/// The bridge and subnet a container joins unless `--bridge` and `--subnet` say
/// otherwise.
pub const DEFAULT_BRIDGE: &str = "tincan0";
pub const DEFAULT_SUBNET: &str = "10.89.0.0/24";

/// Chapter 6's command-line options: chapter 4's, and `--net`.
#[derive(clap::Args, Debug, Clone)]
pub struct NetOptions {
    #[command(flatten)]
    pub uts: UtsOptions,

    /// The container's network.
    #[arg(long, value_enum, default_value_t)]
    pub net: Network,

    /// With `--net bridge`: the bridge to connect to (created on first use).
    #[arg(long, value_name = "NAME", env = "TINCAN_BRIDGE", default_value = DEFAULT_BRIDGE, value_parser = parse_bridge)]
    pub bridge: String,

    /// With `--net bridge`: the subnet to take the container's address from; the
    /// bridge gets its first address.
    #[arg(long, value_name = "CIDR", env = "TINCAN_SUBNET", default_value = DEFAULT_SUBNET)]
    pub subnet: ipnet::Ipv4Net,

    /// With `--net bridge`: publish the container's port on the host, reachable at
    /// 127.0.0.1:HOSTPORT and the host's other addresses, or at ADDRESS alone
    /// (repeatable).
    #[arg(short = 'p', long = "publish", value_name = "[ADDRESS:]HOSTPORT:CTRPORT[/tcp|udp]")]
    pub publish: Vec<PortMapping>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            uts: UtsOptions::default(),
            net: Network::default(),
            bridge: DEFAULT_BRIDGE.to_owned(),
            subnet: DEFAULT_SUBNET.parse().expect("a valid subnet"),
            publish: Vec::new(),
        }
    }
}

/// Where the bridges' address leases and locks live: `STATE/net`.
fn net_dir() -> std::path::PathBuf {
    ch00_process::state_root().join("net")
}

/// A bridge is a network interface: a name of 1 to 15 letters, digits, `-`,
/// `_` or `.` (the kernel allows more; these are what tools handle well).
/// Checked before anything is made.
pub fn parse_bridge(name: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if (1..=15).contains(&name.len()) && name.chars().all(allowed) && name != "." && name != ".." {
        Ok(name.to_owned())
    } else {
        Err("an interface name: 1 to 15 letters, digits, '-', '_' or '.'".to_owned())
    }
}

// ANCHOR: plan
/// Chapter 6's plan: chapter 5's, and unless `--net host`, a network namespace of
/// its own whose loopback the runtime brings up (and, with `--net bridge`, a cable
/// to a bridge on the host).
pub fn plan(options: &NetOptions) -> Plan {
    let plan = ch05_ipc::plan(&options.uts);
    match options.net {
        Network::Host => plan,
        Network::None => plan.with_namespace(CloneFlags::CLONE_NEWNET).then(LoopbackUp),
        Network::Bridge => plan
            .with_namespace(CloneFlags::CLONE_NEWNET)
            .then(LoopbackUp)
            .then(Bridge::new(
                options.bridge.clone(),
                options.subnet,
                options.publish.clone(),
                options.uts.hostname.clone(),
            ))
            // Bound over the rootfs's files while our files on the host are in reach.
            .insert_before("pivot_root", EtcFiles),
        Network::Slirp4netns => {
            plan.with_namespace(CloneFlags::CLONE_NEWNET).then(LoopbackUp).then(UserModeNetwork)
        }
    }
}
// ANCHOR_END: plan

/// `--net slirp4netns` before chapter 9, which replaces this step with the
/// real one: a clear error instead of a container without a way out.
pub struct UserModeNetwork;

impl Step for UserModeNetwork {
    fn name(&self) -> &'static str {
        "user-mode network"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(())
    }

    fn before_clone(
        &self,
        _cx: &Context,
        _into: &mut ch00_process::clone::CloneInto,
    ) -> Result<(), StepError> {
        let hint = "--net slirp4netns comes with chapter 9: use ch09, or --net bridge or none here";
        Err(StepError::new("start a user-mode network", nix::errno::Errno::EINVAL).hint(hint))
    }
}

/// Bring up the container's `lo`, from inside: the child is in its new network
/// namespace and still holds every capability, so it sets the flag itself —
/// `ip link set lo up`, run in the container — with one `ioctl(2)` each to
/// read and write the interface's flags (`interface.rs`). (What the chapter does
/// to the bridge's interfaces is netlink, which works from outside too; for one
/// flag on one interface, the ioctl is the whole job, and costs a tenth of an
/// event loop and a netlink socket.)
pub struct LoopbackUp;

// ANCHOR: loopback_up
impl Step for LoopbackUp {
    fn name(&self) -> &'static str {
        "bring up lo"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // EXERCISE(ch06-net): set the interface "lo" up.
        // hint: interface::socket() gives a socket to ask with; interface::flags
        // reads lo's flags, and interface::set_flags writes them with
        // InterfaceFlags::IFF_UP added.
        let socket = interface::socket()?;
        let flags = interface::flags(&socket, "lo")?;
        interface::set_flags(&socket, "lo", flags | InterfaceFlags::IFF_UP)
        // END EXERCISE
    }
}
// ANCHOR_END: loopback_up

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_has_its_own_stack_and_host_shares_ours() {
        let none = plan(&NetOptions { net: Network::None, ..NetOptions::default() });
        assert!(none.namespaces.contains(CloneFlags::CLONE_NEWNET));
        assert_eq!(none.step_names().last(), Some(&"bring up lo"));
        let host = plan(&NetOptions { net: Network::Host, ..NetOptions::default() });
        assert!(!host.namespaces.contains(CloneFlags::CLONE_NEWNET));
        assert_eq!(host.step_names().last(), Some(&"mount /dev/mqueue"));
        // The bridge's files are bound into the rootfs before pivot_root.
        let bridge = plan(&NetOptions { net: Network::Bridge, ..NetOptions::default() });
        let names = bridge.step_names();
        let at = |name| names.iter().position(|n| *n == name);
        assert_eq!(at("bind /etc files").map(|i| i + 1), at("pivot_root"));
        assert_eq!(names.last(), Some(&"connect to the bridge"));
        // A user-mode network is chapter 9's: here, a stand-in that says so.
        let slirp = plan(&NetOptions { net: Network::Slirp4netns, ..NetOptions::default() });
        assert!(slirp.namespaces.contains(CloneFlags::CLONE_NEWNET));
        assert_eq!(slirp.step_names().last(), Some(&"user-mode network"));
    }

    #[test]
    fn a_bridge_name_is_an_interface_name() {
        assert_eq!(parse_bridge("tincan-test_1").as_deref(), Ok("tincan-test_1"));
        for bad in ["", "a/b", "eth0:1", "sixteen-letters!", "with space", ".."] {
            assert!(parse_bridge(bad).is_err(), "{bad:?}");
        }
    }
}
