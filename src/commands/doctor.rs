//! `tincan doctor`: what this host has of what containers need, and what to
//! do where something is missing. It only reads: the kernel's version and
//! namespaces, the cgroup layout, overlayfs, nftables, the subordinate IDs,
//! IP forwarding, and the other firewalls that could drop a bridge's
//! traffic. What it finds is gathered first ([`Facts`]), then judged
//! ([`findings`]): the judging is tested without the host.

use std::path::Path;
use std::process::Command;

use ch07_cgroups::{Controller, Layout, Mode, Version};

use ch09_user::subid::REMAP_USER;

use crate::Failure;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Containers run, but something they may ask for will not work.
    Warn,
    /// Containers cannot run, or not as the book shows.
    Fail,
}

/// One check: what was found, and what to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
    pub found: String,
    pub fix: Option<String>,
}

/// What the host has, as read.
#[derive(Debug)]
pub struct Facts {
    pub root: bool,
    /// `uname -r`.
    pub kernel: String,
    /// The namespaces `/proc/self/ns` offers.
    pub namespaces: Vec<String>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    pub cgroups: Layout,
    /// Not root: has root delegated tincan's cgroups to this user (`ch09
    /// delegate USER`), in every hierarchy they use?
    pub delegated: Option<bool>,
    /// `overlay` in `/proc/filesystems`, or its module on disk.
    pub overlay: bool,
    /// `nft list tables` worked (or why not).
    pub nft: Result<(), String>,
    /// The subordinate IDs of the user who runs tincan (for root, those of
    /// `tincan`, the user `--userns` maps containers into).
    pub subuids: Vec<(u32, u32)>,
    pub newuidmap: bool,
    pub ip_forward: Option<bool>,
    /// Other tables' chains on the forward hook whose policy is drop.
    pub dropping_chains: Vec<String>,
    /// Legacy iptables (which nftables cannot see into) drops forwarded packets.
    pub legacy_forward_drop: bool,
}

/// The kernel the runtime needs: `mount_setattr(2)` and idmapped mounts.
const KERNEL: (u32, u32) = (5, 12);
const NAMESPACES: [&str; 7] = ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup"];

impl Facts {
    /// Read this host.
    pub fn of_this_host() -> Facts {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let root = nix::unistd::geteuid().is_root();
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let namespaces = NAMESPACES
            .iter()
            .filter(|ns| Path::new("/proc/self/ns").join(ns).exists())
            .map(|ns| ns.to_string())
            .collect();
        let module = format!("/lib/modules/{kernel}/kernel/fs/overlayfs");
        let overlay = read("/proc/filesystems").lines().any(|l| l.ends_with("\toverlay"))
            || Path::new(&module).exists();
        let user = if root { REMAP_USER.to_owned() } else { whoami() };
        let uid = (!root).then(|| nix::unistd::getuid().as_raw());
        let cgroups = Layout::detected().unwrap_or_default();
        let parent = Path::new(ch07_cgroups::DEFAULT_PARENT);
        let me = nix::unistd::getuid();
        let delegated = (!root).then(|| {
            let given = ch09_user::delegate::delegated(&cgroups, parent, me).len();
            given > 0 && given == cgroups.used().len()
        });
        Facts {
            root,
            namespaces,
            max_user_namespaces: read("/proc/sys/user/max_user_namespaces").trim().parse().ok(),
            cgroups,
            delegated,
            overlay,
            nft: nft(),
            subuids: ch09_user::subid::ranges(Path::new("/etc/subuid"), &user, uid)
                .unwrap_or_default(),
            newuidmap: on_path("newuidmap"),
            ip_forward: match read("/proc/sys/net/ipv4/ip_forward").trim() {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            },
            dropping_chains: ch06_net::forward_droppers().unwrap_or_default(),
            legacy_forward_drop: legacy_forward_drop(),
            kernel,
        }
    }
}

fn whoami() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid).ok().flatten().map_or(uid.to_string(), |u| u.name)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn nft() -> Result<(), String> {
    match Command::new("nft").args(["list", "tables"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(format!("nft: {e}")),
    }
}

/// `iptables-legacy -S FORWARD` says `-P FORWARD DROP`.
fn legacy_forward_drop() -> bool {
    let out = Command::new("iptables-legacy").args(["-S", "FORWARD"]).output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "-P FORWARD DROP"))
}

