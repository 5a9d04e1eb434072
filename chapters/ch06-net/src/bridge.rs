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
//! **bridge** (a software switch); the other is moved into the container's network
//! namespace and renamed `eth0`. The bridge also gets the subnet's first address,
//! which the containers use as their default gateway. Containers on one bridge
//! reach each other by address; the host reaches them through the bridge.
//!
//! The same with `ip`, for the first container:
//!
//! ```text
//! ip link add tincan0 type bridge && ip addr add 10.89.0.1/24 dev tincan0 && ip link set tincan0 up
//! ip link add tcXXXX type veth peer name tnXXXX
//! ip link set tcXXXX master tincan0 up
//! ip link set tnXXXX netns PID
//! ip -n CONTAINER link set tnXXXX name eth0
//! ip -n CONTAINER addr add 10.89.0.2/24 dev eth0 && ip -n CONTAINER link set eth0 up
//! ip -n CONTAINER route add default via 10.89.0.1
//! ```
//!
//! The bridge also gets its NAT rules (`firewall.rs`), the container its published
//! ports and its `/etc` files (`etc.rs`). When the last container on a bridge
//! exits, the bridge and its rules go too, and IP forwarding is switched back off
//! if we were the ones who switched it on.

use std::cell::RefCell;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ch00_process::{Context, Doing, Step, StepError};
use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Pid;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::lease::{self, Lease};
use crate::netlink::{self, index_of};
use crate::ports::PortMapping;
use crate::{etc, firewall, forwarding};

/// Connect the container to a bridge on the host.
pub struct Bridge {
    pub name: String,
    pub subnet: Ipv4Net,
    pub publish: Vec<PortMapping>,
    /// For `/etc/hosts` and `/etc/hostname` (`None`: the container's short id).
    pub hostname: Option<String>,
    lease: RefCell<Option<Lease>>,
    host_end: RefCell<Option<String>>,
}

impl Bridge {
    pub fn new(
        name: String,
        subnet: Ipv4Net,
        publish: Vec<PortMapping>,
        hostname: Option<String>,
    ) -> Self {
        Bridge {
            name,
            subnet,
            publish,
            hostname,
            lease: RefCell::new(None),
            host_end: RefCell::new(None),
        }
    }

    /// The bridge's own address: the subnet's first host.
    fn gateway(&self) -> Ipv4Addr {
        self.subnet.hosts().next().unwrap_or(self.subnet.network())
    }

    /// Where this bridge's leases live.
    fn leases(&self) -> PathBuf {
        crate::state_dir().join("net").join(&self.name)
    }

    /// Serialise set-up and tear-down between runtimes: creating and removing the
    /// bridge must not race. (The lock is released when the returned value drops.)
    fn lock(&self) -> Result<Flock<File>, StepError> {
        let path = self.leases().with_extension("lock");
        std::fs::create_dir_all(path.parent().expect("in the state directory"))
            .doing(|| format!("create {}", path.display()))?;
        let file = File::create(&path).doing(|| format!("create {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| StepError::new("lock the bridge", e))
    }
}

// ANCHOR: bridge
impl Step for Bridge {
    fn name(&self) -> &'static str {
        "connect to the bridge"
    }

    /// Runs before `pivot_root`, while the host's paths are in reach: put the
    /// files that `in_parent` wrote over the rootfs's own.
    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        etc::bind(&etc::dir(&cx.container.id), &cx.container.rootfs)
    }

    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        let _lock = self.lock()?;
        let lease = lease::take(&self.leases(), self.subnet)
            .doing(|| format!("take an address in {}", self.subnet))?;
        let (address, gateway, prefix) = (lease.address, self.gateway(), self.subnet.prefix_len());
        *self.lease.borrow_mut() = Some(lease);
        // Interface names are at most 15 bytes: "tc" and 12 digits of the id.
        let (host_end, peer) =
            (format!("tc{}", cx.container.short_id()), format!("tn{}", cx.container.short_id()));
        *self.host_end.borrow_mut() = Some(host_end.clone());

