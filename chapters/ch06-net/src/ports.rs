//! `-p [ADDRESS:]HOSTPORT:CONTAINERPORT[/tcp|/udp]`, as `docker run -p` writes
//! it, and who holds a host port. Without an address, the port is published
//! on every address of the host, as Docker does; `-p 127.0.0.1:8080:80` keeps
//! it to the host itself.
//!
//! Two containers cannot both receive the host's port 8080: the second one's
//! forwarding rule would never match. So a published port is a claim
//! (`claim.rs`), `STATE/ports/tcp/8080`, and a port that a running container
//! publishes already is refused, as Docker refuses it.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ch00_process::{Doing, StepError};
use nix::errno::Errno;

use crate::claim::{self, Claim, Holder};

/// A port published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PortMapping {
    /// The host address it is published on; `None`: every address.
    pub address: Option<Ipv4Addr>,
    pub host: u16,
    pub container: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// As `-p` and nftables spell it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl FromStr for PortMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ports, protocol) = match s.rsplit_once('/') {
            Some((ports, "tcp")) => (ports, Protocol::Tcp),
            Some((ports, "udp")) => (ports, Protocol::Udp),
            Some((_, other)) => return Err(format!("unknown protocol {other:?}: use tcp or udp")),
            None => (s, Protocol::Tcp),
        };
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{p:?} is not a port (1-65535)")),
            Ok(n) => Ok(n),
        };
        let parts: Vec<&str> = ports.split(':').collect();
        let (address, host, container) = match parts[..] {
            [host, container] => (None, host, container),
            [address, host, container] => match address.parse::<Ipv4Addr>() {
                Ok(address) => (Some(address), host, container),
                Err(_) => return Err(format!("{address:?} is not an IPv4 address of the host")),
            },
            _ => {
                return Err(format!("{s:?}: expected [ADDRESS:]HOSTPORT:CONTAINERPORT[/tcp|/udp]"));
            }
        };
        let (host, container) = (port(host)?, port(container)?);
        Ok(PortMapping { address, host, container, protocol })
    }
}

impl From<PortMapping> for String {
    fn from(mapping: PortMapping) -> String {
        mapping.to_string()
    }
}

impl TryFrom<String> for PortMapping {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(address) = self.address {
            write!(f, "{address}:")?;
        }
        write!(f, "{}:{}/{}", self.host, self.container, self.protocol.name())
    }
}

impl PortMapping {
    /// Where the claim on this host port lives.
    fn claim_path(&self) -> PathBuf {
        let protocol = self.protocol.name();
        ch00_process::state_root().join("ports").join(protocol).join(self.host.to_string())
    }
}

/// Claim the host ports of `mappings` for container `owner`, whose state
/// directory is `state`.
pub fn claim(mappings: &[PortMapping], owner: &str, state: &Path) -> Result<Vec<Claim>, StepError> {
    let mut claims = Vec::new();
    for mapping in mappings {
        let port = format!("{}/{}", mapping.host, mapping.protocol.name());
        let taken = match Claim::take(&mapping.claim_path(), owner, state)
            .doing(|| format!("claim port {port}"))?
        {
            Ok(claim) => {
                claims.push(claim);
                continue;
            }
            Err(Holder::Alive(id)) if id == owner => format!("-p gives port {port} twice"),
            Err(Holder::Alive(id)) => {
                format!("port {port} is already published by container {}", short(&id))
            }
            Err(Holder::Dead(id)) => format!(
                "port {port} is still held by container {}, whose runtime died: `cleanup` frees it",
                short(&id)
            ),
        };
        return Err(StepError::new("publish the ports", Errno::EADDRINUSE).hint(taken));
    }
    Ok(claims)
}

/// Give back what `owner` claimed (a clean-up: also after its runtime died).
pub fn release(mappings: &[PortMapping], owner: &str) -> Result<(), StepError> {
    for mapping in mappings {
        let path = mapping.claim_path();
        claim::release_if_owned(&path, owner).doing(|| format!("remove {}", path.display()))?;
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_mappings_parse() {
        let tcp = PortMapping { address: None, host: 8080, container: 80, protocol: Protocol::Tcp };
        let local = PortMapping { address: Some(Ipv4Addr::LOCALHOST), ..tcp };
        assert_eq!("127.0.0.1:8080:80".parse(), Ok(local));
        assert_eq!(local.to_string(), "127.0.0.1:8080:80/tcp");
        assert!("localhost:8080:80".parse::<PortMapping>().is_err());
        assert!("1:2:3:4".parse::<PortMapping>().is_err());
        assert_eq!("8080:80".parse(), Ok(tcp));
        assert_eq!("8080:80/tcp".parse(), Ok(tcp));
        assert_eq!("53:5353/udp".parse::<PortMapping>().unwrap().protocol, Protocol::Udp);
        assert_eq!(tcp.to_string(), "8080:80/tcp");
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        assert!(
            "8080"
                .parse::<PortMapping>()
                .unwrap_err()
                .contains("expected [ADDRESS:]HOSTPORT:CONTAINERPORT")
        );
        assert!("0:80".parse::<PortMapping>().unwrap_err().contains("is not a port"));
        assert!("1:70000".parse::<PortMapping>().unwrap_err().contains("is not a port"));
        assert!("1:2/sctp".parse::<PortMapping>().unwrap_err().contains("unknown protocol"));
    }
}
