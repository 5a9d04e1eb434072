//! The user namespace step: the container's root is root only inside.
//!
//! `clone(2)` with `CLONE_NEWUSER` (and the other `CLONE_NEW*` flags at once)
//! creates the user namespace first, and the other new namespaces belong to
//! it: the container's root can mount, configure its network, set its
//! hostname — in *its* namespaces — because it holds every capability in its
//! user namespace. On the host it holds none, and it is whoever the map says.
//!
//! Three moments:
//!
//! 1. **clone**: the child is born in the new namespace, with a full set of
//!    capabilities there, and no IDs yet: `id` would say 65534 (nobody).
//! 2. **The map, from outside** ([`UserNamespace::in_parent`]): a process of
//!    the parent namespace writes `/proc/PID/uid_map` and `gid_map`. The child
//!    cannot write its own map with more than its own ID: that the maps come
//!    from outside is what makes them trustworthy. How it is written depends on
//!    who runs us ([`Writer`]).
//! 3. **Becoming root inside** ([`UserNamespace::in_child`]): once the maps
//!    exist (the runtime lets the child go only after every `in_parent`), the
//!    child sets its IDs to 0 with `setresuid`/`setresgid` and drops the host's
//!    supplementary groups with `setgroups`. It does so first of all: every
//!    later step then creates files, mounts and devices as the container's root.
//!
//! Man pages: `man 7 user_namespaces`, `man 7 capabilities` ("Interaction with
//! user namespaces"), `man 1 newuidmap`.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;

use ch00_process::{Context, Doing, Step, StepError};
use ch08_images::user::setgroups_denied;
use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::{Gid, Pid, Uid, setgroups, setresgid, setresuid};

use crate::idmap::IdMap;

/// How the maps get written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// We write them ourselves. Any map needs `CAP_SETUID` and `CAP_SETGID` in
    /// the parent namespace: the runtime runs as root.
    Direct,
    /// An unprivileged runtime asks `newuidmap` and `newgidmap`, which are
    /// set-user-ID root and write the ranges `/etc/subuid` and `/etc/subgid`
    /// give the user (see `subid.rs`).
    Helpers,
    /// An unprivileged runtime without the helpers (or without ranges) may map
    /// only itself: one line, its own ID as 0. For the group map the kernel
    /// asks one thing more: `setgroups` must be denied in the namespace first,
    /// or the container's root could *drop* a supplementary group the host
    /// gave its user and so get past a "group may not read" permission
    /// (CVE-2014-8989). So the container keeps its groups, unmapped.
    SingleId,
    /// The namespace exists already (an OCI config joins it by its path):
    /// its maps were written once, for ever, by whoever made it. They are
    /// only checked to be the ones asked for.
    Joined,
}

/// The maps of the container's user namespace, and how to write them.
#[derive(Debug, Clone)]
pub struct UserNamespace {
    pub uids: IdMap,
    pub gids: IdMap,
    pub writer: Writer,
}

// ANCHOR: in_parent
impl UserNamespace {
    /// Write the child's maps, from outside.
    fn write_maps(&self, child: Pid) -> Result<(), StepError> {
        match self.writer {
            Writer::Direct => {
                write_proc(child, "uid_map", &self.uids.proc_text())?;
                write_proc(child, "gid_map", &self.gids.proc_text())
            }
            Writer::Helpers => {
                helper("newuidmap", child, &self.uids)?;
                helper("newgidmap", child, &self.gids)
            }
            Writer::SingleId => {
                write_proc(child, "setgroups", "deny")?;
                write_proc(child, "uid_map", &self.uids.proc_text())?;
                write_proc(child, "gid_map", &self.gids.proc_text())
            }
            Writer::Joined => {
                same_map(child, "uid_map", &self.uids)?;
                same_map(child, "gid_map", &self.gids)
            }
        }
    }
}

/// Check that the child's namespace maps what `map` says (the kernel's
/// text, in any order).
fn same_map(child: Pid, file: &str, map: &IdMap) -> Result<(), StepError> {
    let path = format!("/proc/{child}/{file}");
    let lines = |text: &str| {
        let mut lines: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .filter(|l: &Vec<String>| !l.is_empty())
            .collect();
        lines.sort();
        lines
    };
    let has = std::fs::read_to_string(&path).doing(|| format!("read {path}"))?;
    if lines(&has) == lines(&map.proc_text()) {
        return Ok(());
    }
    let shown = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(StepError::new(format!("check {path}"), Errno::EINVAL).hint(format!(
        "the user namespace joined maps {}, the config asks for {}: give its maps",
        shown(&has),
        shown(&map.proc_text())
    )))
}
// ANCHOR_END: in_parent