/// Judge what was found.
pub fn findings(facts: &Facts) -> Vec<Finding> {
    let finding = |check, verdict, found: String, fix: Option<&str>| Finding {
        check,
        verdict,
        found,
        fix: fix.map(str::to_owned),
    };
    let mut all = Vec::new();
    let version = kernel_version(&facts.kernel);
    all.push(match version {
        Some(v) if v >= KERNEL => finding("kernel", Verdict::Ok, facts.kernel.clone(), None),
        _ => finding(
            "kernel",
            Verdict::Fail,
            format!("{} (5.12 or later is needed: mount_setattr, idmapped mounts)", facts.kernel),
            Some("boot a newer kernel (Debian 12's is 6.1)"),
        ),
    });
    let missing: Vec<_> =
        NAMESPACES.iter().filter(|ns| !facts.namespaces.iter().any(|n| n == *ns)).collect();
    all.push(if missing.is_empty() {
        finding("namespaces", Verdict::Ok, NAMESPACES.join(" "), None)
    } else {
        let found = format!(
            "missing: {}",
            missing.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ")
        );
        finding("namespaces", Verdict::Fail, found, Some("a kernel built with them (CONFIG_*_NS)"))
    });
    all.push(match facts.max_user_namespaces {
        Some(0) => finding(
            "user namespaces",
            Verdict::Warn,
            "user.max_user_namespaces is 0: chapter 9, --userns and rootless containers fail"
                .into(),
            Some("sysctl -w user.max_user_namespaces=15000"),
        ),
        Some(n) => finding("user namespaces", Verdict::Ok, format!("up to {n}"), None),
        None => {
            finding("user namespaces", Verdict::Warn, "not offered by this kernel".into(), None)
        }
    });
    all.push(cgroups(&facts.cgroups));
    all.push(match facts.delegated {
        None => finding("cgroup delegation", Verdict::Ok, "root: tincan makes its cgroups under its own parent".into(), None),
        Some(true) => finding("cgroup delegation", Verdict::Ok, "tincan's cgroups are delegated to you".into(), None),
        Some(false) => finding(
            "cgroup delegation",
            Verdict::Warn,
            "no cgroup of tincan's is yours: your containers cannot have limits (--memory, --pids-limit, --cpus)".into(),
            Some("as root, once: ch09 delegate $USER"),
        ),
    });
    all.push(if facts.overlay {
        finding("overlayfs", Verdict::Ok, "available".into(), None)
    } else {
        finding(
            "overlayfs",
            Verdict::Fail,
            "not in /proc/filesystems, no module: images cannot be stacked (chapter 8)".into(),
            Some("modprobe overlay, or a kernel with CONFIG_OVERLAY_FS"),
        )
    });
    all.push(match &facts.nft {
        Ok(()) => finding("nftables", Verdict::Ok, "`nft` works".into(), None),
        Err(why) => finding(
            "nftables",
            Verdict::Warn,
            format!("{why}: bridge networks and published ports fail (chapter 6)"),
            Some("apt install nftables (and run as root)"),
        ),
    });
    let who = if facts.root { "the user tincan (for --userns)" } else { "you" };
    all.push(match (facts.subuids.is_empty(), facts.root || facts.newuidmap) {
        (false, true) => {
            let ranges: Vec<String> =
                facts.subuids.iter().map(|(first, n)| format!("{first}+{n}")).collect();
            finding("subordinate ids", Verdict::Ok, format!("{who}: {}", ranges.join(", ")), None)
        }
        (true, _) => finding(
            "subordinate ids",
            Verdict::Warn,
            format!("none in /etc/subuid for {who}: {}", if facts.root { "--userns has no IDs to map containers into" } else { "a user namespace maps your own ID only" }),
            Some(if facts.root {
                "useradd --system tincan && usermod --add-subuids 1000000-1065535 --add-subgids 1000000-1065535 tincan"
            } else {
                "ask root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER"
            }),
        ),
        (false, false) => finding(
            "subordinate ids",
            Verdict::Warn,
            "ranges in /etc/subuid, but no newuidmap to use them".into(),
            Some("apt install uidmap"),
        ),
    });
    all.push(match facts.ip_forward {
        Some(true) => finding("ip forwarding", Verdict::Ok, "on".into(), None),
        Some(false) => finding(
            "ip forwarding",
            Verdict::Ok,
            "off: tincan turns it on while a bridge exists, and off again after".into(),
            None,
        ),
        None => finding("ip forwarding", Verdict::Warn, "unreadable".into(), None),
    });
    all.push(match (facts.legacy_forward_drop, facts.dropping_chains.is_empty()) {
        (true, _) => finding(
            "forwarding policy",
            Verdict::Fail,
            "legacy iptables drops forwarded packets, where tincan's nftables rules cannot reach: containers on a bridge get no further than the host".into(),
            Some("iptables-legacy -I FORWARD -i tincan0 -j ACCEPT; iptables-legacy -I FORWARD -o tincan0 -j ACCEPT"),
        ),
        (false, true) => finding("forwarding policy", Verdict::Ok, "nothing drops forwarded packets".into(), None),
        (false, false) => finding(
            "forwarding policy",
            Verdict::Ok,
            format!(
                "{} drops forwarded packets: tincan lets its bridge's through there, while it exists",
                facts.dropping_chains.join(", ")
            ),
            None,
        ),
    });
    all
}

