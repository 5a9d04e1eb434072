//! An entry's metadata: owner, mode, time, and the extended attributes a
//! layer may set.

use std::io::{self, Read};
use std::os::fd::AsFd;

use nix::sys::stat::{Mode, fchmod};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown};

use super::At;
use super::UnpackError;
use super::root::set_xattr;

/// An entry's owner, mode, time and extended attributes.
pub(super) struct Meta {
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) mode: Mode,
    pub(super) mtime: TimeSpec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    pub(super) fn of<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Meta> {
        // Numeric IDs; the names (uname, gname) are ignored: they mean the
        // image's /etc/passwd, not the host's. (The tar crate has already
        // applied PAX `uid`/`gid`, for IDs too big for the header.)
        let header = entry.header();
        let id = |id: u64| {
            u32::try_from(id).map_err(|_| io::Error::other(format!("owner {id} is not a Linux ID")))
        };
        let old = header.as_old();
        let uid = Uid::from_raw(id(numeric(&old.uid, header.uid())?)?);
        let gid = Gid::from_raw(id(numeric(&old.gid, header.gid())?)?);
        // Set-user-ID and set-group-ID bits are kept, as every runtime keeps
        // them: `su`, `passwd`, `ping` need them. They make a program run as its
        // owner — in this chapter, a container's root is the host's root — so an
        // image's set-user-ID program lifts a container's non-root USER to that
        // root. Chapter 9 (root inside is nobody outside) and chapter 10
        // (`no_new_privs`, which makes exec ignore the bits) take that away.
        let mode = Mode::from_bits_truncate(header.mode()? & 0o7777);
        let mtime = numeric(&old.mtime, header.mtime())?;
        let mut mtime = TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        if let Some(records) = entry.pax_extensions()? {
            for record in records {
                let record = record?;
                let key = record.key_bytes();
                if key == b"mtime" {
                    mtime = pax_time(record.value_bytes()).unwrap_or(mtime);
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.")
                    && allowed_xattr(name)
                {
                    xattrs.push((name.to_vec(), record.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta { uid, gid, mode, mtime, xattrs })
    }

    /// Apply owner, mode and extended attributes to an open regular file or
    /// directory, in that order: changing the owner clears the set-user-ID
    /// bits and the `security.capability` attribute.
    pub(super) fn apply(&self, fd: &impl AsFd, at: At) -> Result<(), UnpackError> {
        fchown(fd, Some(self.uid), Some(self.gid)).map_err(at.io("set the owner"))?;
        fchmod(fd, self.mode).map_err(at.io("set the mode"))?;
        for (name, value) in &self.xattrs {
            set_xattr(fd, name, value).map_err(at.io("set an extended attribute"))?;
        }
        Ok(())
    }
}

/// The extended attributes a layer may set; the others are dropped.
/// - `user.*`: the image's own data — but not `user.overlay.*`, which
///   overlayfs reads as its own markers when mounted with `userxattr`.
/// - `security.capability`: file capabilities (`ping` gets CAP_NET_RAW this
///   way rather than by being set-user-ID root).
///
/// Never `trusted.overlay.*`: overlayfs trusts those in a lower layer
/// (`opaque`, `redirect`, `metacopy`), so a layer bringing its own could forge
/// them — hide files of the layers below, or show one under another's name. We
/// write the one we mean, `trusted.overlay.opaque`, ourselves, from `.wh.`
/// entries. Nor `security.selinux`: a label of the host that built the image.
fn allowed_xattr(name: &[u8]) -> bool {
    (name.starts_with(b"user.") && !name.starts_with(b"user.overlay."))
        || name == b"security.capability"
}

/// A numeric header field, read as Go's `archive/tar` (which Docker and
/// containerd build and read layers with) reads it: an empty one is 0, where
/// the `tar` crate refuses it.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') { Ok(0) } else { parsed }
}

/// A PAX time: seconds since the epoch, with an optional fraction.
fn pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().ok()?;
    let digits = fraction.get(..fraction.len().min(9))?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = format!("{digits:0<9}").parse().ok()?;
    Some(if text.starts_with('-') && nanos > 0 {
        TimeSpec::new(seconds.checked_sub(1)?, 1_000_000_000 - nanos) // -1.25 is -2 + 0.75
    } else {
        TimeSpec::new(seconds, nanos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_numeric_field_is_zero_as_go_reads_it() {
        assert_eq!(numeric(&[0; 8], Err(io::Error::other("not a number"))).unwrap(), 0);
        assert_eq!(numeric(b"       \0", Err(io::Error::other("not a number"))).unwrap(), 0);
        assert!(numeric(b"12x4567\0", Err(io::Error::other("not a number"))).is_err());
        assert_eq!(numeric(b"0000017\0", Ok(15)).unwrap(), 15);
    }

    /// The earliest time there is, and a fraction before it: not a panic.
    #[test]
    fn a_pax_time_before_the_earliest_is_no_time() {
        assert_eq!(pax_time(b"-9223372036854775808.5"), None);
    }

    #[test]
    fn pax_times_keep_their_fraction() {
        assert_eq!(pax_time(b"1700000000"), Some(TimeSpec::new(1_700_000_000, 0)));
        assert_eq!(pax_time(b"1700000000.25"), Some(TimeSpec::new(1_700_000_000, 250_000_000)));
        assert_eq!(pax_time(b"1.0123456789"), Some(TimeSpec::new(1, 12_345_678)));
        assert_eq!(pax_time(b"-1.25"), Some(TimeSpec::new(-2, 750_000_000)));
        assert_eq!(pax_time(b"soon"), None);
        assert_eq!(pax_time(b"1.x"), None);
    }

    #[test]
    fn only_user_and_capability_xattrs_are_allowed() {
        for allowed in ["user.origin", "security.capability"] {
            assert!(allowed_xattr(allowed.as_bytes()), "{allowed}");
        }
        for dropped in [
            "trusted.overlay.opaque",
            "trusted.overlay.redirect",
            "user.overlay.opaque",
            "security.selinux",
            "system.posix_acl_access",
        ] {
            assert!(!allowed_xattr(dropped.as_bytes()), "{dropped}");
        }
    }
}
