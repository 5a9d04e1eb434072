//! Capabilities: root's power, cut into pieces, and most pieces taken away.
//!
//! Since Linux 2.2 "root" is not one privilege but about forty **capabilities**
//! (`man 7 capabilities`): `CAP_CHOWN` lets a process give files away,
//! `CAP_NET_ADMIN` reconfigure the network, `CAP_SYS_ADMIN` mount file systems,
//! `CAP_SYS_MODULE` load kernel modules, and so on. The kernel checks the one a
//! system call needs, never "is this uid 0?". A container's root so far held all
//! of them: namespaces made most of them act on the container's own copies, but
//! not all (`CAP_SYS_MODULE` loads a module into the one kernel there is;
//! `CAP_SYS_ADMIN` alone is half of every container escape ever published).
//!
//! Each thread has five sets, shown in `/proc/self/status`:
//!
//! - **bounding** (`CapBnd`): the most the thread and its descendants can ever
//!   get, even by running a set-user-ID-root or file-capability program. Dropped
//!   with `prctl(PR_CAPBSET_DROP)`, never raised again.
//! - **permitted** (`CapPrm`): what the thread may make effective.
//! - **effective** (`CapEff`): what the kernel checks now.
//! - **inheritable** (`CapInh`) and **ambient** (`CapAmb`): what survives an
//!   `execve(2)` of an ordinary program. Docker leaves both empty (an inheritable
//!   set was CVE-2022-24769's way to give a program more than intended).
//!
//! Docker keeps 14 capabilities (moby's `oci/caps/defaults.go`), enough for
//! what images do at start-up (chown files, bind port 80, switch to a service
//! user, ping). tincan keeps 13 ([`DEFAULT`]): Docker's but `CAP_NET_RAW`, as
//! Podman does (containers-common's `default_capabilities`, which also leaves
//! out `CAP_MKNOD` and `CAP_AUDIT_WRITE`). `CAP_NET_RAW` opens raw and packet
//! sockets (`AF_PACKET`): with one, a container writes whole Ethernet frames
//! onto the bridge, with any source — an ARP reply saying "I am 172.17.0.1"
//! makes the other containers send it what they meant for the gateway (ARP
//! spoofing), and it can claim any neighbour's address the same way. What
//! images needed it for is `ping`, which a ping socket does without it
//! (`ping_group.rs`). `--cap-add NET_RAW` gives it back, and
//! `--cap-add`/`--cap-drop` change the list in general. The
//! list becomes the bounding, permitted and effective sets, for root and for
//! any other user alike (moby's `WithCapabilities`, through containerd's
//! `oci.WithCapabilities`). For a user other than root, `execve(2)` of an
//! ordinary program then empties the permitted and effective sets itself —
//! only a program with file capabilities (`setcap cap_net_bind_service+ep`)
//! gets those of its own that the bounding set allows, even under
//! `no_new_privs`, which lets a program keep no more than it had: so what it
//! had must be the list (moby stopped emptying them for users in 2023, commit
//! 3aef732e "Do not drop effective&permitted set", for exactly this).
//!
//! **Order.** Dropping from the bounding set needs `CAP_SETPCAP`, so it happens
//! while the child is still the runtime's root ([`BoundingSet`], just before
//! chapter 8's user switch). `setuid(2)` to a non-root uid clears the permitted
//! and effective sets — unless `PR_SET_KEEPCAPS` says keep the permitted one —
//! so the bounding step sets that flag, and [`SetCapabilities`], right after the
//! switch, clears it and sets the three other sets with `capset(2)` (then the
//! ambient one). This is the order of runc's `finalizeNamespace`.

use caps::{CapSet, Capability, CapsHashSet};
use ch00_process::{Context, Doing, Step, StepError};
use nix::errno::Errno;

