//! Bridged networking: a virtual switch on the host, and a virtual cable to each
//! container.
//!
//! ```text
//!   host                                         container's network namespace
//!   tincan0 (bridge, 10.89.0.1/24) ── tcXXXX ═══ veth ═══ eth0 (10.89.0.2/24)
//!                                 └── tcYYYY ═══ veth ═══ eth0 (10.89.0.3/24) (another container)
//! ```
//!
//! A **veth pair** is a cable with a network interface at each end: what goes in
//! one comes out of the other. One end stays on the host, plugged into the
//! **bridge** (a software switch); the other is created directly *in* the
//! container's network namespace, as its `eth0`. The bridge also gets the
//! subnet's first address, which the containers use as their default gateway.
//! Containers on one bridge reach each other by address; the host reaches them
//! through the bridge. When the container ends, its namespace goes, and the
//! kernel removes the pair with it: nothing to delete.
//!
//! The same with `ip`, for the first container (PID is the container's):
//!
//! ```text
//! ip link add tincan0 type bridge && ip addr add 10.89.0.1/24 dev tincan0 && ip link set tincan0 up
//! ip link add tcXXXX master tincan0 up type veth peer name eth0 address 02:42:0a:59:00:02 netns PID
//! nsenter -t PID -n ip addr add 10.89.0.2/24 dev eth0
//! nsenter -t PID -n ip link set eth0 up
//! nsenter -t PID -n ip route add default via 10.89.0.1
//! ```
//!
//! The MAC address is made from the IP address, as Docker makes it: a container
//! that gets an address a previous one had also gets its MAC address, so the
//! host's neighbour cache, which still maps the address to that MAC, is right at
//! once (with a random MAC, the first packets would go to a MAC that no longer
//! exists, for up to ~20 s).
//!
//! The bridge also gets its NAT rules (`firewall.rs`), the container its published
//! ports and its `/etc` files (`etc.rs`). When the last container on a bridge
//! exits, the bridge and its rules go too, and IP forwarding is switched back off
//! if we were the ones who switched it on.

use std::cell::RefCell;
use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use serde::{Deserialize, Serialize};

use crate::claim::{self, Claim};
use crate::lease::{self, Lease};
use crate::netlink::{self, index_of};
use crate::ports::{self, PortMapping};
use crate::{etc, firewall, forwarding};

/// Connect the container to a bridge on the host.
pub struct Bridge {
    pub name: String,
    pub subnet: Ipv4Net,
    pub publish: Vec<PortMapping>,
    /// For `/etc/hosts` and `/etc/hostname` (`None`: the container's short id).
    pub hostname: Option<String>,
    /// What this runtime holds while the container lives; the kernel lets go of
    /// both if the runtime dies.
    lease: RefCell<Option<Lease>>,
    ports: RefCell<Vec<Claim>>,
}

/// What the step records before making anything: enough for a clean-up by a
/// runtime that never saw this container.
#[derive(Serialize, Deserialize)]
struct Record {
    bridge: String,
    /// The host's end of the veth pair.
    host_end: String,
    publish: Vec<PortMapping>,
}

const RECORD: &str = "bridge";

impl Bridge {
    /// Plug a veth pair into the bridge (making the bridge if it is the first),
    /// its other end born in the container's namespace as `eth0`, with a MAC made
    /// from `address`. True if the bridge was made now.
    fn plug(&self, id: &str, child: Pid, address: Ipv4Addr) -> Result<bool, StepError> {
        let (bridge, host_end) = (self.name.clone(), host_end(id));
        let (gateway, prefix) = (gateway(self.subnet), self.subnet.prefix_len());
        let created = netlink::here("plug a veth pair into the bridge", |h| async move {
            let Some((bridge, created)) = ensure_bridge(&h, &bridge, gateway, prefix).await? else {
                return Ok(None);
            };
            // Moving an interface between namespaces costs far more than making it there.
            let eth0 = LinkMessageBuilder::<LinkUnspec>::new()
                .name("eth0".to_owned())
                .address(mac_for(address).to_vec())
                .setns_by_pid(child.as_raw() as u32)
                .build();
            let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(host_end)
                .controller(bridge)
                .up()
                .set_info_data(InfoData::Veth(InfoVeth::Peer(eth0)));
            h.link().add(veth.build()).execute().await?;
            Ok(Some(created))
        })?;
        created.ok_or_else(|| {
            let hint = format!(
                "{} is an interface tincan did not make: choose another --bridge",
                self.name
            );
            StepError::new(format!("use the bridge {}", self.name), nix::errno::Errno::EEXIST)
                .hint(hint)
        })
    }

