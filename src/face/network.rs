//! Networks: `tincan network create|ls|rm`, and `run --network NAME`.
//!
//! A user-defined network is a bridge of its own on the host with a subnet
//! of its own (chapter 6's bridge, under another name); its containers reach
//! each other by address, and — what the default `bridge` does not give, in
//! Docker as here — by name. Docker answers names with a DNS server of its
//! own inside each container (127.0.0.11), podman with aardvark-dns; tincan
//! keeps it to the file every resolver reads first: each running member's
//! `/etc/hosts` lists the others, and is written again whenever one joins or
//! leaves. (The file is chapter 6's, bind-mounted from the container's state
//! directory; it is written in place, so the mount keeps showing it.)
//!
//! ```text
//! STORE/networks/NAME.json    the network: its id, bridge and subnet
//! STORE/networks/NAME.lock    held while members' /etc/hosts are written
//! ```

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::store::{Containers, Record, check_name};
use crate::Failure;
use crate::lifecycle::Status;

/// Docker's default network, here chapter 6's bridge: addresses, no names.
pub const BRIDGE: &str = "bridge";
/// A network namespace with only `lo`.
pub const NONE: &str = "none";
/// The host's network stack, shared.
pub const HOST: &str = "host";

/// A network, as `network create` made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// The bridge interface on the host.
    pub bridge: String,
    pub subnet: String,
    /// Containers reach each other by name (false for `bridge`).
    pub names: bool,
}

/// The store's networks.
pub struct Networks {
    dir: PathBuf,
}

/// The line before the members' addresses in a container's `/etc/hosts`.
const MEMBERS: &str = "# the other containers on this network (tincan writes these)";

/// The default network's bridge and subnet: chapter 6's (`tincan0`,
/// 10.89.0.0/24, shared with the chapters' containers), or those
/// `TINCAN_BRIDGE` and `TINCAN_SUBNET` name, as for the chapters (the tests
/// give their own, and leave yours alone).
fn default_bridge() -> Result<(String, String), Failure> {
    let bridge = match std::env::var("TINCAN_BRIDGE") {
        Ok(name) => ch06_net::parse_bridge(&name)
            .map_err(|e| Failure::new(format!("TINCAN_BRIDGE={name}: not {e}")))?,
        Err(_) => ch06_net::DEFAULT_BRIDGE.to_owned(),
    };
    let subnet = match std::env::var("TINCAN_SUBNET") {
        Ok(cidr) => match cidr.parse::<ipnet::Ipv4Net>() {
            Ok(net) => net.trunc().to_string(),
            Err(e) => return Err(Failure::new(format!("TINCAN_SUBNET={cidr}: {e}"))),
        },
        Err(_) => ch06_net::DEFAULT_SUBNET.to_owned(),
    };
    Ok((bridge, subnet))
}

impl Networks {
    pub fn new(store_root: &Path) -> Networks {
        Networks { dir: store_root.join("networks") }
    }

    /// The network `name`: `bridge`, or one `create` made.
    pub fn find(&self, name: &str) -> Result<Network, Failure> {
        if name == BRIDGE {
            let (bridge, subnet) = default_bridge()?;
            let id = "0".repeat(64);
            return Ok(Network { name: BRIDGE.to_owned(), id, bridge, subnet, names: false });
        }
        check_name(name)?;
        let path = self.dir.join(format!("{name}.json"));
        let bytes = std::fs::read(&path).map_err(|_| {
            Failure::new(format!(
                "no such network: {name} (tincan network create {name} makes it; tincan network ls lists them)"
            ))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::new(format!("{}: damaged: {e}", path.display())))
    }

    /// Make network `name`, on `subnet` or the first free one of 10.90.0.0/16
    /// that neither another network nor the host's routes use.
    pub fn create(&self, name: &str, subnet: Option<&str>) -> Result<Network, Failure> {
        let routes = host_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default());
        self.create_beside(name, subnet, &routes)
    }

