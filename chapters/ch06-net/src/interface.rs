//! An interface's flags, read and written from inside its network namespace
//! with the oldest interface to network devices: `ioctl(2)` on any socket,
//! with a `struct ifreq` naming the interface (`man 7 netdevice`). Chapter 6
//! needs it for one flag of one interface — `lo`'s `IFF_UP` — where netlink
//! (the rest of the chapter) would need an event loop and a socket of its
//! own for the same bit.

use std::os::fd::OwnedFd;

use ch00_process::{Doing, StepError};
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket as new_socket};

nix::ioctl_read_bad!(get_flags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(set_flags_of, libc::SIOCSIFFLAGS, libc::ifreq);

/// A socket to ask about interfaces with (any kind will do: the requests are
/// about the namespace's devices, not about the socket).
pub fn socket() -> Result<OwnedFd, StepError> {
    new_socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .doing(|| "open a socket".to_owned())
}

/// The flags of the interface `name` (`IFF_UP`, `IFF_LOOPBACK`...).
pub fn flags(socket: &OwnedFd, name: &str) -> Result<InterfaceFlags, StepError> {
    let mut request = request(name)?;
    // SAFETY: a valid ifreq with the name set; the kernel fills in the flags.
    unsafe { get_flags(std::os::fd::AsRawFd::as_raw_fd(socket), &mut request) }
        .doing(|| format!("read the flags of {name}"))?;
    // SAFETY: SIOCGIFFLAGS filled the union's flags.
    let bits = unsafe { request.ifr_ifru.ifru_flags };
    // The kernel's field is a short: its bits, not its sign, widened.
    Ok(InterfaceFlags::from_bits_truncate(libc::c_int::from(bits as u16)))
}

/// Set the flags of the interface `name` to `flags`.
pub fn set_flags(socket: &OwnedFd, name: &str, flags: InterfaceFlags) -> Result<(), StepError> {
    let mut request = request(name)?;
    // The kernel's field is a short: the flags that fit in it (IFF_UP among them).
    request.ifr_ifru.ifru_flags = flags.bits() as libc::c_short;
    // SAFETY: a valid ifreq with the name and the flags set.
    unsafe { set_flags_of(std::os::fd::AsRawFd::as_raw_fd(socket), &request) }
        .doing(|| format!("set the flags of {name}"))?;
    Ok(())
}

/// A request about `name`, its other fields zero.
fn request(name: &str) -> Result<libc::ifreq, StepError> {
    // SAFETY: ifreq is plain data; all zeros is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= request.ifr_name.len() {
        return Err(StepError::new(
            format!("name the interface {name}"),
            nix::errno::Errno::EINVAL,
        ));
    }
    for (to, from) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *to = from as libc::c_char;
    }
    Ok(request)
}