fn cgroups(layout: &Layout) -> Finding {
    let mode = match layout.mode() {
        Some(Mode::Unified) => "v2",
        Some(Mode::Legacy) => "v1",
        Some(Mode::Hybrid) => "hybrid (v1 controllers, a v2 tree)",
        None => {
            return Finding {
                check: "cgroups",
                verdict: Verdict::Fail,
                found: "none mounted".into(),
                fix: Some("mount cgroup2 on /sys/fs/cgroup".into()),
            };
        }
    };
    let name = |c: Controller| c.name(Version::V1).to_owned();
    let missing: Vec<String> =
        Controller::ALL.into_iter().filter(|c| layout.find(*c).is_none()).map(name).collect();
    let v1 = |controller: &str| {
        layout
            .hierarchies
            .iter()
            .any(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller))
    };
    let v2 = layout.hierarchies.iter().any(|h| h.version == Version::V2);
    let devices = v1("devices") || v2;
    let freezer = v1("freezer") || v2;
    if missing.is_empty() && devices && freezer {
        return Finding { check: "cgroups", verdict: Verdict::Ok, found: mode.into(), fix: None };
    }
    let mut lacking = missing;
    lacking.extend((!devices).then(|| "devices".to_owned()));
    lacking.extend((!freezer).then(|| "freezer".to_owned()));
    Finding {
        check: "cgroups",
        verdict: Verdict::Warn,
        found: format!("{mode}, without {}: their limits are refused", lacking.join(", ")),
        fix: Some("enable the controllers (on v2: in the parent's cgroup.subtree_control)".into()),
    }
}