        let (bridge, peer_inside) = (self.name.clone(), peer.clone());
        let created = netlink::here("plug a veth pair into the bridge", |h| async move {
            let (bridge, created) = ensure_bridge(&h, &bridge, gateway, prefix).await?;
            h.link().add(LinkVeth::new(&host_end, &peer).build()).execute().await?;
            let host_index =
                index_of(&h, &host_end).await?.ok_or(rtnetlink::Error::RequestFailed)?;
            h.link()
                .set(LinkUnspec::new_with_index(host_index).controller(bridge).up().build())
                .execute()
                .await?;
            let peer_index = index_of(&h, &peer).await?.ok_or(rtnetlink::Error::RequestFailed)?;
            let into_container =
                LinkUnspec::new_with_index(peer_index).setns_by_pid(child.as_raw() as u32);
            h.link().set(into_container.build()).execute().await?;
            Ok(created)
        })?;
        if created {
            firewall::add_bridge(&self.name, self.subnet)?;
            forwarding::on(&self.name)?;
        }

        netlink::in_namespace_of(child, "configure eth0 in the container", |h| async move {
            let eth0 = index_of(&h, &peer_inside).await?.ok_or(rtnetlink::Error::RequestFailed)?;
            h.link()
                .set(LinkUnspec::new_with_index(eth0).name("eth0".to_owned()).build())
                .execute()
                .await?;
            h.address().add(eth0, IpAddr::V4(address), prefix).execute().await?;
            h.link().set(LinkUnspec::new_with_index(eth0).up().build()).execute().await?;
            h.route()
                .add(RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).build())
                .execute()
                .await
        })?;

        if !self.publish.is_empty() {
            firewall::add_ports(cx.container.short_id(), address, &self.publish)?;
        }
        let hostname = ch04_uts::hostname(self.hostname.as_deref(), cx.container);
        etc::write(&etc::dir(&cx.container.id), hostname, address)
    }

    /// Unplug the container and give its address back; the last one out removes
    /// the bridge. Runs also after a failed set-up: it undoes what was done.
    fn after_exit(&self, cx: &Context) -> Result<(), StepError> {
        let _lock = self.lock()?;
        // Undo everything we can, even when one part fails; report the first failure.
        let mut undo: Vec<Result<(), StepError>> = Vec::new();
        let _ = std::fs::remove_dir_all(etc::dir(&cx.container.id));
        if !self.publish.is_empty() {
            undo.push(firewall::remove(&format!("container {}", cx.container.short_id())));
        }
        if let Some(host_end) = self.host_end.borrow_mut().take() {
            // Deleting one end of a veth pair deletes both.
            undo.push(netlink::here("remove the container's veth pair", |h| async move {
                delete(&h, &host_end).await
            }));
        }
        if let Some(lease) = self.lease.borrow_mut().take() {
            undo.push(lease.release().doing(|| "release the container's address".to_owned()));
        }
        if !lease::any_left(&self.leases()) {
            let bridge = self.name.clone();
            undo.push(netlink::here(
                "remove the bridge",
                |h| async move { delete(&h, &bridge).await },
            ));
            let _ = std::fs::remove_dir(self.leases());
            undo.push(firewall::remove(&format!("bridge {}", self.name)));
            undo.push(forwarding::restore());
        }
        undo.into_iter().collect()
    }
}
// ANCHOR_END: bridge

/// The bridge's index, creating and configuring the bridge if needed (and whether
/// it was created now).
async fn ensure_bridge(
    h: &Handle,
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<(u32, bool), rtnetlink::Error> {
    if let Some(index) = index_of(h, name).await? {
        return Ok((index, false));
    }
    h.link().add(LinkBridge::new(name).build()).execute().await?;
    let index = index_of(h, name).await?.ok_or(rtnetlink::Error::RequestFailed)?;
    h.address().add(index, IpAddr::V4(gateway), prefix).execute().await?;
    h.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await?;
    Ok((index, true))
}

/// Delete the link called `name`, if it (still) exists.
///
/// When a container exits, the kernel destroys its network namespace, and with it
/// the veth pair, *asynchronously*: the host end can vanish between our lookup
/// and our delete. Gone is what we wanted, so ENODEV counts as done.
async fn delete(h: &Handle, name: &str) -> Result<(), rtnetlink::Error> {
    let Some(index) = index_of(h, name).await? else { return Ok(()) };
    match h.link().del(index).execute().await {
        Err(e) if netlink::is_no_such_device(&e) => Ok(()),
        other => other,
    }
}