    /// [`Networks::create`], beside the host's `routes`.
    fn create_beside(
        &self,
        name: &str,
        subnet: Option<&str>,
        routes: &[ipnet::Ipv4Net],
    ) -> Result<Network, Failure> {
        check_name(name)?;
        if [BRIDGE, NONE, HOST].contains(&name) {
            return Err(Failure::new(format!("{name} is a network tincan has already")));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Failure::new(format!("{}: {e}", self.dir.display())))?;
        // One `create` at a time chooses a subnet.
        let _lock = lock(&self.dir.join(".create.lock"))?;
        // Ours, and what the host routes already (another store's bridges,
        // its own LAN): a subnet in two places is reachable in neither.
        let mut taken: Vec<ipnet::Ipv4Net> = self
            .all()
            .iter()
            .chain(std::iter::once(&self.find(BRIDGE)?))
            .filter_map(|n| n.subnet.parse().ok())
            .collect();
        taken.extend(routes);
        let subnet: ipnet::Ipv4Net = match subnet {
            Some(given) => {
                let net: ipnet::Ipv4Net = given.parse().map_err(|e| {
                    Failure::new(format!("--subnet {given}: {e} (give one such as 10.90.5.0/24)"))
                })?;
                if net.prefix_len() > 30 {
                    return Err(Failure::new(format!(
                        "--subnet {given}: too small for containers"
                    )));
                }
                if let Some(other) =
                    taken.iter().find(|t| t.contains(&net.network()) || net.contains(&t.network()))
                {
                    return Err(Failure::new(format!("--subnet {given} overlaps {other}, in use")));
                }
                net.trunc()
            }
            None => (0..=255u8)
                .map(|n| ipnet::Ipv4Net::new(Ipv4Addr::new(10, 90, n, 0), 24).expect("a /24"))
                .find(|net| {
                    !taken.iter().any(|t| t.contains(&net.network()) || net.contains(&t.network()))
                })
                .ok_or_else(|| {
                    Failure::new("every subnet of 10.90.0.0/16 is taken: give --subnet")
                })?,
        };
        let id = ch00_process::random_id();
        let network = Network {
            name: name.to_owned(),
            // An interface's name has at most 15 characters.
            bridge: format!("tcn{}", &id[..8]),
            id,
            subnet: subnet.to_string(),
            names: true,
        };
        let path = self.dir.join(format!("{name}.json"));
        let bytes = serde_json::to_vec_pretty(&network).expect("a network serialises");
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        let mut file = file.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::new(format!("network {name} exists")),
            _ => Failure::new(format!("{}: {e}", path.display())),
        })?;
        file.write_all(&bytes).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
        Ok(network)
    }

    /// The networks `create` made, by name.
    pub fn all(&self) -> Vec<Network> {
        let entries = std::fs::read_dir(&self.dir).into_iter().flatten().flatten();
        let mut all: Vec<Network> = entries
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
            .filter_map(|name| self.find(&name).ok())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Remove network `name`, unless a container is on it. (Its bridge went
    /// with its last container: chapter 6's clean-up.)
    pub fn remove(&self, name: &str, containers: &Containers) -> Result<(), Failure> {
        if [BRIDGE, NONE, HOST].contains(&name) {
            return Err(Failure::new(format!("{name} is tincan's own: it cannot be removed")));
        }
        self.find(name)?;
        // No `run` may be joining it meanwhile.
        let _making = containers.making(true)?;
        let users: Vec<String> = containers
            .all()
            .into_iter()
            .filter(|r| r.network.as_deref() == Some(name))
            .map(|r| r.name)
            .collect();
        if !users.is_empty() {
            return Err(Failure::new(format!(
                "network {name} has containers: {} (remove them first)",
                users.join(", ")
            )));
        }
        let path = self.dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(self.dir.join(format!("{name}.lock")));
        std::fs::remove_file(&path).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
    }

    // ANCHOR: refresh
    /// Write again the `/etc/hosts` of every running container on network
    /// `name`: its own lines, then each other running member's address and
    /// names (its name and short id).
    pub fn refresh(&self, name: &str, containers: &Containers) -> Result<(), Failure> {
        let Ok(network) = self.find(name) else { return Ok(()) };
        if !network.names {
            return Ok(());
        }
        let _lock = lock(&self.dir.join(format!("{name}.lock")))?;
        let members: Vec<(Record, PathBuf, Ipv4Addr)> = containers
            .all()
            .into_iter()
            .filter(|r| r.network.as_deref() == Some(name))
            .filter(|r| {
                matches!(
                    super::oci_status(&r.oci_root, &r.id),
                    Some(Status::Created | Status::Running | Status::Paused)
                )
            })
            .filter_map(|r| {
                let hosts = r.oci_root.join(&r.id).join("etc").join("hosts");
                let own = own_address(&std::fs::read_to_string(&hosts).ok()?)?;
                Some((r, hosts, own))
            })
            .collect();
        for (record, hosts, _) in &members {
            let Ok(text) = std::fs::read_to_string(hosts) else { continue };
            let mut kept: String =
                text.split_inclusive('\n').take_while(|l| l.trim_end() != MEMBERS).collect();
            kept.push_str(MEMBERS);
            kept.push('\n');
            for (other, _, address) in members.iter().filter(|(o, ..)| o.id != record.id) {
                kept.push_str(&format!("{address}\t{}\t{}\n", other.name, &other.id[..12]));
            }
            // In place (truncate, write): the bind mount shows this inode.
            std::fs::write(hosts, kept)
                .map_err(|e| Failure::new(format!("write {}: {e}", hosts.display())))?;
        }
        Ok(())
    }
    // ANCHOR_END: refresh
}

/// Tell the network `record`'s container is on, if any, that it joined or
/// left: its members' `/etc/hosts` are written again.
pub fn tell(containers: &Containers, record: &Record) -> Result<(), Failure> {
    match &record.network {
        Some(network) => Networks::new(containers.store_root()).refresh(network, containers),
        None => Ok(()),
    }
}

/// The subnets the host routes to directly or through a gateway
/// (`/proc/net/route`: hexadecimal, in the machine's byte order), but for
/// the default route, which covers everything.
fn host_routes(table: &str) -> Vec<ipnet::Ipv4Net> {
    let hex =
        |field: &str| u32::from_str_radix(field, 16).ok().map(|n| Ipv4Addr::from(n.to_ne_bytes()));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (destination, mask) = (hex(fields.get(1)?)?, hex(fields.get(7)?)?);
            let prefix = u32::from(mask).leading_ones() as u8;
            (prefix > 0).then(|| ipnet::Ipv4Net::new(destination, prefix).ok()).flatten()
        })
        .collect()
}