// ANCHOR: default
/// Docker's default capabilities, in moby's order, but `CAP_NET_RAW` (after
/// `CAP_MKNOD` in Docker's list): no forged frames on the bridge.
pub const DEFAULT: [Capability; 13] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];
// ANCHOR_END: default

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error(
        "unknown capability {0:?}: give a name from `man 7 capabilities`, such as NET_ADMIN or CAP_NET_ADMIN, or ALL"
    )]
    Unknown(String),
}

/// One `--cap-add`/`--cap-drop` value: a capability, or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapName {
    All,
    One(Capability),
}

/// Parse a capability as Docker takes it: any case, with or without `CAP_`;
/// `ALL` only as itself (moby's `NormalizeLegacyCapabilities` refuses `CAP_ALL`).
pub fn parse_cap(text: &str) -> Result<CapName, CapabilityError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("ALL") {
        return Ok(CapName::All);
    }
    let canonical = caps::to_canonical(text);
    canonical.parse().map(CapName::One).map_err(|_| CapabilityError::Unknown(text.to_owned()))
}

// ANCHOR: tweak
/// Docker's default list changed by `--cap-add` and `--cap-drop` (moby's
/// `TweakCapabilities`): `--cap-add ALL` keeps everything but the drops;
/// `--cap-drop ALL` keeps only the adds; otherwise drop, then add.
pub fn tweak(add: &[CapName], drop: &[CapName]) -> CapsHashSet {
    let named = |list: &[CapName]| -> CapsHashSet {
        list.iter().filter_map(|c| if let CapName::One(c) = c { Some(*c) } else { None }).collect()
    };
    let (adds, drops) = (named(add), named(drop));
    if add.contains(&CapName::All) {
        caps::all().difference(&drops).copied().collect()
    } else if drop.contains(&CapName::All) {
        adds
    } else {
        let kept: CapsHashSet = DEFAULT.into_iter().filter(|c| !drops.contains(c)).collect();
        kept.union(&adds).copied().collect()
    }
}
// ANCHOR_END: tweak

/// The five sets the container's process gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl Capabilities {
    /// What Docker gives from the list `kept`, whoever the user: bounding,
    /// permitted and effective. (A user other than root keeps none of it past
    /// `execve(2)` of a program without file capabilities: the kernel's rule.)
    pub fn from_list(kept: CapsHashSet) -> Capabilities {
        Capabilities {
            effective: kept.clone(),
            permitted: kept.clone(),
            bounding: kept,
            ..Capabilities::default()
        }
    }
}

/// Before the user switch: shrink the bounding set (this needs `CAP_SETPCAP`,
/// which the switch may take away) and keep the permitted set across it.
pub struct BoundingSet {
    bounding: CapsHashSet,
    /// The highest capability number this kernel has.
    last: u8,
}

impl BoundingSet {
    /// Reads `/proc/sys/kernel/cap_last_cap` here, in the runtime: the kernel
    /// may know capabilities newer than the `caps` crate, and the child drops
    /// every one of them by number (as runc does), not only those it can name.
    pub fn new(caps: &Capabilities) -> Result<Self, String> {
        let file = "/proc/sys/kernel/cap_last_cap";
        let text = std::fs::read_to_string(file).map_err(|e| format!("read {file}: {e}"))?;
        let last =
            text.trim().parse().map_err(|_| format!("{file} holds {text:?}, not a number"))?;
        Ok(BoundingSet { bounding: caps.bounding.clone(), last })
    }
}

// ANCHOR: bounding
impl Step for BoundingSet {
    fn name(&self) -> &'static str {
        "capability bounding set"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        self.drop_the_rest()?;
        // setuid(2) to a non-root uid empties the permitted set unless the
        // thread asked to keep it (`man 2 PR_SET_KEEPCAPS`).
        nix::sys::prctl::set_keepcaps(true).doing(|| "keep capabilities across setuid".into())
    }
}

