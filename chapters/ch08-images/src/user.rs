//! Who the container runs as: the image config's `User`, looked up in the
//! image's own `/etc/passwd` and `/etc/group`.
//!
//! The kernel knows users only as numbers: a process has a uid, a gid and a list
//! of supplementary gids, and a file has an owner uid and gid. Names are a
//! convention of user space, kept in `/etc/passwd` (`name:x:uid:gid:gecos:home:shell`)
//! and `/etc/group` (`name:x:gid:member,member`). Which files? The *image's*: the
//! host's `nginx` may be uid 101 while the image's is 33, and it is the image's
//! files that are owned by 33. So a name means what the image says it means, and
//! the runtime reads those files from the layers before the container starts.
//!
//! `User` takes the forms `name`, `uid`, `name:group`, `uid:gid` (and mixes of
//! them); empty means root. We follow Docker (`moby/sys/user`, `GetExecUser`):
//!
//! - A number is always an id, looked up only to find a home and a name; an id
//!   the files do not list is fine: the kernel needs no entry for it.
//! - A name must be in the file, or it is an error: guessing would run as root.
//! - Without an explicit group, the process gets the user's primary gid *and*
//!   the groups of `/etc/group` that list the user by name, as `login` would
//!   give it. With an explicit group, just that group.
//! - The primary gid is also in the supplementary list: Docker does this since
//!   its fix for CVE-2022-36109 (Engine 20.10.18), containerd since its fix for
//!   CVE-2023-25173, where a process could get around a file's denial to its
//!   primary group.
//!
//! Then, in the child, [`SwitchUser`] becomes that user: the very last step,
//! because nothing after it may need root's privileges. (`man 2 setgroups`,
//! `man 2 setuid`, `man 7 credentials`, `man 5 passwd`, `man 5 group`)

use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

/// The largest uid or gid accepted, as Docker accepts them: the kernel's ids are
/// 32-bit unsigned, but `(uid_t)-1` means "no change" to `setuid(2)`'s family, and
/// 32-bit programs may see ids above 2³¹ as negative.
const MAX_ID: u32 = (1 << 31) - 1;

/// What a `User` string resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups, the primary gid first.
    pub groups: Vec<u32>,
    /// The user's home directory from `/etc/passwd`, if it lists the user.
    pub home: Option<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("the image has no user {0:?} in its /etc/passwd: use a user it has, or a numeric uid")]
    NoSuchUser(String),
    #[error("the image has no /etc/passwd to find the user {0:?} in: use a numeric uid")]
    NoPasswd(String),
    #[error("the image has no group {0:?} in its /etc/group: use a group it has, or a numeric gid")]
    NoSuchGroup(String),
    #[error("the image has no /etc/group to find the group {0:?} in: use a numeric gid")]
    NoGroupFile(String),
    #[error("{0:?} is not a valid uid or gid: ids go from 0 to {MAX_ID}")]
    OutOfRange(String),
}

/// One line of `/etc/passwd`, the parts we use.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

/// One line of `/etc/group`, the parts we use.
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

// ANCHOR: resolve
/// Resolve `user` (`name`, `uid`, `name:group`, `uid:gid`, empty for root)
/// against the text of the image's `/etc/passwd` and `/etc/group`, either of
/// which may be missing.
pub fn resolve(user: &str, passwd: Option<&str>, group: Option<&str>) -> Result<Ids, UserError> {
    let (user_part, group_part) = user.split_once(':').unwrap_or((user, ""));
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let uid = numeric(user_part)?;
    let entry = match uid {
        Some(uid) => users.into_iter().find(|u| u.uid == uid),
        // Empty means root; root, like any id, may be missing from the file.
        None if user_part.is_empty() => users.into_iter().find(|u| u.uid == 0),
        None if passwd.is_none() => return Err(UserError::NoPasswd(user_part.to_owned())),
        None => match users.into_iter().find(|u| u.name == user_part) {
            Some(entry) => Some(entry),
            None => return Err(UserError::NoSuchUser(user_part.to_owned())),
        },
    };
    let mut ids = match &entry {
        Some(e) => Ids { uid: e.uid, gid: e.gid, groups: Vec::new(), home: home(e.home) },
        // An id the file does not list: the kernel needs no entry for it.
        None => Ids { uid: uid.unwrap_or(0), ..Ids::default() },
    };
    let groups = group.map(parse_group).unwrap_or_default();
    let mut supplementary = Vec::new();
    if !group_part.is_empty() {
        ids.gid = match numeric(group_part)? {
            Some(gid) => gid,
            None if group.is_none() => return Err(UserError::NoGroupFile(group_part.to_owned())),
            None => match groups.iter().find(|g| g.name == group_part) {
                Some(g) => g.gid,
                None => return Err(UserError::NoSuchGroup(group_part.to_owned())),
            },
        };
    } else if let Some(entry) = &entry {
        // A user the file lists has a name, which groups may list.
        supplementary =
            groups.iter().filter(|g| g.members.contains(&entry.name)).map(|g| g.gid).collect();
    }
    ids.groups.push(ids.gid);
    for gid in supplementary {
        if !ids.groups.contains(&gid) {
            ids.groups.push(gid);
        }
    }
    Ok(ids)
}
// ANCHOR_END: resolve

