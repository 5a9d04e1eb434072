//! Subordinate IDs: the ranges of host IDs each user may map into a user namespace.
//!
//! `/etc/subuid` and `/etc/subgid` hold lines `NAME:START:COUNT` (`man 5 subuid`);
//! `useradd` gives each new user a range of 65536, `alice:100000:65536`. They
//! serve two purposes here:
//!
//! - **Rootless**: an unprivileged user may write only one line into a user
//!   namespace's map, its own ID. The set-user-ID helpers `newuidmap` and
//!   `newgidmap` (Debian's `uidmap`) write more, after checking these files: the
//!   ranges listed for the user are theirs to use.
//! - **`--userns` as root**: root may map anything, but someone must keep the
//!   containers' ranges apart from each other and from the host's users. Docker's
//!   `userns-remap` lets the administrator name a user (`dockremap`) whose
//!   ranges in these files are the containers'; we do the same with the user
//!   [`REMAP_USER`]. The files are the one place where an administrator already
//!   hands out ID ranges, so that is where a range for containers belongs.

use std::path::Path;

use crate::idmap::IdRange;

/// The user whose subordinate ranges `--userns` maps the container into.
pub const REMAP_USER: &str = "tincan";

pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// The ranges `file`'s text gives to the user called `name` (or listed by its
/// number, `uid`, which `man 5 subuid` allows too), in the file's order.
pub fn ranges_in(text: &str, name: &str, uid: Option<u32>) -> Vec<(u32, u32)> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            let ours = owner == name || uid.is_some_and(|uid| owner == uid.to_string());
            let (start, count) = (start.parse().ok()?, count.parse::<u32>().ok()?);
            (ours && count > 0).then_some((start, count))
        })
        .collect()
}

/// The ranges of `path` (`/etc/subuid` or `/etc/subgid`) for `name`; none if
/// the file is missing.
pub fn ranges(path: &Path, name: &str, uid: Option<u32>) -> std::io::Result<Vec<(u32, u32)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(ranges_in(&text, name, uid)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The container's IDs laid over `ranges`, one after the other from 0:
/// `[(100000, 65536)]` becomes `0:100000:65536`.
pub fn from_zero(ranges: &[(u32, u32)], first_inside: u32) -> Vec<IdRange> {
    let mut inside = first_inside;
    let mut out = Vec::new();
    for &(outside, count) in ranges {
        let Some(next) = inside.checked_add(count) else { break };
        out.push(IdRange { inside, outside, count });
        inside = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# comment\nalice:100000:65536\ntincan:200000:65536\n1001:300000:10\nbob:x:1\ntincan:400000:0\n";

    #[test]
    fn a_user_s_ranges_by_name_or_number() {
        assert_eq!(ranges_in(FILE, "tincan", None), [(200000, 65536)]);
        assert_eq!(ranges_in(FILE, "carol", Some(1001)), [(300000, 10)]);
        assert!(ranges_in(FILE, "bob", None).is_empty(), "malformed lines are skipped");
        assert!(ranges_in(FILE, "dave", None).is_empty());
    }

    #[test]
    fn ranges_are_laid_end_to_end_inside() {
        let laid = from_zero(&[(100000, 10), (500000, 5)], 1);
        assert_eq!(laid[0], IdRange { inside: 1, outside: 100000, count: 10 });
        assert_eq!(laid[1], IdRange { inside: 11, outside: 500000, count: 5 });
    }

    #[test]
    fn a_missing_file_has_no_ranges() {
        assert!(ranges(Path::new("/nonexistent/subuid"), "tincan", None).unwrap().is_empty());
    }
}