impl UserNamespace {
    // ANCHOR: in_child
    /// Become the container's root. `setgroups` first, while we may: the host's
    /// supplementary groups (root's) are not mapped, and a process should not
    /// keep groups it cannot even name. (Where the namespace denies it —
    /// [`Writer::SingleId`], or `newgidmap` mapping only the user's own group —
    /// the container keeps its user's groups.)
    fn take_root(&self) -> Result<(), StepError> {
        // A change of effective IDs clears the parent-death signal (`man 2
        // PR_SET_PDEATHSIG`), and the host's 0 becoming 100000 is one: without
        // it again, a container whose runtime is killed would run on, unwatched.
        let death_signal =
            prctl::get_pdeathsig().doing(|| "read the parent-death signal".into())?;
        match setgroups(&[]) {
            Err(Errno::EPERM) if setgroups_denied() => {}
            other => other.doing(|| "drop the supplementary groups".to_owned())?,
        }
        let root = Gid::from_raw(0);
        setresgid(root, root, root).doing(|| "become group 0 of the namespace".to_owned())?;
        let root = Uid::from_raw(0);
        setresuid(root, root, root).doing(|| "become user 0 of the namespace".to_owned())?;
        prctl::set_pdeathsig(death_signal).doing(|| "set the parent-death signal again".into())
    }
    // ANCHOR_END: in_child
}

fn write_proc(child: Pid, file: &str, text: &str) -> Result<(), StepError> {
    let path = format!("/proc/{child}/{file}");
    let shown = text.trim_end().replace('\n', ", ");
    write_once(&path, text).doing(|| format!("write {shown} to {path}")).map_err(|e| {
        let hint = match e.errno() {
            Errno::EPERM => {
                "the kernel refused the map: a runtime that is not root may map only its own ID (or use newuidmap)"
            }
            Errno::EINVAL => "the kernel refused the map: ranges that overlap, or too many lines",
            _ => return e,
        };
        e.hint(hint)
    })
}

// ANCHOR: write_once
/// Write `text` to the file at `path` in one `write(2)`.
fn write_once(path: &str, text: &str) -> std::io::Result<()> {
    // EXERCISE(ch09-user): write the uid map
    // hint: the kernel takes a whole map in ONE write(2) to /proc/PID/uid_map
    // (a second write is refused with EPERM: a map is set once, for ever). Open
    // the file write-only (std::fs::OpenOptions, .write(true), no create, no
    // truncate) and write `text` with a single write_all.
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(text.as_bytes())
    // END EXERCISE
}
// ANCHOR_END: write_once

/// Run `newuidmap PID INSIDE OUTSIDE COUNT...` (or `newgidmap`).
fn helper(program: &str, child: Pid, map: &IdMap) -> Result<(), StepError> {
    let mut command = Command::new(program);
    command.arg(child.to_string());
    for r in map.ranges() {
        command.args([r.inside.to_string(), r.outside.to_string(), r.count.to_string()]);
    }
    let action = || format!("{program} {child} {}", map.proc_text().trim_end().replace('\n', " "));
    let output = command.output().map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        StepError::new(action(), errno).hint(format!("{program} is in Debian's package uidmap"))
    })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim().replace('\n', " / ");
        let status = output.status;
        return Err(StepError::new(action(), said_errno(&said)).hint(format!(
            "{program} {status}, saying {said:?} (see /etc/subuid and /etc/subgid)"
        )));
    }
    Ok(())
}

/// The error a helper's message ends with (`newuidmap: write to uid_map
/// failed: Invalid argument`: the kernel's), else "not permitted": a range the
/// files do not give is refused in words of its own ("uid range [0-10) ->
/// [123456-123466) not allowed").
fn said_errno(said: &str) -> Errno {
    let known =
        [Errno::EINVAL, Errno::EPERM, Errno::EACCES, Errno::ESRCH, Errno::ENOENT, Errno::ENOMEM];
    known.into_iter().find(|e| said.ends_with(e.desc())).unwrap_or(Errno::EPERM)
}