    pub fn new(
        name: String,
        subnet: Ipv4Net,
        publish: Vec<PortMapping>,
        hostname: Option<String>,
    ) -> Self {
        let (lease, ports) = (RefCell::new(None), RefCell::new(Vec::new()));
        Bridge { name, subnet, publish, hostname, lease, ports }
    }
}

// ANCHOR: bridge
impl Step for Bridge {
    fn name(&self) -> &'static str {
        "connect to the bridge"
    }

    /// Before anything else: write down what we are going to make.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        let record = Record {
            bridge: self.name.clone(),
            host_end: host_end(&cx.container.id),
            publish: self.publish.clone(),
        };
        cx.state.record(RECORD, &record).doing(|| "record the network".to_owned())
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // all done from outside, in `in_parent`
    }

    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        let _lock = lock()?;
        // The host ports first: one that another container publishes stops us
        // here. (Claimed now, after `clone`, so that the child, a copy of us
        // until it executes the command, holds none of the claims' locks.)
        let (id, state) = (&cx.container.id, cx.state.dir());
        *self.ports.borrow_mut() = ports::claim(&self.publish, id, state)?;
        let lease = lease::take(&leases(&self.name), self.subnet, id, state)
            .doing(|| format!("take an address in {}", self.subnet))?;
        let (address, gateway, prefix) =
            (lease.address, gateway(self.subnet), self.subnet.prefix_len());
        *self.lease.borrow_mut() = Some(lease);

        if self.plug(&cx.container.id, child, address)? {
            // The first container on this bridge: its NAT rules, and forwarding.
            firewall::add_bridge(&self.name, self.subnet)?;
            forwarding::on(&self.name)?;
        }
        configure_eth0(child, address, gateway, prefix)?;
        if !self.publish.is_empty() {
            firewall::add_ports(&cx.container.id, address, &self.publish)?;
        }
        let hostname = ch04_uts::hostname(self.hostname.as_deref(), cx.container);
        etc::write(cx.state, hostname, address)
    }

    /// Give back the container's address and ports, remove its port rules; the
    /// last one out removes the bridge. (Its veth pair went with its namespace.)
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let Some(record) = cx.state.recorded::<Record>(RECORD).doing(|| "read a record".into())?
        else {
            return Ok(());
        };
        let id = &cx.container.id;
        let _lock = lock()?;
        // The container's port rules first: while they stay, its address and
        // ports must stay claimed, or the next container to take them would get
        // this one's traffic. (The record stays too, for `cleanup` to retry.)
        if !record.publish.is_empty() {
            crate::nft::remove_tagged(&firewall::container_tag(id))?;
        }
        // Then everything else we can, even when one part fails; report the first failure.
        let mut undo: Vec<Result<(), StepError>> = Vec::new();
        undo.push(ports::release(&record.publish, id));
        self.ports.borrow_mut().clear();
        self.lease.borrow_mut().take();
        undo.push(release_leases(&record.bridge, id));
        if !claim::any_in(&leases(&record.bridge)) {
            let bridge = record.bridge.clone();
            undo.push(netlink::here("remove the bridge", |h| async move {
                delete_bridge(&h, &bridge).await
            }));
            let _ = fs::remove_dir(leases(&record.bridge));
            undo.push(crate::nft::remove_tagged(&firewall::bridge_tag(&record.bridge)));
            undo.push(forwarding::restore());
        }
        undo.into_iter().collect::<Result<(), StepError>>()?;
        cx.state.forget(RECORD).doing(|| "forget the network".to_owned())
    }
}
// ANCHOR_END: bridge

/// From inside the container's namespace: its address on `eth0`, `eth0` up, and
/// the default route through the bridge.
fn configure_eth0(
    child: Pid,
    address: Ipv4Addr,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<(), StepError> {
    netlink::in_namespace_of(child, "configure eth0 in the container", |h| async move {
        let eth0 = index_of(&h, "eth0").await?.ok_or(rtnetlink::Error::RequestFailed)?;
        h.address().add(eth0, IpAddr::V4(address), prefix).execute().await?;
        h.link().set(LinkUnspec::new_with_index(eth0).up().build()).execute().await?;
        h.route()
            .add(RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).build())
            .execute()
            .await
    })
}