impl BoundingSet {
    /// Drop every capability the container does not keep from the bounding
    /// set: from then on, nothing this process or its children execute can
    /// ever hold one of them again.
    fn drop_the_rest(&self) -> Result<(), StepError> {
        // EXERCISE(ch10-caps): drop from the bounding set every capability not kept.
        // hint: every number from 0 to self.last (this kernel's, newer than
        // the caps crate may be), unless self.bounding has a capability
        // whose cap.index() it is; prctl(PR_CAPBSET_DROP, n, 0, 0, 0) drops
        // one (nix::errno::Errno::result turns its -1 into the errno).
        for n in 0..=self.last {
            if self.bounding.iter().any(|cap| cap.index() == n) {
                continue;
            }
            // SAFETY: PR_CAPBSET_DROP takes a number and changes only this thread.
            let dropped =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0, 0, 0) };
            Errno::result(dropped)
                .doing(|| format!("drop capability {n} from the bounding set"))?;
        }
        Ok(())
        // END EXERCISE
    }
}
// ANCHOR_END: bounding

/// After the user switch: the effective, permitted, inheritable and ambient sets.
pub struct SetCapabilities {
    caps: Capabilities,
}

impl SetCapabilities {
    pub fn new(caps: Capabilities) -> Self {
        SetCapabilities { caps }
    }
}

// ANCHOR: capset
impl Step for SetCapabilities {
    fn name(&self) -> &'static str {
        "capabilities"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        nix::sys::prctl::set_keepcaps(false).doing(|| "stop keeping capabilities".into())?;
        // capset(2) wants effective ⊆ permitted at every call: lower the
        // effective set first, then the permitted set under it.
        let Capabilities { effective, permitted, inheritable, ambient, .. } = &self.caps;
        for (set, caps, name) in [
            (CapSet::Effective, effective, "effective"),
            (CapSet::Permitted, permitted, "permitted"),
            (CapSet::Inheritable, inheritable, "inheritable"),
        ] {
            caps::set(None, set, caps)
                .map_err(|e| caps_error(&e, || format!("set the {name} capabilities")))?;
        }
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| caps_error(&e, || "clear the ambient capabilities".into()))?;
        for cap in ambient {
            caps::raise(None, CapSet::Ambient, *cap)
                .map_err(|e| caps_error(&e, || format!("raise {cap} in the ambient set")))?;
        }
        Ok(())
    }
}
// ANCHOR_END: capset