impl Step for UserNamespace {
    fn name(&self) -> &'static str {
        "user namespace"
    }

    fn in_parent(&self, _cx: &Context, child: Pid) -> Result<(), StepError> {
        self.write_maps(child)
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        self.take_root()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use nix::sched::{CloneFlags, unshare};
    use nix::unistd::{ForkResult, fork, getgid, getuid, pipe};

    use super::*;
    use crate::idmap::{IdRange, Kind};

    /// As root (else says it skips): a forked child makes a user namespace
    /// and waits; `userns` writes its maps from here, the child takes them on
    /// as [`UserNamespace::in_child`] does and reports what it then sees.
    fn seen_after(userns: &UserNamespace) -> Option<Result<String, StepError>> {
        if !nix::unistd::geteuid().is_root() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "needs root, and CI=true");
            let _ = writeln!(std::io::stderr(), "SKIPPED userns::tests: needs root");
            return None;
        }
        let (ready_r, ready_w) = pipe().unwrap();
        let (go_r, go_w) = pipe().unwrap();
        let (report_r, report_w) = pipe().unwrap();
        // SAFETY: the child only reads, writes and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                drop((ready_r, go_w, report_r));
                let report = catch_unwind(AssertUnwindSafe(|| {
                    unshare(CloneFlags::CLONE_NEWUSER).unwrap();
                    File::from(ready_w).write_all(b"r").unwrap();
                    File::from(go_r).read_exact(&mut [0]).unwrap();
                    userns.take_root().unwrap();
                    let read = |f| std::fs::read_to_string(f).unwrap();
                    format!(
                        "{} {}|{}|{}|{}",
                        getuid(),
                        getgid(),
                        read("/proc/self/uid_map").split_whitespace().collect::<Vec<_>>().join(" "),
                        read("/proc/self/gid_map").split_whitespace().collect::<Vec<_>>().join(" "),
                        read("/proc/self/setgroups").trim()
                    )
                }))
                .unwrap_or_else(|_| "the child panicked".into());
                let _ = File::from(report_w).write_all(report.as_bytes());
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                drop((ready_w, go_r, report_w));
                File::from(ready_r).read_exact(&mut [0]).unwrap();
                let written = userns.write_maps(child);
                File::from(go_w).write_all(b"g").unwrap();
                let mut report = String::new();
                File::from(report_r).read_to_string(&mut report).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                Some(written.map(|()| report))
            }
        }
    }

    fn maps(uids: &str, gids: &str, writer: Writer) -> UserNamespace {
        let map = |kind, text: &str| {
            IdMap::new(kind, text.split(',').map(|r| IdRange::parse(r).unwrap()).collect()).unwrap()
        };
        UserNamespace { uids: map(Kind::User, uids), gids: map(Kind::Group, gids), writer }
    }

    #[test]
    fn root_writes_any_map_and_the_child_becomes_its_root() {
        let userns = maps("0:100000:65536", "0:200000:10,10:300000:5", Writer::Direct);
        let Some(seen) = seen_after(&userns) else { return };
        assert_eq!(seen.unwrap(), "0 0|0 100000 65536|0 200000 10 10 300000 5|allow");
    }

    #[test]
    fn one_id_is_mapped_with_setgroups_denied_first() {
        // Root's own IDs, which anyone may map for itself.
        let userns = maps("0:0:1", "0:0:1", Writer::SingleId);
        let Some(seen) = seen_after(&userns) else { return };
        assert_eq!(seen.unwrap(), "0 0|0 0 1|0 0 1|deny");
    }

    #[test]
    fn the_helpers_write_what_etc_subuid_allows_and_say_why_not() {
        if !["newuidmap", "newgidmap"].iter().all(|p| crate::run::on_path(p)) {
            let _ = writeln!(std::io::stderr(), "SKIPPED userns::tests: needs newuidmap (uidmap)");
            return;
        }
        // A process may map its own ID without a range in /etc/subuid; for
        // its own group alone, newgidmap denies setgroups first, as the
        // kernel asks of an unprivileged writer (shadow's CVE-2018-7169 fix).
        let Some(seen) = seen_after(&maps("0:0:1", "0:0:1", Writer::Helpers)) else { return };
        assert_eq!(seen.unwrap(), "0 0|0 0 1|0 0 1|deny");
        // Not more: the helper's own words reach the user.
        let Some(seen) = seen_after(&maps("0:123456:10", "0:0:1", Writer::Helpers)) else {
            return;
        };
        let error = seen.unwrap_err().to_string();
        assert!(error.starts_with("newuidmap "), "{error}");
        assert!(error.contains("newuidmap exit status: 1, saying \"newuidmap: "), "{error}");
    }

    #[test]
    fn a_helper_s_error_is_the_one_it_names() {
        assert_eq!(
            said_errno("newuidmap: write to uid_map failed: Invalid argument"),
            Errno::EINVAL
        );
        assert_eq!(
            said_errno(
                "newuidmap: Could not open proc directory for target 1: No such file or directory"
            ),
            Errno::ENOENT
        );
        assert_eq!(
            said_errno("newuidmap: uid range [0-10) -> [123456-123466) not allowed"),
            Errno::EPERM
        );
    }
}
