//! `-p HOSTPORT:CONTAINERPORT[/tcp|/udp]`, as `docker run -p` writes it.

use std::fmt;
use std::str::FromStr;

/// A port published on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    pub host: u16,
    pub container: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
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
        let Some((host, container)) = ports.split_once(':') else {
            return Err(format!("{s:?}: expected HOSTPORT:CONTAINERPORT[/tcp|/udp]"));
        };
        Ok(PortMapping { host: port(host)?, container: port(container)?, protocol })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = if self.protocol == Protocol::Tcp { "tcp" } else { "udp" };
        write!(f, "{}:{}/{protocol}", self.host, self.container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_mappings_parse() {
        let tcp = PortMapping { host: 8080, container: 80, protocol: Protocol::Tcp };
        assert_eq!("8080:80".parse(), Ok(tcp));
        assert_eq!("8080:80/tcp".parse(), Ok(tcp));
        assert_eq!("53:5353/udp".parse::<PortMapping>().unwrap().protocol, Protocol::Udp);
        assert_eq!(tcp.to_string(), "8080:80/tcp");
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        assert!(
            "8080".parse::<PortMapping>().unwrap_err().contains("expected HOSTPORT:CONTAINERPORT")
        );
        assert!("0:80".parse::<PortMapping>().unwrap_err().contains("is not a port"));
        assert!("1:70000".parse::<PortMapping>().unwrap_err().contains("is not a port"));
        assert!("1:2/sctp".parse::<PortMapping>().unwrap_err().contains("unknown protocol"));
    }
}
