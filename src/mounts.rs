//! The mounts of a config besides the ones the chapters make: a `tmpfs`
//! anywhere (containerd's `/run`), and bind mounts of host files and
//! directories (an engine's `/etc/hosts`, a volume).
//!
//! A bind mount's source is a path of the host, out of reach once the
//! container has its own root; its place is inside the container, whose
//! `/dev`, `/proc` and `/sys` exist only after `pivot_root`. So, as chapter
//! 9 does with the host's devices, each source is cloned as a *detached*
//! mount before `pivot_root` ([`CloneSources`]), given its flags while
//! detached, and attached in its place once everything else is mounted
//! ([`ConfigMounts`]). Places are resolved inside the container's root, and
//! made if missing: a directory, or an empty file for a file's bind mount.
//! (`man 2 open_tree`, `man 2 mount_setattr`, `man 2 move_mount`.)

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ch00_process::{Context, Doing, Step, StepError};
use ch01_chroot::{RootDir, fd_path};
use ch03_mount::detached;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

/// One mount of the config, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraMount {
    /// Inside the container, without the leading `/`.
    destination: String,
    kind: Kind,
    /// `ro`, `nosuid`, `nodev`, `noexec`, and the access-time ones.
    flags: MsFlags,
    /// Flags for the mounts below it too (`rro`, `rnosuid`...): an `rbind`
    /// of `/srv` with `ro` leaves `/srv/data`, a mount of its own, writable.
    below: MsFlags,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A fresh tmpfs, with its options (`mode=755,size=65536k`).
    Tmpfs { data: String },
    /// A bind mount of the host's `source`, with the mounts below it or not.
    Bind { source: PathBuf, recursive: bool },
}

/// Why a mount of the config cannot be made as asked.
pub fn read(mount: &Mount) -> Result<ExtraMount, String> {
    let to = mount.destination().to_string_lossy().into_owned();
    if !to.starts_with('/') {
        return Err(format!("its destination {to:?} is not absolute"));
    }
    let options = mount.options().clone().unwrap_or_default();
    let bind = options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = mount.typ().as_deref().unwrap_or(if bind { "bind" } else { "" });
    let mut flags = MsFlags::empty();
    let mut below = MsFlags::empty();
    let mut data = Vec::new();
    for option in &options {
        match (flag(option), recursive_flag(option)) {
            (Some(flag), _) => flags |= flag,
            (None, Some(flag)) => below |= flag,
            (None, None) if kind == "tmpfs" && tmpfs_data(option) => data.push(option.clone()),
            (None, None) => return Err(format!("the option {option:?}")),
        }
    }
    let kind = match kind {
        // A new tmpfs has no mounts below it: all through is itself.
        "tmpfs" => {
            flags |= std::mem::replace(&mut below, MsFlags::empty());
            Kind::Tmpfs { data: data.join(",") }
        }
        // Only with the option, as runc has it (without, it asks the kernel
        // for a file system named "bind", which there is none of).
        "bind" | "none" if bind => {
            let source = mount.source().clone().ok_or("no source")?;
            if !source.is_absolute() {
                return Err(format!("its source {} is not absolute", source.display()));
            }
            Kind::Bind { source, recursive: options.iter().any(|o| o == "rbind") }
        }
        other => return Err(format!("the type {other:?}")),
    };
    Ok(ExtraMount { destination: to.trim_start_matches('/').to_owned(), kind, flags, below })
}

/// The flag a recursive option (runc's, from Linux 5.12's `AT_RECURSIVE`)
/// sets on a mount and every mount below it.
fn recursive_flag(option: &str) -> Option<MsFlags> {
    Some(match option {
        "rro" => MsFlags::MS_RDONLY,
        "rnosuid" => MsFlags::MS_NOSUID,
        "rnodev" => MsFlags::MS_NODEV,
        "rnoexec" => MsFlags::MS_NOEXEC,
        _ => return None,
    })
}

/// The recursive options a config's mount may have (for `features`).
pub const RECURSIVE_OPTIONS: [&str; 4] = ["rro", "rnosuid", "rnodev", "rnoexec"];

/// The flag an option stands for (`MsFlags::empty()` for one that asks for
/// what is so anyway), or `None` for another kind of option.
pub fn flag(option: &str) -> Option<MsFlags> {
    Some(match option {
        "ro" => MsFlags::MS_RDONLY,
        "nosuid" => MsFlags::MS_NOSUID,
        "nodev" => MsFlags::MS_NODEV,
        "noexec" => MsFlags::MS_NOEXEC,
        "noatime" => MsFlags::MS_NOATIME,
        "nodiratime" => MsFlags::MS_NODIRATIME,
        "relatime" => MsFlags::MS_RELATIME,
        "strictatime" => MsFlags::MS_STRICTATIME,
        // What is so anyway: a container's mounts are private to it.
        "rw" | "suid" | "dev" | "exec" | "bind" | "rbind" | "private" | "rprivate" => {
            MsFlags::empty()
        }
        _ => return None,
    })
}