/// `Some(id)` if `part` is a number, `None` if it is a name. A number out of
/// range is an error, never a name: `-1` must not quietly mean a user called "-1".
fn numeric(part: &str) -> Result<Option<u32>, UserError> {
    let digits = part.strip_prefix(['-', '+']).unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match part.parse::<i64>() {
        Ok(id @ 0..) if id <= i64::from(MAX_ID) => Ok(Some(id as u32)),
        _ => Err(UserError::OutOfRange(part.to_owned())),
    }
}

fn home(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

/// The entries of an `/etc/passwd`. A line we cannot read — a comment, too few
/// fields, an id that is not a number — is skipped. (Docker reads a bad id as 0,
/// which would make such a user root.)
fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    lines(text)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let (name, uid, gid) = (*fields.first()?, fields.get(2)?, fields.get(3)?);
            let (uid, gid) = (id(uid)?, id(gid)?);
            let home = fields.get(5).copied().unwrap_or("");
            (!name.is_empty()).then_some(PasswdEntry { name, uid, gid, home })
        })
        .collect()
}

/// The entries of an `/etc/group`, skipping what cannot be read, as above.
fn parse_group(text: &str) -> Vec<GroupEntry<'_>> {
    lines(text)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let (name, gid) = (*fields.first()?, id(fields.get(2)?)?);
            let members = fields.get(3).copied().unwrap_or("");
            let members = members.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
            (!name.is_empty()).then_some(GroupEntry { name, gid, members })
        })
        .collect()
}

/// An id field of the files: a number in range, or nothing. An entry with the
/// id 4294967295 would be `(uid_t)-1`, which `setuid(2)` takes as "no change".
fn id(field: &str) -> Option<u32> {
    field.parse().ok().filter(|id| *id <= MAX_ID)
}

/// The lines that can hold an entry: neither blank nor a comment.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Become the image's user: its supplementary groups, its gid, its uid.
pub struct SwitchUser {
    ids: Ids,
}

impl SwitchUser {
    pub fn new(ids: Ids) -> SwitchUser {
        SwitchUser { ids }
    }
}

// ANCHOR: switch_user
impl Step for SwitchUser {
    fn name(&self) -> &'static str {
        "user"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let Ids { uid, gid, groups, .. } = &self.ids;
        // Changing the effective uid clears the parent-death signal (`man 2
        // PR_SET_PDEATHSIG`): without it, a container whose runtime is killed
        // would run on unsupervised. Read it now, set it again after.
        let death_signal =
            prctl::get_pdeathsig().doing(|| "read the parent-death signal".into())?;
        // The order matters. setgroups(2) and setgid(2) need CAP_SETGID, which
        // root has; setuid(2) to any other uid drops every capability, after
        // which the groups can no longer be changed. Done the other way round,
        // the process would keep root's groups. An empty list is set too: it
        // drops the runtime's own supplementary groups (`man 2 setgroups`).
        let gids: Vec<Gid> = groups.iter().copied().map(Gid::from_raw).collect();
        match setgroups(&gids) {
            // In a user namespace whose maps allow no setgroups (chapter 9,
            // a user without newgidmap), even an empty list is refused: the
            // process keeps the groups it has, which is all it can do.
            Err(Errno::EPERM) if gids.is_empty() && setgroups_denied() => {}
            other => other.doing(|| format!("set the supplementary groups to {groups:?}"))?,
        }
        setgid(Gid::from_raw(*gid)).doing(|| format!("set the gid to {gid}"))?;
        setuid(Uid::from_raw(*uid)).doing(|| format!("set the uid to {uid}"))?;
        prctl::set_pdeathsig(death_signal).doing(|| "set the parent-death signal again".into())
    }
}
// ANCHOR_END: switch_user

