//! `--net slirp4netns`: a network for a container run without root.
//!
//! Chapter 6's bridge needs root at every turn: a bridge and veth pairs are
//! interfaces of the host, NAT rules are the host's firewall. A user has none
//! of that. What a user *can* do is open sockets on the host, as any program
//! does. So a **user-mode network stack** stands in for the host's: a program
//! on the host, [slirp4netns], holds a TAP device inside the container's
//! network namespace (`tap0`, 10.0.2.100/24, default route via 10.0.2.2), reads
//! the packets the container sends, and replays each connection with ordinary
//! sockets of its own, on the host. Answers go back the same way.
//!
//! ```text
//!   container's netns                      host
//!   eth: tap0 10.0.2.100 ── TAP fd ──► slirp4netns ── connect(2), sendto(2) ──► the world
//!                                       └─ listens on -p ports: bind(2) on the host
//! ```
//!
//! What follows from that:
//!
//! - It is slow next to a veth pair (every packet crosses a process), and the
//!   container's peers see the *host's* address: slirp4netns is their client.
//! - A published port (`-p 8080:80`) is a real socket that slirp4netns binds on
//!   the host, on every address as Docker does (`-p 127.0.0.1:8080:80`: on
//!   that one alone), so the kernel itself refuses a
//!   port taken twice — no claims as in chapter 6. Ports below 1024 need root,
//!   as for any user's program. slirp4netns does not say why a bind failed,
//!   so we try the same bind ourselves and report the kernel's reason. Its
//!   API socket can publish ports: it sits in a directory only we may enter.
//! - slirp4netns maps the gateway, 10.0.2.2, to the host's **loopback** by
//!   default: every service bound to the host's 127.0.0.1 (a database, a
//!   desktop's daemons, a cloud agent) would be one connect away.
//!   `--disable-host-loopback` closes that door, and we always pass it.
//! - Loopback is the *only* door closed. The container reaches every other
//!   address the user could reach: the host's own addresses on its other
//!   interfaces (and what listens on them), the local network, and, on a
//!   cloud machine, the **metadata service at 169.254.169.254**, which may
//!   hand out the machine's credentials to whoever asks. slirp4netns is the
//!   user's program, so its connections are the user's: root can close
//!   that address to the users who run containers with an owner match in
//!   the host's firewall (`nft add rule inet filter output meta skuid alice
//!   ip daddr 169.254.169.254 drop`, in an output chain of its own), or the
//!   container can run with `--net none`.
//! - slirp4netns reads every packet the container sends: a bug in it is a
//!   way onto the host, as the user. So it runs in its own cage, as podman
//!   runs it: `--enable-sandbox` (a mount namespace with little of the
//!   host's files) and `--enable-seccomp` (a filter of its system calls).
//! - It opens `/dev/net/tun` from inside the container's namespaces. Debian
//!   makes it usable by everyone (mode 0666); a host that does not cannot give
//!   a user this network.
//!
//! The container gets chapter 6's `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf`, for its address 10.0.2.100; slirp4netns asks the
//! host's resolvers for it.
//!
//! The process is the container's, on the host: recorded in its state *before*
//! it starts (and with its PID once it does), ended by the clean-up. It also
//! ends by itself when the runtime dies: it watches a pipe whose other end only
//! the runtime holds (`--exit-fd`), and the kernel closes that end with the
//! runtime, however it dies.
//!
//! The same by hand, for a container with PID `PID`:
//!
//! ```text
//! slirp4netns --configure --mtu=65520 --disable-host-loopback \
//!     --enable-sandbox --enable-seccomp --api-socket S PID tap0 &
//! echo '{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 8080, "guest_port": 80}}' | nc -U S
//! ```
//!
//! Man pages: `man 1 slirp4netns`, `man 4 tun` (the kernel's
//! `Documentation/networking/tuntap.rst`).
//!
//! [slirp4netns]: https://github.com/rootless-containers/slirp4netns

use std::cell::RefCell;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Plan, Step, StepError};
use ch06_net::{EtcFiles, NetOptions, Network, PortMapping, Protocol, write_etc_files};
use nix::errno::Errno;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::slirp_process::{
    PROGRAM, Running, kill_if_same, start, start_time, stop, wait_until_ready, which,
};

/// The TUN/TAP device slirp4netns opens in the container's namespace.
const TUN: &str = "/dev/net/tun";

/// Where the step is recorded in the container's state.
const RECORD: &str = "slirp4netns";