/// The container's own address: chapter 6 writes it on the third line
/// (`ADDRESS<tab>HOSTNAME`), after the two of localhost.
fn own_address(hosts: &str) -> Option<Ipv4Addr> {
    hosts.lines().nth(2)?.split_whitespace().next()?.parse().ok()
}

fn lock(path: &Path) -> Result<Flock<std::fs::File>, Failure> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path);
    let file = file.map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Failure::new(format!("lock {}: {e}", path.display())))
}

/// `tincan network ls`, as `docker network ls` lists them.
pub fn list(networks: &Networks, quiet: bool) {
    let mut rows = vec![(networks.find(BRIDGE).expect("the default bridge").id, BRIDGE.to_owned())];
    rows.extend(networks.all().into_iter().map(|n| (n.id, n.name)));
    if quiet {
        rows.iter().for_each(|(id, _)| println!("{}", &id[..12]));
        return;
    }
    println!("{:<14} {:<20} {:<8} SCOPE", "NETWORK ID", "NAME", "DRIVER");
    for (id, name) in rows {
        println!("{:<14} {:<20} {:<8} local", &id[..12], name, "bridge");
    }
    println!("{:<14} {:<20} {:<8} local", "-", HOST, "host");
    println!("{:<14} {:<20} {:<8} local", "-", NONE, "null");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_gets_a_subnet_of_its_own_and_a_bridge_name_an_interface_may_have() {
        let store = tempfile::tempdir().unwrap();
        let networks = Networks::new(store.path());
        let a = networks.create_beside("front", None, &[]).unwrap();
        let b = networks.create_beside("back", None, &[]).unwrap();
        assert_eq!((a.subnet.as_str(), b.subnet.as_str()), ("10.90.0.0/24", "10.90.1.0/24"));
        assert!(a.bridge.len() <= 15 && a.bridge != b.bridge);
        assert!(networks.create_beside("front", None, &[]).unwrap_err().0.contains("exists"));
        assert!(networks.create_beside("bridge", None, &[]).is_err());
        assert!(
            networks
                .create_beside("x", Some("10.90.1.128/25"), &[])
                .unwrap_err()
                .0
                .contains("overlaps")
        );
        assert!(
            networks
                .create_beside("y", Some("10.89.0.0/16"), &[])
                .unwrap_err()
                .0
                .contains("overlaps")
        );
        assert_eq!(
            networks.create_beside("z", Some("172.30.0.7/24"), &[]).unwrap().subnet,
            "172.30.0.0/24"
        );
        // What the host routes is not chosen either.
        let lan = ["10.90.2.0/23".parse().unwrap()];
        assert_eq!(networks.create_beside("w", None, &lan).unwrap().subnet, "10.90.4.0/24");
        let names: Vec<String> = networks.all().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["back", "front", "w", "z"]);
        let containers = Containers::new(store.path());
        networks.remove("back", &containers).unwrap();
        assert!(networks.find("back").unwrap_err().0.contains("no such network"));
        assert!(networks.remove("bridge", &containers).is_err());
    }

    #[test]
    fn the_hosts_routes_are_read_from_proc() {
        let table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(host_routes(table), ["192.168.0.0/24".parse::<ipnet::Ipv4Net>().unwrap()]);
    }

    #[test]
    fn the_own_address_is_chapter_6s_third_line() {
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n10.90.0.2\tabc\n";
        assert_eq!(own_address(hosts), Some(Ipv4Addr::new(10, 90, 0, 2)));
        assert_eq!(own_address("127.0.0.1 localhost\n"), None);
    }
}