/// The caps crate's errors carry only a message; the errno is the last OS error.
fn caps_error(error: &caps::errors::CapsError, doing: impl FnOnce() -> String) -> StepError {
    let errno = Errno::last();
    let errno = if errno == Errno::UnknownErrno { Errno::EPERM } else { errno };
    StepError::new(doing(), errno).hint(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &CapsHashSet) -> Vec<String> {
        let mut names: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn names_are_read_as_docker_reads_them() {
        assert_eq!(parse_cap("net_admin"), Ok(CapName::One(Capability::CAP_NET_ADMIN)));
        assert_eq!(parse_cap("CAP_SYS_ADMIN"), Ok(CapName::One(Capability::CAP_SYS_ADMIN)));
        assert_eq!(parse_cap("all"), Ok(CapName::All));
        assert_eq!(parse_cap("CAP_ALL"), Err(CapabilityError::Unknown("CAP_ALL".into())));
        let error = parse_cap("CAP_FLY").unwrap_err();
        assert_eq!(error, CapabilityError::Unknown("CAP_FLY".into()));
        assert!(error.to_string().contains("man 7 capabilities"), "{error}");
    }

    #[test]
    fn drop_then_add_and_all_either_way() {
        let one = |c| CapName::One(c);
        assert_eq!(tweak(&[], &[]).len(), 13);
        assert!(!tweak(&[], &[]).contains(&Capability::CAP_NET_RAW));
        let set = tweak(&[one(Capability::CAP_NET_ADMIN)], &[one(Capability::CAP_CHOWN)]);
        assert!(set.contains(&Capability::CAP_NET_ADMIN) && !set.contains(&Capability::CAP_CHOWN));
        assert_eq!(set.len(), 13);
        let only = tweak(&[one(Capability::CAP_KILL)], &[CapName::All]);
        assert_eq!(names(&only), ["CAP_KILL"]);
        let all = tweak(&[CapName::All], &[one(Capability::CAP_SYS_ADMIN)]);
        assert_eq!(all.len(), caps::all().len() - 1);
        assert!(!all.contains(&Capability::CAP_SYS_ADMIN));
    }

    #[test]
    fn the_list_is_bounding_permitted_and_effective_never_inheritable() {
        let caps = Capabilities::from_list(tweak(&[], &[]));
        assert_eq!((caps.effective.len(), caps.permitted.len(), caps.bounding.len()), (13, 13, 13));
        assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
    }

    /// The capability lines of `/proc/self/status` in a forked child of root
    /// that ran the bounding step, chapter 8's switch to uid 1000 and the
    /// capability step for `caps`; or the error of a step.
    fn after_switch_to_1000(caps: &Capabilities) -> String {
        let states = tempfile::tempdir().unwrap();
        let container = ch00_process::Container::new("/", vec![]);
        let state = ch00_process::State::create(states.path(), &container).unwrap();
        let cx = Context {
            container: &container,
            namespaces: nix::sched::CloneFlags::empty(),
            state: &state,
            console: None,
        };
        let ids = ch08_images::user::Ids { uid: 1000, gid: 1000, groups: vec![1000], home: None };
        let (read, write) = nix::unistd::pipe().unwrap();
        // SAFETY: the child runs the steps and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let steps: [&dyn Step; 3] = [
                    &BoundingSet::new(caps).unwrap(),
                    &ch08_images::user::SwitchUser::new(ids),
                    &SetCapabilities::new(caps.clone()),
                ];
                let report = match steps.iter().try_for_each(|s| s.in_child(&cx)) {
                    Ok(()) => std::fs::read_to_string("/proc/self/status").unwrap(),
                    Err(e) => format!("{e}"),
                };
                let _ = nix::unistd::write(&write, report.as_bytes());
                // SAFETY: ends the child at once, running none of the test's destructors.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(write);
                let mut report = String::new();
                std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut report).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                let sets: Vec<&str> = report.lines().filter(|l| l.starts_with("Cap")).collect();
                if sets.is_empty() { report } else { sets.join(" ").replace('\t', "") }
            }
        }
    }

    fn root_or_skip() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        // The convention of tests/it/support/skip.rs: under CI, fail.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "needs root, and CI=true");
        eprintln!("SKIPPED: needs root");
        false
    }

    /// Docker's way for a user, until its `execve(2)`: the list (here
    /// tincan's 13 but CAP_CHOWN, a80405fb - 1) in three sets, nothing else.
    /// What the exec leaves is checked by `tests/it/ch10.rs`.
    #[test]
    fn a_user_holds_the_list_until_it_runs_a_program() {
        if !root_or_skip() {
            return;
        }
        let caps = Capabilities::from_list(tweak(&[], &[CapName::One(Capability::CAP_CHOWN)]));
        assert_eq!(
            after_switch_to_1000(&caps),
            "CapInh:0000000000000000 CapPrm:00000000a80405fa CapEff:00000000a80405fa CapBnd:00000000a80405fa CapAmb:0000000000000000"
        );
    }

    /// A user that is given capabilities (an OCI spec may) keeps them through
    /// setuid(2) only thanks to PR_SET_KEEPCAPS.
    #[test]
    fn a_user_keeps_the_capabilities_it_is_given() {
        if !root_or_skip() {
            return;
        }
        let bind: CapsHashSet = [Capability::CAP_NET_BIND_SERVICE].into();
        let caps = Capabilities {
            bounding: bind.clone(),
            effective: bind.clone(),
            permitted: bind.clone(),
            ..Capabilities::default()
        };
        assert_eq!(
            after_switch_to_1000(&caps),
            "CapInh:0000000000000000 CapPrm:0000000000000400 CapEff:0000000000000400 CapBnd:0000000000000400 CapAmb:0000000000000000"
        );
    }
}
