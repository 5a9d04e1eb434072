//! Handing out container addresses on a bridge without collisions: each address
//! in use is a claim (`claim.rs`) in the bridge's lease directory.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::claim::{Claim, Holder};

/// An address held by this runtime while the container lives.
#[derive(Debug)]
pub struct Lease {
    pub address: Ipv4Addr,
    _claim: Claim,
}

/// Take the first free address of `subnet` after the gateway (its first host),
/// for container `owner` (state directory `state`). An address whose container died is free again only
/// once that container's leftovers are cleaned up: its forwarding rules would
/// send the next container's traffic to it... or another's to this one.
pub fn take(dir: &Path, subnet: Ipv4Net, owner: &str, state: &Path) -> io::Result<Lease> {
    for address in subnet.hosts().skip(1) {
        match Claim::take(&dir.join(address.to_string()), owner, state)? {
            Ok(claim) => return Ok(Lease { address, _claim: claim }),
            Err(Holder::Alive(_) | Holder::Dead(_)) => continue,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!(
            "every address of {subnet} is in use (`cleanup` frees those of containers whose runtime died)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_handed_out_once_and_taken_back_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.9.0.0/29".parse().unwrap();
        let a = take(dir.path(), subnet, "a", dir.path()).unwrap();
        let b = take(dir.path(), subnet, "b", dir.path()).unwrap();
        assert_eq!(
            (a.address, b.address),
            ("10.9.0.2".parse().unwrap(), "10.9.0.3".parse().unwrap())
        );
        drop(a);
        crate::claim::release_if_owned(&dir.path().join("10.9.0.2"), "a").unwrap();
        assert_eq!(
            take(dir.path(), subnet, "c", dir.path()).unwrap().address,
            "10.9.0.2".parse::<Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn a_full_subnet_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.9.0.0/30".parse().unwrap(); // hosts .1 (gateway) and .2
        let _held = take(dir.path(), subnet, "a", dir.path()).unwrap();
        assert_eq!(
            take(dir.path(), subnet, "b", dir.path()).unwrap_err().kind(),
            io::ErrorKind::AddrNotAvailable
        );
    }
}