// ANCHOR: wire
/// With `--net slirp4netns`: chapter 6's stand-in for a user-mode network
/// (an error: "chapter 9 brings it") replaced by the real one.
pub fn wire(plan: Plan, options: &NetOptions) -> Plan {
    if options.net != Network::Slirp4netns {
        return plan;
    }
    let slirp = Slirp4netns::new(options.publish.clone(), options.uts.hostname.clone());
    // Its /etc files, as chapter 6 binds the bridge's: bound over the
    // rootfs's while ours on the host are in reach.
    plan.replace(STAND_IN, vec![Box::new(slirp)]).insert_before("pivot_root", EtcFiles)
}
// ANCHOR_END: wire

/// For the clean-up after dead runtimes: whatever the default network, a
/// container may have had this one.
pub fn for_sweep(plan: Plan) -> Plan {
    if plan.step_names().contains(&STAND_IN) {
        plan.replace(STAND_IN, vec![Box::new(Slirp4netns::new(Vec::new(), None))])
    } else {
        plan.then(Slirp4netns::new(Vec::new(), None))
    }
}

/// The container's address on slirp4netns's network (its default, 10.0.2.0/24).
const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// The name of chapter 6's stand-in, and of this step.
const STAND_IN: &str = "user-mode network";

/// The container's user-mode network: slirp4netns, and its published ports.
pub struct Slirp4netns {
    pub publish: Vec<PortMapping>,
    /// For `/etc/hosts` and `/etc/hostname` (`None`: the container's short id).
    pub hostname: Option<String>,
    running: RefCell<Option<Running>>,
}

/// What the step records: before slirp4netns starts, its API socket; once it
/// runs, its PID and start time (so that a clean-up by a runtime that never saw
/// it ends that process, never one that took its PID since).
#[derive(Serialize, Deserialize)]
struct Record {
    socket: PathBuf,
    process: Option<(i32, u64)>,
}

impl Slirp4netns {
    pub fn new(publish: Vec<PortMapping>, hostname: Option<String>) -> Self {
        Slirp4netns { publish, hostname, running: RefCell::new(None) }
    }
}

// ANCHOR: step
impl Step for Slirp4netns {
    fn name(&self) -> &'static str {
        STAND_IN
    }

    /// Before anything is made: can it work at all? Then, write down the socket.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        check_tun()?;
        let record = Record { socket: socket_path(&cx.container.id), process: None };
        cx.state.record(RECORD, &record).doing(|| "record the user-mode network".to_owned())?;
        // The address is always slirp4netns's first guest, 10.0.2.100; the
        // resolvers are the host's that are not on its loopback, as for the
        // bridge (slirp4netns asks them for the container, as the user).
        let hostname = ch04_uts::hostname(self.hostname.as_deref(), cx.container);
        write_etc_files(cx.state, hostname, GUEST)
    }

    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        let socket = socket_path(&cx.container.id);
        private_dir(socket.parent().expect("the socket is in a directory"))?;
        let log = cx.state.dir().join("slirp4netns.log");
        let (process, exit, ready) = start(child, &socket, &log)?;
        let started = (process.id() as i32, start_time(process.id() as i32).unwrap_or(0));
        *self.running.borrow_mut() = Some(Running { process, exit });
        let record = Record { socket: socket.clone(), process: Some(started) };
        cx.state.record(RECORD, &record).doing(|| "record slirp4netns".to_owned())?;
        let mut running = self.running.borrow_mut();
        let process = &mut running.as_mut().expect("started just now").process;
        wait_until_ready(ready, &log, process)?;
        drop(running);
        for mapping in &self.publish {
            publish(&socket, mapping)?;
        }
        Ok(())
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // all done from outside, in `in_parent`
    }

    /// End slirp4netns: ours by closing its exit pipe; a dead runtime's by its
    /// recorded PID, if that process is still the one it started.
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let Some(record) =
            cx.state.recorded::<Record>(RECORD).doing(|| "read a record".to_owned())?
        else {
            return Ok(());
        };
        if let Some(running) = self.running.borrow_mut().take() {
            stop(running);
        } else if let Some((pid, started)) = record.process {
            kill_if_same(pid, started)?;
        }
        match fs::remove_file(&record.socket) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).doing(|| format!("remove {}", record.socket.display()));
            }
            _ => {}
        }
        cx.state.forget(RECORD).doing(|| "forget slirp4netns".to_owned())
    }
}
// ANCHOR_END: step