/// The host's end of a container's veth pair: "tc" and 12 digits of its id
/// (interface names are at most 15 bytes).
fn host_end(id: &str) -> String {
    format!("tc{}", &id[..12])
}

/// The bridge's own address: the subnet's first host.
fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    subnet.hosts().next().unwrap_or(subnet.network())
}

/// Docker's scheme: `02:42` (a locally administered address), then the four
/// bytes of the IPv4 address.
fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Where a bridge's leases live.
fn leases(bridge: &str) -> PathBuf {
    crate::net_dir().join(bridge)
}

/// Remove `owner`'s leases on `bridge` (one, unless a runtime died twice over).
fn release_leases(bridge: &str, owner: &str) -> Result<(), StepError> {
    let Ok(entries) = fs::read_dir(leases(bridge)) else { return Ok(()) };
    for path in entries.flatten().map(|e| e.path()) {
        claim::release_if_owned(&path, owner).doing(|| format!("remove {}", path.display()))?;
    }
    Ok(())
}

/// Serialise the network's set-up and tear-down between runtimes: creating and
/// removing a bridge, its rules in tincan's one nftables table, and switching
/// forwarding on and off must not race. (One lock for every bridge, in the
/// host's place for locks, not in a state directory: the forwarding switch
/// and the table are shared by every tincan on the host, whatever state it
/// keeps. It is released when the returned value drops.)
fn lock() -> Result<Flock<File>, StepError> {
    let path = std::path::Path::new(HOST_LOCK);
    fs::create_dir_all(path.parent().expect("in /run/lock"))
        .doing(|| format!("create {}", path.display()))?;
    let file = File::create(path).doing(|| format!("create {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| StepError::new("lock the bridge", e))
}

/// The lock of [`lock`].
const HOST_LOCK: &str = "/run/lock/tincan-net.lock";

/// What tincan writes in the alias of the bridges it makes (`ip link` shows it):
/// an interface of that name without it — `docker0`, `virbr0`, a host's `br0` —
/// is someone else's, never used or removed.
const OURS: &str = "tincan";

/// The bridge's index, creating and configuring the bridge if needed (and whether
/// it was created now); `None` if an interface of that name exists and is not a
/// bridge tincan made.
async fn ensure_bridge(
    h: &Handle,
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<Option<(u32, bool)>, rtnetlink::Error> {
    if let Some((index, alias)) = find(h, name).await? {
        return Ok((alias.as_deref() == Some(OURS)).then_some((index, false)));
    }
    // Its own MAC address, made from its address like the containers': without
    // one, a bridge takes the lowest of its ports', and the containers' gateway
    // would change its MAC whenever that container leaves.
    let bridge = LinkBridge::new(name).address(mac_for(gateway).to_vec());
    h.link().add(bridge.build()).execute().await?;
    let index = index_of(h, name).await?.ok_or(rtnetlink::Error::RequestFailed)?;
    h.address().add(index, IpAddr::V4(gateway), prefix).execute().await?;
    // The kernel takes an alias only from a change to a link, not at its creation.
    let up = LinkUnspec::new_with_index(index).alias(OURS).up();
    h.link().set(up.build()).execute().await?;
    Ok(Some((index, true)))
}

/// Delete the bridge called `name`, if it (still) exists and is tincan's.
async fn delete_bridge(h: &Handle, name: &str) -> Result<(), rtnetlink::Error> {
    let Some((index, alias)) = find(h, name).await? else { return Ok(()) };
    if alias.as_deref() != Some(OURS) {
        return Ok(());
    }
    match h.link().del(index).execute().await {
        Err(e) if netlink::errno_of(&e) == nix::errno::Errno::ENODEV => Ok(()),
        other => other,
    }
}

/// The index and alias of the link called `name`, if there is one.
async fn find(h: &Handle, name: &str) -> Result<Option<(u32, Option<String>)>, rtnetlink::Error> {
    use rtnetlink::packet_route::link::LinkAttribute;
    Ok(netlink::link_named(h, name).await?.map(|link| {
        let alias = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfAlias(alias) => Some(alias.clone()),
            _ => None,
        });
        (link.header.index, alias)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_address_is_made_from_the_ip_address() {
        assert_eq!(mac_for("10.89.0.2".parse().unwrap()), [0x02, 0x42, 10, 89, 0, 2]);
    }
}