/// Has our user namespace denied `setgroups(2)` (`/proc/self/setgroups`;
/// chapter 9)?
pub fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, in_a_child, root_or_skip};

    const PASSWD: &str = "\
# the image's users
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
short:x:7
badid:x:seven:7:bad:/bad:/bin/sh
huge:x:4294967295:0::/:/bin/sh
app:x:1000:1000::/home/app:/bin/sh
nohome:x:1001:1001
";

    const GROUP: &str = "\
root:x:0:
daemon:x:1:
www-data:x:33:
adm:x:4:app, daemon
wheel:x:10:app
bad:x:ten:app
staff:x:50:
app:x:1000:
";

    fn ids(uid: u32, gid: u32, groups: &[u32], home: Option<&str>) -> Ids {
        Ids { uid, gid, groups: groups.to_vec(), home: home.map(str::to_owned) }
    }

    #[test]
    fn user_strings_resolve_as_docker_resolves_them() {
        let (p, g) = (Some(PASSWD), Some(GROUP));
        let table: &[(&str, Option<&str>, Option<&str>, Ids)] = &[
            ("", p, g, ids(0, 0, &[0], Some("/root"))),
            ("root", p, g, ids(0, 0, &[0], Some("/root"))),
            ("www-data", p, g, ids(33, 33, &[33], Some("/var/www"))),
            // By name: the groups that list it, after the primary gid.
            ("app", p, g, ids(1000, 1000, &[1000, 4, 10], Some("/home/app"))),
            // A uid the file lists: its gid, home and groups, as by name.
            ("1000", p, g, ids(1000, 1000, &[1000, 4, 10], Some("/home/app"))),
            // A uid it does not list: fine, gid 0, no home.
            ("4242", p, g, ids(4242, 0, &[0], None)),
            ("4242:4343", p, g, ids(4242, 4343, &[4343], None)),
            // An explicit group: just that one.
            ("app:staff", p, g, ids(1000, 50, &[50], Some("/home/app"))),
            ("app:77", p, g, ids(1000, 77, &[77], Some("/home/app"))),
            ("daemon", p, g, ids(1, 1, &[1, 4], Some("/usr/sbin"))),
            // A line with no home field still counts.
            ("nohome", p, g, ids(1001, 1001, &[1001], None)),
            // Numbers work without the files; so does root.
            ("", None, None, ids(0, 0, &[0], None)),
            ("33:33", None, None, ids(33, 33, &[33], None)),
            ("app", p, None, ids(1000, 1000, &[1000], Some("/home/app"))),
        ];
        for (user, passwd, group, expected) in table {
            assert_eq!(resolve(user, *passwd, *group).as_ref(), Ok(expected), "{user:?}");
        }
    }

    #[test]
    fn names_that_are_not_found_are_errors_that_name_the_file() {
        let (p, g) = (Some(PASSWD), Some(GROUP));
        let table: &[(&str, Option<&str>, Option<&str>, UserError)] = &[
            ("nobody", p, g, UserError::NoSuchUser("nobody".into())),
            ("nobody", None, g, UserError::NoPasswd("nobody".into())),
            ("app:nogroup", p, g, UserError::NoSuchGroup("nogroup".into())),
            ("app:staff", p, None, UserError::NoGroupFile("staff".into())),
            // Lines that could not be read are not there.
            ("badid", p, g, UserError::NoSuchUser("badid".into())),
            ("short", p, g, UserError::NoSuchUser("short".into())),
            ("huge", p, g, UserError::NoSuchUser("huge".into())),
            ("app:bad", p, g, UserError::NoSuchGroup("bad".into())),
            // A comment is not a user.
            ("# the image's users", p, g, UserError::NoSuchUser("# the image's users".into())),
        ];
        for (user, passwd, group, expected) in table {
            assert_eq!(resolve(user, *passwd, *group).as_ref(), Err(expected), "{user:?}");
        }
        let message = UserError::NoSuchUser("nobody".into()).to_string();
        assert!(message.contains("/etc/passwd"), "{message}");
    }

    #[test]
    fn ids_out_of_range_are_errors_not_names() {
        for bad in ["-1", "2147483648", "4294967295", "99999999999999999999", "1:-5"] {
            let error = resolve(bad, Some(PASSWD), Some(GROUP)).unwrap_err();
            assert!(matches!(error, UserError::OutOfRange(_)), "{bad:?}: {error}");
        }
        assert_eq!(resolve("2147483647", None, None).map(|i| i.uid), Ok(MAX_ID));
    }

    #[test]
    fn the_first_of_two_entries_wins() {
        let passwd = "app:x:1000:1000::/first:/bin/sh\napp:x:2000:2000::/second:/bin/sh\n";
        assert_eq!(
            resolve("app", Some(passwd), None),
            Ok(ids(1000, 1000, &[1000], Some("/first")))
        );
    }

    #[test]
    fn the_switch_drops_groups_sets_ids_and_keeps_the_death_signal() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new();
        let report = in_a_child(|| {
            prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).expect("set the death signal");
            let step = SwitchUser::new(ids(1000, 1001, &[1001, 27], None));
            step.in_child(&fixture.cx()).expect("switch");
            // The kernel keeps them sorted.
            let groups: Vec<u32> =
                nix::unistd::getgroups().expect("getgroups").iter().map(|g| g.as_raw()).collect();
            format!(
                "uid={} euid={} gid={} groups={groups:?} death={:?}",
                nix::unistd::getuid(),
                nix::unistd::geteuid(),
                nix::unistd::getgid(),
                prctl::get_pdeathsig().expect("get the death signal"),
            )
        });
        assert_eq!(report, "uid=1000 euid=1000 gid=1001 groups=[27, 1001] death=Some(SIGKILL)");
    }

    #[test]
    fn root_with_no_groups_drops_the_runtimes_groups() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new();
        let report = in_a_child(|| {
            setgroups(&[Gid::from_raw(4), Gid::from_raw(27)]).expect("give the runtime groups");
            let step = SwitchUser::new(ids(0, 0, &[], None));
            step.in_child(&fixture.cx()).expect("switch");
            format!("{:?}", nix::unistd::getgroups().expect("getgroups"))
        });
        assert_eq!(report, "[]");
    }
}