/// The options a config's own mount may have, besides tmpfs's (for
/// `features`).
pub const OPTIONS: [&str; 16] = [
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "noatime",
    "nodiratime",
    "relatime",
    "strictatime",
    "bind",
    "rbind",
    "private",
    "rprivate",
];

/// tmpfs's own options (`man 5 tmpfs`), as prefixes.
pub const TMPFS_OPTIONS: [&str; 6] = ["mode=", "size=", "nr_blocks=", "nr_inodes=", "uid=", "gid="];

fn tmpfs_data(option: &str) -> bool {
    TMPFS_OPTIONS.iter().any(|p| option.starts_with(p))
}
/// The detached copies of the bind mounts' sources, in the order of the
/// mounts (`None` for a tmpfs), from [`CloneSources`] to [`ConfigMounts`].
type Sources = Rc<RefCell<Vec<Option<OwnedFd>>>>;

/// The two steps: one before `pivot_root`, one once the chapters' mounts are
/// made.
pub fn steps(mounts: Vec<ExtraMount>) -> (CloneSources, ConfigMounts) {
    let sources = Sources::default();
    (
        CloneSources { mounts: mounts.clone(), sources: sources.clone() },
        ConfigMounts { mounts, sources },
    )
}

/// Before `pivot_root`, while the host's paths are in reach: a detached copy
/// of each bind mount's source, its flags set.
pub struct CloneSources {
    mounts: Vec<ExtraMount>,
    sources: Sources,
}

impl Step for CloneSources {
    fn name(&self) -> &'static str {
        "clone bind sources"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let mut sources = self.sources.borrow_mut();
        for mount in &self.mounts {
            let Kind::Bind { source, recursive } = &mount.kind else {
                sources.push(None);
                continue;
            };
            let shown = || format!("clone the host's {}", source.display());
            let copy = if *recursive {
                detached::clone_tree(source)
            } else {
                detached::clone_mount(source)
            };
            let copy = copy.doing(shown)?;
            let (attr_set, attr_clr) = attributes(mount.flags);
            let attr = libc::mount_attr { attr_set, attr_clr, propagation: 0, userns_fd: 0 };
            detached::set_attributes(&copy, &attr)
                .doing(|| format!("set the flags of the bind mount of {}", source.display()))?;
            if !mount.below.is_empty() {
                let (attr_set, _) = attributes(mount.below);
                let attr = libc::mount_attr { attr_set, attr_clr: 0, propagation: 0, userns_fd: 0 };
                detached::set_attributes_recursively(&copy, &attr)
                    .doing(|| format!("set the flags of the mounts below {}", source.display()))?;
            }
            sources.push(Some(copy));
        }
        Ok(())
    }
}

/// `MS_*` flags as `MOUNT_ATTR_*` attributes: (to set, to clear). The
/// access-time ones are one setting, not flags: to set one, the kernel wants
/// the whole setting cleared first (`MOUNT_ATTR__ATIME`).
fn attributes(flags: MsFlags) -> (u64, u64) {
    let pairs = [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ];
    let set: u64 = pairs.iter().filter(|(ms, _)| flags.contains(*ms)).map(|(_, attr)| *attr).sum();
    let atime = [
        (MsFlags::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (MsFlags::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
        (MsFlags::MS_RELATIME, libc::MOUNT_ATTR_RELATIME),
    ];
    match atime.iter().find(|(ms, _)| flags.contains(*ms)) {
        Some((_, attr)) => (set | attr, libc::MOUNT_ATTR__ATIME),
        None => (set, 0),
    }
}

/// In the container, after the chapters' mounts: each mount of the config,
/// in its order, at its place.
pub struct ConfigMounts {
    mounts: Vec<ExtraMount>,
    sources: Sources,
}

impl Step for ConfigMounts {
    fn name(&self) -> &'static str {
        "config mounts"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // Taken: the descriptors close once attached.
        let sources = std::mem::take(&mut *self.sources.borrow_mut());
        let root = RootDir::open(Path::new("/"))?;
        for (mount, source) in self.mounts.iter().zip(sources) {
            let to = &mount.destination;
            match (&mount.kind, source) {
                (Kind::Tmpfs { data }, _) => {
                    let place = root.dir(to)?;
                    let data = Some(data.as_str()).filter(|d| !d.is_empty());
                    nix::mount::mount(
                        Some("tmpfs"),
                        &fd_path(&place),
                        Some("tmpfs"),
                        mount.flags,
                        data,
                    )
                    .doing(|| format!("mount a tmpfs on /{to}"))?;
                }
                (Kind::Bind { source, .. }, Some(copy)) => {
                    // Its place is what its source is: a directory, or a file
                    // (asked of the copy: the source is out of reach now).
                    let is_dir = nix::sys::stat::fstat(&copy)
                        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
                    let place = if is_dir {
                        root.dir(to)?
                    } else {
                        // A file's directories are made on the way, as runc does.
                        if let Some((parent, _)) = to.rsplit_once('/') {
                            root.dir(parent)?;
                        }
                        root.file(to)?
                    };
                    detached::attach_on(&copy, place.as_fd())
                        .doing(|| format!("bind {} on /{to}", source.display()))?;
                }
                (Kind::Bind { source, .. }, None) => {
                    let error = StepError::new(
                        format!("bind {}", source.display()),
                        nix::errno::Errno::ENOENT,
                    );
                    return Err(error.hint("its source was not cloned before pivot_root"));
                }
            }
        }
        Ok(())
    }
}

/// Flags a config asks for on a mount the chapters make, beyond the ones
/// they give it: podman's `noexec` on `/dev`. Added to the mount in its
/// place (`mount_setattr(2)`), once the chapters have made it; only these
/// four, which make a mount stricter and never looser.
pub struct MoreFlags(pub Vec<(String, MsFlags)>);

/// The flags [`MoreFlags`] may add.
pub const STRICTER: MsFlags =
    MsFlags::MS_RDONLY.union(MsFlags::MS_NOSUID).union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC);