/// (major, minor) of a release such as `6.1.0-57-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Print the findings; exit 1 if one failed.
pub fn doctor() -> Result<u8, Failure> {
    let findings = findings(&Facts::of_this_host());
    println!("tincan doctor: what this host has of what containers need\n");
    for f in &findings {
        let verdict = match f.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        println!("  {verdict:<5} {:<18} {}", f.check, f.found);
        if let Some(fix) = &f.fix {
            println!("  {:<5} {:<18} fix: {fix}", "", "");
        }
    }
    let failed = findings.iter().any(|f| f.verdict == Verdict::Fail);
    Ok(u8::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with everything.
    fn good() -> Facts {
        let hierarchy = |version, mount: &str, controllers: &[&str]| ch07_cgroups::Hierarchy {
            version,
            mount: mount.into(),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        };
        Facts {
            root: true,
            kernel: "6.1.0-57-amd64".into(),
            namespaces: NAMESPACES.iter().map(|s| s.to_string()).collect(),
            max_user_namespaces: Some(15000),
            delegated: None,
            cgroups: Layout {
                hierarchies: vec![hierarchy(
                    Version::V2,
                    "/sys/fs/cgroup",
                    &["cpu", "io", "memory", "pids"],
                )],
            },
            overlay: true,
            nft: Ok(()),
            subuids: vec![(100000, 65536)],
            newuidmap: true,
            ip_forward: Some(false),
            dropping_chains: vec![],
            legacy_forward_drop: false,
        }
    }

    fn verdict(facts: &Facts, check: &str) -> (Verdict, String) {
        let all = findings(facts);
        let f = all.into_iter().find(|f| f.check == check).expect("the check");
        (f.verdict, f.found)
    }

    #[test]
    fn a_host_with_everything_is_all_ok() {
        let all = findings(&good());
        assert!(all.iter().all(|f| f.verdict == Verdict::Ok), "{all:#?}");
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn an_old_kernel_or_a_missing_namespace_fails() {
        let old = Facts { kernel: "5.10.0-30-amd64".into(), ..good() };
        assert_eq!(verdict(&old, "kernel").0, Verdict::Fail);
        let no_cgroupns = Facts { namespaces: vec!["mnt".into()], ..good() };
        let (v, found) = verdict(&no_cgroupns, "namespaces");
        assert_eq!((v, found.as_str()), (Verdict::Fail, "missing: uts ipc pid net user cgroup"));
    }

    #[test]
    fn a_v1_host_without_a_freezer_warns_and_names_it() {
        let hierarchy = |controllers: &[&str]| ch07_cgroups::Hierarchy {
            version: Version::V1,
            mount: "/sys/fs/cgroup/x".into(),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        };
        let layout = Layout {
            hierarchies: vec![
                hierarchy(&["memory"]),
                hierarchy(&["cpu", "cpuacct"]),
                hierarchy(&["pids"]),
                hierarchy(&["blkio"]),
                hierarchy(&["devices"]),
            ],
        };
        let (v, found) = verdict(&Facts { cgroups: layout, ..good() }, "cgroups");
        assert_eq!(
            (v, found.as_str()),
            (Verdict::Warn, "v1, without freezer: their limits are refused")
        );
    }

    #[test]
    fn a_firewall_that_drops_forwarded_packets_is_named_and_legacy_iptables_fails() {
        let nft = Facts { dropping_chains: vec!["filter FORWARD".into()], ..good() };
        let (v, found) = verdict(&nft, "forwarding policy");
        assert_eq!(v, Verdict::Ok);
        assert!(
            found.starts_with("filter FORWARD drops forwarded packets: tincan lets"),
            "{found}"
        );
        let legacy = Facts { legacy_forward_drop: true, ..good() };
        assert_eq!(verdict(&legacy, "forwarding policy").0, Verdict::Fail);
    }

    #[test]
    fn no_subordinate_ids_or_no_overlay_or_no_nft_say_what_to_do() {
        let all = findings(&Facts {
            subuids: vec![],
            overlay: false,
            nft: Err("nft: No such file or directory".into()),
            ..good()
        });
        let fix = |check: &str| all.iter().find(|f| f.check == check).and_then(|f| f.fix.clone());
        assert!(fix("subordinate ids").is_some_and(|f| f.starts_with("useradd --system tincan")));
        assert_eq!(
            fix("overlayfs").as_deref(),
            Some("modprobe overlay, or a kernel with CONFIG_OVERLAY_FS")
        );
        assert_eq!(fix("nftables").as_deref(), Some("apt install nftables (and run as root)"));
    }

    #[test]
    fn a_user_without_a_delegated_cgroup_is_told_limits_are_off() {
        let (v, found) =
            verdict(&Facts { root: false, delegated: Some(false), ..good() }, "cgroup delegation");
        assert!(found.starts_with("no cgroup of tincan's is yours"), "{found}");
        assert_eq!(v, Verdict::Warn);
    }

    #[test]
    fn a_kernel_release_gives_its_version() {
        assert_eq!(kernel_version("6.18.44-fc-v857"), Some((6, 18)));
        assert_eq!(kernel_version("5.4"), Some((5, 4)));
        assert_eq!(kernel_version("weird"), None);
    }
}
