//! Handing out container addresses on a bridge without collisions.
//!
//! Each address in use is a file named after it in the bridge's lease directory,
//! created with `O_CREAT | O_EXCL`: the kernel lets exactly one of several runtimes
//! starting at once create it, so two containers never get the same address. The
//! file holds the owning runtime's PID, so a lease left by a runtime that was killed
//! (and could not clean up) is taken back by the next one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// An address held by this runtime until [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    pub address: Ipv4Addr,
    path: PathBuf,
}

/// Take the first free address of `subnet` after the gateway (its first host).
pub fn take(dir: &Path, subnet: Ipv4Net) -> io::Result<Lease> {
    fs::create_dir_all(dir)?;
    for address in subnet.hosts().skip(1) {
        let path = dir.join(address.to_string());
        // Twice: once more after taking back a stale lease.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())?;
                    return Ok(Lease { address, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_stale(&path) => {
                    let _ = fs::remove_file(&path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("every address of {subnet} is in use"),
    ))
}

/// Is the runtime that took this lease gone?
fn is_stale(path: &Path) -> bool {
    let owner = fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok());
    owner.is_some_and(|pid| kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH))
}

impl Lease {
    pub fn release(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

/// Does any live lease remain in `dir`? Leases whose runtime is gone are taken
/// back on the way. (When none remains, the bridge can go.)
pub fn any_left(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    let mut live = false;
    for path in entries.flatten().map(|e| e.path()) {
        if is_stale(&path) {
            let _ = fs::remove_file(&path);
        } else {
            live = true;
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_handed_out_once_and_taken_back_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.9.0.0/29".parse().unwrap();
        let a = take(dir.path(), subnet).unwrap();
        let b = take(dir.path(), subnet).unwrap();
        assert_eq!(
            (a.address, b.address),
            ("10.9.0.2".parse().unwrap(), "10.9.0.3".parse().unwrap())
        );
        a.release().unwrap();
        assert_eq!(
            take(dir.path(), subnet).unwrap().address,
            "10.9.0.2".parse::<Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn a_full_subnet_is_an_error_and_a_dead_owners_lease_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.9.0.0/30".parse().unwrap(); // hosts .1 (gateway) and .2
        let _held = take(dir.path(), subnet).unwrap();
        assert_eq!(take(dir.path(), subnet).unwrap_err().kind(), io::ErrorKind::AddrNotAvailable);
        // A lease whose owner no longer exists (PID beyond pid_max):
        fs::write(dir.path().join("10.9.0.2"), "2147483647\n").unwrap();
        assert_eq!(
            take(dir.path(), subnet).unwrap().address,
            "10.9.0.2".parse::<Ipv4Addr>().unwrap()
        );
        assert!(any_left(dir.path()));
    }
}