impl Step for MoreFlags {
    fn name(&self) -> &'static str {
        "more mount flags"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let root = RootDir::open(Path::new("/"))?;
        for (to, flags) in &self.0 {
            let (attr_set, _) = attributes(*flags & STRICTER);
            let attr = libc::mount_attr { attr_set, attr_clr: 0, propagation: 0, userns_fd: 0 };
            let place = root.dir(to.trim_start_matches('/'))?;
            detached::set_attributes(&place, &attr)
                .doing(|| format!("add {flags:?} to the mount on {to}"))?;
        }
        Ok(())
    }
}

/// runc's `gid=5` on `/dev/pts`: new terminals in the group `tty`. Chapter 3
/// mounts devpts without it (in chapter 9's user namespace there may be no
/// group 5); a remount gives it.
pub struct DevptsGroup(pub u32);

impl Step for DevptsGroup {
    fn name(&self) -> &'static str {
        "devpts group"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        let data = format!("gid={},mode=620,ptmxmode=0666", self.0);
        nix::mount::mount(Some("devpts"), "/dev/pts", Some("devpts"), flags, Some(data.as_str()))
            .doing(|| format!("remount /dev/pts with gid={}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_tmpfs_keeps_its_flags_and_its_options() {
        let m = read(&mount(
            r#"{"destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}"#,
        ))
        .unwrap();
        assert_eq!(m.destination, "run");
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.kind, Kind::Tmpfs { data: "mode=755,size=65536k".into() });
    }

    #[test]
    fn a_bind_mount_needs_an_absolute_source_and_known_options() {
        let m = read(&mount(
            r#"{"destination": "/etc/hosts", "type": "bind", "source": "/tmp/hosts",
            "options": ["rbind", "ro", "nosuid"]}"#,
        ))
        .unwrap();
        assert_eq!(m.kind, Kind::Bind { source: "/tmp/hosts".into(), recursive: true });
        assert_eq!(m.flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        let relative = read(&mount(
            r#"{"destination": "/x", "type": "bind", "source": "x", "options": ["bind"]}"#,
        ));
        assert!(relative.unwrap_err().contains("not absolute"));
        let shared = read(&mount(
            r#"{"destination": "/x", "type": "bind", "source": "/x", "options": ["rshared"]}"#,
        ));
        assert_eq!(shared.unwrap_err(), "the option \"rshared\"");
        let nfs = read(&mount(r#"{"destination": "/x", "type": "nfs", "source": "h:/x"}"#));
        assert_eq!(nfs.unwrap_err(), "the type \"nfs\"");
    }

    #[test]
    fn a_recursive_option_is_for_the_mounts_below_and_a_tmpfs_has_none() {
        let m = read(&mount(
            r#"{"destination": "/srv", "type": "bind", "source": "/srv",
            "options": ["rbind", "ro", "rro", "rnosuid"]}"#,
        ))
        .unwrap();
        assert_eq!(
            (m.flags, m.below),
            (MsFlags::MS_RDONLY, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID)
        );
        let m = read(&mount(
            r#"{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["rro"]}"#,
        ))
        .unwrap();
        assert_eq!((m.flags, m.below), (MsFlags::MS_RDONLY, MsFlags::empty()));
    }
}