/// Is `/dev/net/tun` there, and may we open it? Asked before anything is made,
/// so that a host that cannot do it says so at once, and what to do.
fn check_tun() -> Result<(), StepError> {
    if which(PROGRAM).is_none() {
        return Err(StepError::new("find slirp4netns", Errno::ENOENT)
            .hint("--net slirp4netns needs it: apt-get install slirp4netns (or use --net none)"));
    }
    match OpenOptions::new().read(true).write(true).open(TUN) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(StepError::new(format!("open {TUN}"), Errno::ENOENT).hint(
                "the kernel has no TUN/TAP device: `modprobe tun` as root, or use --net none",
            ))
        }
        Err(e) => {
            let errno = e.raw_os_error().map_or(Errno::EACCES, Errno::from_raw);
            let hint = format!(
                "slirp4netns needs to open {TUN}, which this host lets only root use; root can allow everyone, as Debian does: `chmod 0666 {TUN}` (or use --net none)"
            );
            Err(StepError::new(format!("open {TUN}"), errno).hint(hint))
        }
    }
}

/// The sockets' directory, ours alone (0700, whatever the umask): whoever can
/// connect to a socket can publish the container's ports on the host, or take
/// them away, and a socket's own mode follows the umask.
fn private_dir(dir: &Path) -> Result<(), StepError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let action = || format!("create {} (mode 0700)", dir.display());
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).doing(action)?;
    // Made now, or by an earlier run: either way ours, and 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).doing(action)
}

/// Where slirp4netns listens for our requests: `STATE/slirp4netns/SHORTID.sock`.
/// (Not in the container's state directory: a socket's path may have at most 107
/// bytes, and that one's is already about 100.)
fn socket_path(id: &str) -> PathBuf {
    ch00_process::state_root().join(PROGRAM).join(format!("{}.sock", &id[..12]))
}

/// Publish one port: slirp4netns binds HOSTPORT on the host (on the address
/// given, or on every address, as Docker publishes) and forwards what arrives
/// to the container's port.
fn publish(socket: &Path, mapping: &PortMapping) -> Result<(), StepError> {
    let host_addr = mapping.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let request = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": mapping.protocol.name(),
            "host_addr": host_addr.to_string(),
            "host_port": mapping.host,
            "guest_port": mapping.container,
        },
    });
    let action = || format!("publish port {mapping}");
    let mut api = UnixStream::connect(socket).doing(action)?;
    api.write_all(request.to_string().as_bytes()).doing(action)?;
    api.shutdown(std::net::Shutdown::Write).doing(action)?;
    let mut answer = String::new();
    api.read_to_string(&mut answer).doing(action)?;
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if answer.get("error").is_none() && answer.get("return").is_some() {
        return Ok(());
    }
    let said = answer.pointer("/error/desc").and_then(|d| d.as_str()).unwrap_or("no answer");
    Err(why_not(mapping, host_addr, said))
}

/// slirp4netns says only that it failed ("add_hostfwd: slirp_add_hostfwd
/// failed"), not why. The kernel tells us: we are the same user in the same
/// network namespace, so we try the same bind(2) ourselves.
fn why_not(mapping: &PortMapping, host_addr: Ipv4Addr, said: &str) -> StepError {
    let address = std::net::SocketAddr::from((host_addr, mapping.host));
    let bound = match mapping.protocol {
        Protocol::Tcp => std::net::TcpListener::bind(address).map(drop),
        Protocol::Udp => std::net::UdpSocket::bind(address).map(drop),
    };
    let action = format!("publish port {mapping}");
    let Err(error) = bound else {
        // Free for us: then it is slirp4netns's own trouble, in its words.
        return StepError::new(action, Errno::EIO).hint(format!("slirp4netns said: {said}"));
    };
    let errno = error.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
    let root = nix::unistd::geteuid().is_root();
    let hint = match errno {
        Errno::EADDRINUSE => format!("another program has {address} already: choose another port"),
        Errno::EACCES if !root && mapping.host < 1024 => format!(
            "port {} is below 1024, which only root may bind (see sysctl net.ipv4.ip_unprivileged_port_start): choose a higher one",
            mapping.host
        ),
        _ => format!("binding {address} on the host: {}", errno.desc()),
    };
    StepError::new(action, errno).hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_path_fits_a_unix_socket_address() {
        let id = "a".repeat(64);
        assert!(socket_path(&id).as_os_str().len() < 108);
    }
}
