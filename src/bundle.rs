//! A bundle's `config.json`, read with the `oci-spec` crate, turned into the
//! chapters' [`Container`] and [`Plan`]. What tincan cannot honour yet is an
//! error that names the field, never dropped in silence: a container must get
//! everything its config asks for, or not run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ch00_process::{Container, Plan};
use ch02_pid::PidOptions;
use ch04_uts::UtsOptions;
use ch06_net::{NetOptions, Network};
use ch07_cgroups::CgroupOptions;
use ch10_harden::devices::DeviceAccess;
use ch10_harden::paths::{MaskedPaths, ReadOnlyPaths};
use ch10_harden::read_only_root::ReadOnlyRoot;
use ch10_harden::seccomp::Cache;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use crate::freezer::FreezerCgroup;
use crate::namespaces::JoinNamespaces;
use crate::process_steps::Sysctl;
use crate::{bridge_network, image_root, mounts, process, resources, seccomp};

/// What is wrong with a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Config { path: PathBuf, source: oci_spec::OciSpecError },
    #[error("{0}: not supported by tincan yet; leave it out of config.json, or use runc")]
    Unsupported(String),
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("{0} is missing from config.json")]
    Missing(&'static str),
    #[error("{0}")]
    Host(String),
}

/// A bundle, read: the container, and the plan that sets it up.
pub struct Bundle {
    pub container: Container,
    pub plan: Plan,
    pub annotations: HashMap<String, String>,
    /// The config's `process` (for its terminal).
    pub process: oci_spec::runtime::Process,
    /// The config's `linux.seccomp`, for the record (`exec`'s processes get it).
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The config's `hooks` ([`crate::hooks`]).
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// The mounts the chapters make, which a config must list (`runc spec` does),
/// with the options `runc spec` gives them: (destination, type, options).
/// The chapters make them so; a config that asks for other options, or
/// leaves one out, asks for what tincan cannot do yet.
pub const STANDARD_MOUNTS: [(&str, &str, &[&str]); 7] = [
    ("/proc", "proc", &["nosuid", "noexec", "nodev"]),
    ("/dev", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
    // With `gid=5` by a remount ([`mounts::DevptsGroup`]).
    (
        "/dev/pts",
        "devpts",
        &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    ),
    ("/dev/shm", "tmpfs", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ("/dev/mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
    ("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    // Chapter 7's: the container's cgroups, read-only, in a cgroup namespace
    // (which it makes whether or not `linux.namespaces` asks, as Docker on v2).
    // The only one a config may leave out.
    ("/sys/fs/cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
];

/// The namespaces a config must ask for, new: the chapters make them all.
pub const NAMESPACES: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Network,
];

// ANCHOR: read
/// Read `bundle/config.json` for container `id`; its seccomp filter, if it
/// has one, compiled through `filters`.
pub fn read(bundle: &Path, id: &str, filters: &Cache) -> Result<Bundle, BundleError> {
    let path = bundle.join("config.json");
    let spec = Spec::load(&path).map_err(|source| BundleError::Config { path, source })?;
    refuse_unsupported(&spec)?;
    let root = spec.root().as_ref().ok_or(BundleError::Missing("root"))?;
    let rootfs = bundle.join(root.path());
    let process = spec.process().as_ref().ok_or(BundleError::Missing("process"))?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(BundleError::Missing("process.args"));
    }
    let mut container = Container::new(rootfs, args);
    container.id = id.to_owned();
    container.env = process.env().clone().unwrap_or_default();
    let linux = spec.linux().as_ref().ok_or(BundleError::Missing("linux"))?;
    // Namespaces that exist already (podman's network namespace), opened now.
    let joined = JoinNamespaces::open(linux.namespaces().as_deref().unwrap_or_default())?;
    let joined_flags = joined.as_ref().map(JoinNamespaces::flags).unwrap_or_else(CloneFlags::empty);
    let net = NetOptions {
        uts: UtsOptions { pid: PidOptions { init: false }, hostname: spec.hostname().clone() },
        // A network namespace of its own, but for a joined one: then none
        // made, and no loopback to bring up (its owner did).
        net: if joined_flags.contains(CloneFlags::CLONE_NEWNET) {
            Network::Host
        } else {
            Network::None
        },
        ..NetOptions::default()
    };
    let mut net = net;
    // The docker-style face's network (see `bridge_network`).
    let network = spec.annotations().as_ref().and_then(|a| a.get(bridge_network::ANNOTATION));
    if let Some(value) = network {
        if net.net == Network::Host {
            return Err(BundleError::Invalid(format!(
                "the annotation {} connects a network namespace of the container's own; this config joins one",
                bridge_network::ANNOTATION
            )));
        }
        bridge_network::on_bridge(&mut net, value, bundle, &container.rootfs, id)?;
    }
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let (cgroup_parent, cgroup_name) = match cgroups_path {
        Some(path) => cgroup_of(&path, id)?,
        None => (CgroupOptions::default().cgroup_parent, None),
    };
    let mut options = CgroupOptions { net, cgroup_parent, cgroup_name, ..CgroupOptions::default() };
    let devices = match linux.resources() {
        Some(asked) => resources::read(asked, &mut options).map_err(BundleError::Unsupported)?,
        None => None,
    };
    let mut plan = ch07_cgroups::plan(&options);
    plan.namespaces.remove(joined_flags);
    let joined_user = joined_flags.contains(CloneFlags::CLONE_NEWUSER);
    let plan_in_userns = crate::userns::apply(plan, linux, joined_user)?;
    let mut plan = plan_in_userns;
    if spec.hostname().is_none() {
        // No hostname asked: the one the new UTS namespace starts with (the
        // host's), as runc leaves it — not chapter 4's default, the id.
        plan = plan.replace("set hostname", vec![]);
    }
    // First, so that its clean-up runs last, once chapter 7's has seen the
    // processes gone.
    let (parent, name) = (options.cgroup_parent.clone(), options.cgroup_name.clone());
    plan = plan.first(FreezerCgroup { parent: parent.clone(), name: name.clone() });
    if let Some(rules) = devices {
        // First, as chapter 10 has it: its clean-up then runs after chapter 7's.
        plan = plan.first(DeviceAccess::with_rules(parent, rules).named(name));
    }
    let cgroup_mount = spec.mounts().iter().flatten().any(|m| m.typ().as_deref() == Some("cgroup"));
    if !cgroup_mount {
        plan = plan.replace("cgroup namespace", vec![]);
    }
    // The config's own mounts, after the chapters' (checked above).
    let extra: Vec<_> =
        spec.mounts().iter().flatten().filter_map(|m| extra_mount(m).ok().flatten()).collect();
    // What the process is: its working directory, user, capabilities, limits.
    let mut plan = process::steps(plan, process, process::Cwd::MadeIfMissing)?;
    let devpts = spec.mounts().iter().flatten().find(|m| m.destination() == Path::new("/dev/pts"));
    let gid =
        devpts.and_then(|m| m.options().iter().flatten().find_map(|o| o.strip_prefix("gid=")));
    if let Some(gid) = gid.and_then(|g| g.parse().ok()) {
        plan = plan.insert_before("working directory", mounts::DevptsGroup(gid));
    }
    let more: Vec<_> = spec
        .mounts()
        .iter()
        .flatten()
        .filter_map(|m| Some((m.destination().to_string_lossy().into_owned(), more_flags(m)?)))
        .filter(|(_, flags)| !flags.is_empty())
        .collect();
    if !more.is_empty() {
        // After the sysctls and the paths (a read-only `/proc` would refuse
        // them), while the process may still change mounts.
        plan = plan.insert_before("capability bounding set", mounts::MoreFlags(more));
    }
    if !extra.is_empty() {
        let (clone, attach) = mounts::steps(extra);
        // The sources, while the host's paths are in reach — and, with a user
        // namespace, before the child becomes its root: the host's root may
        // open what the mapped root may not.
        let before = if plan.step_names().contains(&"user namespace") {
            "user namespace"
        } else {
            "pivot_root"
        };
        plan = plan.insert_before(before, clone).insert_before("working directory", attach);
    }
    // While the process still holds every capability (raising a limit,
    // lowering its OOM score, writing /proc/sys, mounting over paths need
    // some), and once /proc and /sys are the container's: before the working
    // directory. The settings before /proc/sys turns read-only.
    let sysctl: Vec<(String, String)> =
        linux.sysctl().clone().unwrap_or_default().into_iter().collect();
    if !sysctl.is_empty() {
        plan = plan.insert_before("working directory", Sysctl(sysctl));
    }
    if let Some(paths) = linux.readonly_paths().clone().filter(|p| !p.is_empty()) {
        plan = plan.insert_before("working directory", ReadOnlyPaths::of(paths));
    }
    if let Some(paths) = linux.masked_paths().clone().filter(|p| !p.is_empty()) {
        plan = plan.insert_before("working directory", MaskedPaths::of(paths));
    }
    // Chapter 10's `--read-only`: once everything is mounted into it.
    if root.readonly() == Some(true) {
        plan = plan.insert_before("capability bounding set", ReadOnlyRoot);
    }
    if let Some(asked) = linux.seccomp() {
        let filter =
            seccomp::compile(asked, filters).map_err(|e| BundleError::Host(e.to_string()))?;
        plan = seccomp::install(plan, filter, process.no_new_privileges() == Some(true));
    }
    // The docker-style face's image, as the root (see `image_root`).
    if let Some(image) = spec.annotations().as_ref().and_then(|a| a.get(image_root::ANNOTATION)) {
        plan = image_root::on_image(plan, image, bundle, &container.rootfs, id)?;
    }
    // First of all in the child: the rest happens in the namespaces joined.
    if let Some(joined) = joined {
        plan = plan.first(joined);
    }
    let annotations = spec.annotations().clone().unwrap_or_default();
    let seccomp = linux.seccomp().clone();
    let hooks = spec.hooks().clone();
    Ok(Bundle { container, plan, annotations, process: process.clone(), seccomp, hooks })
}
// ANCHOR_END: read

/// Every field tincan does not honour yet, by name.
fn refuse_unsupported(spec: &Spec) -> Result<(), BundleError> {
    let unsupported = |field: &str| Err(BundleError::Unsupported(field.to_owned()));
    if let Some(process) = spec.process() {
        process::refuse_unsupported(process)?;
    }
    if let Some(hooks) = spec.hooks() {
        check_hooks(hooks)?;
    }
    if spec.domainname().is_some() {
        return unsupported("domainname");
    }
    let mounts = spec.mounts().clone().unwrap_or_default();
    for (i, mount) in mounts.iter().enumerate() {
        if let Err(why) = extra_mount(mount) {
            let (to, kind) = (mount.destination(), mount.typ().as_deref().unwrap_or("bind"));
            return unsupported(&format!("mounts[{i}] ({kind} on {}): {why}", to.display()));
        }
    }
    for (to, _, _) in &STANDARD_MOUNTS[..6] {
        if !mounts.iter().any(|m| m.destination() == Path::new(to)) {
            return unsupported(&format!("mounts without {to} (the chapters always make it)"));
        }
    }
    let Some(linux) = spec.linux() else { return Err(BundleError::Missing("linux")) };
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let wanted = NAMESPACES;
    let types: Vec<_> = namespaces.iter().map(|ns| ns.typ()).collect();
    // A cgroup namespace comes with chapter 7's cgroup mount (whether asked
    // or not: so it may be asked for only with the mount); a user namespace
    // with its maps, and the maps with it.
    let cgroup_mount = mounts.iter().any(|m| m.typ().as_deref() == Some("cgroup"));
    let maps = linux.uid_mappings().is_some() || linux.gid_mappings().is_some();
    let user = types.contains(&LinuxNamespaceType::User);
    if maps != user {
        return unsupported(
            "linux.namespaces: a user namespace without uidMappings and gidMappings, or the maps without one",
        );
    }
    let own_user =
        namespaces.iter().any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none());
    if own_user && namespaces.iter().any(|ns| ns.path().is_some()) {
        return unsupported(
            "linux.namespaces: joining a namespace by path with a user namespace of the container's own (the host's would refuse it)",
        );
    }
    let also = |t: &LinuxNamespaceType| {
        (*t == LinuxNamespaceType::Cgroup && cgroup_mount) || *t == LinuxNamespaceType::User
    };
    if let Some(other) = types.iter().find(|t| !wanted.contains(t) && !also(t)) {
        return unsupported(&format!("linux.namespaces: {other:?}"));
    }
    if let Some(missing) = wanted.iter().find(|t| !types.contains(t)) {
        return unsupported(&format!("linux.namespaces without {missing:?}"));
    }
    for key in linux.sysctl().iter().flatten().map(|(key, _)| key) {
        if !Sysctl::is_namespaced(key) {
            return unsupported(&format!(
                "linux.sysctl {key} (the host's own setting, not a namespace's)"
            ));
        }
    }
    let fields = [
        ("linux.devices", linux.devices().as_ref().is_some_and(|d| !d.is_empty())),
        ("linux.rootfsPropagation", linux.rootfs_propagation().is_some()),
        ("linux.mountLabel", linux.mount_label().is_some()),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => unsupported(field),
        None => Ok(()),
    }
}

/// A hook's path must be absolute, its timeout above zero (the spec's rules).
fn check_hooks(hooks: &oci_spec::runtime::Hooks) -> Result<(), BundleError> {
    for kind in crate::hooks::Kind::ALL {
        for (i, hook) in kind.of(hooks).iter().enumerate() {
            let field = format!("hooks.{}[{i}]", kind.name());
            if !hook.path().is_absolute() {
                let path = hook.path().display();
                return Err(BundleError::Invalid(format!("{field}.path {path:?} is not absolute")));
            }
            if let Some(timeout) = hook.timeout().filter(|t| *t <= 0) {
                return Err(BundleError::Invalid(format!(
                    "{field}.timeout is {timeout}: give seconds above zero, or no timeout"
                )));
            }
        }
    }
    Ok(())
}

/// `None` for a mount the chapters make, with options they honour; a mount
/// of the config's own ([`mounts`]); or why tincan cannot make it.
fn extra_mount(mount: &Mount) -> Result<Option<mounts::ExtraMount>, String> {
    if more_flags(mount).is_some() {
        return Ok(None);
    }
    let standard = STANDARD_MOUNTS.iter().find(|(to, ..)| Path::new(to) == mount.destination());
    match (standard, mount.typ().as_deref()) {
        // The chapters' own, asked with other options.
        (Some((_, kind, _)), Some(t)) if t == *kind => {
            let options = mount.options().clone().unwrap_or_default().join(",");
            Err(format!("the chapters make it with other options than {options:?}"))
        }
        _ => mounts::read(mount).map(Some),
    }
}

/// For a mount the chapters make, with options they honour: the flags it
/// asks for beyond theirs, which [`mounts::MoreFlags`] adds (podman's
/// `noexec` on `/dev`; a propagation such as `rprivate` is so anyway).
fn more_flags(mount: &Mount) -> Option<nix::mount::MsFlags> {
    let kind = mount.typ().as_deref().unwrap_or("bind");
    let (_, _, known) = STANDARD_MOUNTS
        .iter()
        .find(|(to, t, _)| Path::new(to) == mount.destination() && *t == kind)?;
    let mut more = nix::mount::MsFlags::empty();
    for option in mount.options().iter().flatten() {
        if known.contains(&option.as_str()) {
            continue;
        }
        match (option.as_str(), mounts::flag(option)) {
            // So anyway: the container's mounts are private to it.
            ("private" | "rprivate", _) => {}
            // Stricter than the chapters make it: added. Anything looser
            // (`rw` on `/sys`, `exec` on `/dev/shm`) is not standard.
            (_, Some(flag)) if !flag.is_empty() && mounts::STRICTER.contains(flag) => more |= flag,
            _ => return None,
        }
    }
    Some(more)
}

/// `linux.cgroupsPath` as chapter 7 names a container's cgroup: the parent
/// (a path of names in each hierarchy) and the cgroup's name in it —
/// `None` if it is the container's id, as chapter 7 names it anyway
/// (containerd's `/default/ID`; podman's is `/libpod_parent/libpod-ID`).
fn cgroup_of(path: &Path, id: &str) -> Result<(PathBuf, Option<String>), BundleError> {
    let unsupported = || {
        BundleError::Unsupported(format!(
            "linux.cgroupsPath {} (tincan's is PARENT/NAME: names, below the hierarchy's root)",
            path.display()
        ))
    };
    let relative = path.strip_prefix("/").unwrap_or(path);
    let text = relative.to_str().ok_or_else(unsupported)?;
    let whole = ch07_cgroups::parse_parent(text).map_err(|_| unsupported())?;
    let name = whole.file_name().ok_or_else(unsupported)?.to_string_lossy().into_owned();
    let parent = whole.parent().filter(|p| !p.as_os_str().is_empty()).ok_or_else(unsupported)?;
    Ok((parent.to_owned(), (name != id).then_some(name)))
}

/// The plan whose clean-up takes down what [`read`]'s plan made, from the
/// records alone (the bundle may be gone by `delete`).
pub fn cleanup_plan() -> Plan {
    // With the bridge's step, whose clean-up reads what it made from its
    // record (a container on none has no record of it).
    let net = NetOptions { net: Network::Bridge, ..NetOptions::default() };
    let options = CgroupOptions { net, ..CgroupOptions::default() };
    let freezer = FreezerCgroup { parent: options.cgroup_parent.clone(), name: None };
    ch07_cgroups::plan(&options)
        .insert_after("make mounts private", image_root::cleanup_step())
        .first(freezer)
        .first(DeviceAccess::new(options.cgroup_parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tincan spec`'s config, changed by `edit`, read as container "t".
    fn read_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Bundle, BundleError> {
        let bundle = tempfile::tempdir().unwrap();
        crate::commands::spec::spec(bundle.path()).unwrap();
        std::fs::create_dir(bundle.path().join("rootfs")).unwrap();
        let path = bundle.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, config.to_string()).unwrap();
        read(bundle.path(), "t", &crate::seccomp::cache(bundle.path()))
    }

    fn refusal(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        match read_with(edit) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("taken"),
        }
    }

    #[test]
    fn the_image_annotation_is_refused_on_a_bundle_the_face_did_not_write() {
        let refused = refusal(|c| {
            c["annotations"] = serde_json::json!({ crate::image_root::ANNOTATION: "busybox" });
        });
        assert!(refused.contains("is for the bundles tincan's `run IMAGE` writes"), "{refused}");
    }

    #[test]
    fn the_network_annotation_is_refused_on_a_bundle_the_face_did_not_write() {
        let network = r#"{"bridge": "tcn1", "subnet": "10.90.0.0/24"}"#;
        let refused = refusal(|c| {
            c["annotations"] = serde_json::json!({ crate::bridge_network::ANNOTATION: network });
        });
        assert!(refused.contains(crate::bridge_network::ANNOTATION), "{refused}");
        assert!(refused.contains("is for the bundles tincan's `run IMAGE` writes"), "{refused}");
    }

    #[test]
    fn a_field_tincan_does_not_honour_is_refused_by_name() {
        let maps = refusal(|c| {
            c["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        });
        assert!(maps.starts_with("linux.namespaces: a user namespace without"), "{maps}");
        let seccomp = refusal(|c| {
            c["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
        });
        assert!(seccomp.starts_with("linux.seccomp: "), "{seccomp}");
        let mount = refusal(|c| {
            let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
            let mount = namespaces.iter_mut().find(|ns| ns["type"] == "mount").unwrap();
            mount["path"] = "/proc/1/ns/mnt".into();
        });
        assert!(mount.starts_with("linux.namespaces: joining a Mount namespace"), "{mount}");
        let host =
            refusal(|c| c["linux"]["sysctl"] = serde_json::json!({"kernel.core_pattern": "|/x"}));
        assert!(host.starts_with("linux.sysctl kernel.core_pattern"), "{host}");
    }

    #[test]
    fn a_hook_needs_an_absolute_path_and_a_timeout_above_zero() {
        let relative = refusal(|c| {
            c["hooks"] = serde_json::json!({"createRuntime": [{"path": "bin/hook"}]});
        });
        assert_eq!(
            relative,
            "config.json: hooks.createRuntime[0].path \"bin/hook\" is not absolute"
        );
        let zero = refusal(|c| {
            c["hooks"] =
                serde_json::json!({"poststop": [{"path": "/h"}, {"path": "/h", "timeout": 0}]});
        });
        assert!(zero.starts_with("config.json: hooks.poststop[1].timeout is 0: "), "{zero}");
        let hooks = read_with(|c| {
            c["hooks"] = serde_json::json!({"prestart": [{"path": "/h", "timeout": 5}]});
        });
        assert!(hooks.is_ok_and(|b| b.hooks.is_some()));
    }

    #[test]
    fn a_mount_with_other_options_or_one_left_out_is_refused() {
        let small =
            refusal(|c| c["mounts"][1]["options"] = serde_json::json!(["mode=700", "size=1k"]));
        assert!(small.starts_with("mounts[1] (tmpfs on /dev): the chapters make it"), "{small}");
        let nfs = refusal(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts
                .push(serde_json::json!({"destination": "/data", "type": "nfs", "source": "h:/"}));
        });
        assert!(nfs.starts_with("mounts[7] (nfs on /data): the type"), "{nfs}");
        // Looser than the chapters make it: `rw` on `/sys`.
        let rw = refusal(|c| c["mounts"][5]["options"] = serde_json::json!(["nosuid", "rw"]));
        assert!(rw.starts_with("mounts[5] (sysfs on /sys): the chapters make it"), "{rw}");
        // Stricter (podman's `noexec` on `/dev`), or a propagation: taken.
        assert!(
            read_with(|c| {
                c["mounts"][1]["options"] = serde_json::json!(["nosuid", "noexec", "rprivate"])
            })
            .is_ok()
        );
        let missing = refusal(|c| drop(c["mounts"].as_array_mut().unwrap().remove(4)));
        assert!(missing.starts_with("mounts without /dev/mqueue"), "{missing}");
    }

    #[test]
    fn a_cgroups_path_is_a_parent_and_a_name() {
        assert_eq!(cgroup_of(Path::new("/default/t"), "t").unwrap(), ("default".into(), None));
        let podman = cgroup_of(Path::new("/libpod_parent/libpod-t"), "t").unwrap();
        assert_eq!(podman, ("libpod_parent".into(), Some("libpod-t".into())));
        for wrong in ["/t", "/", "/a/../t", "a//"] {
            let refused = refusal(|c| c["linux"]["cgroupsPath"] = wrong.into());
            assert!(refused.starts_with(&format!("linux.cgroupsPath {wrong} ")), "{refused}");
        }
        assert!(read_with(|c| c["linux"]["cgroupsPath"] = "/parent/t".into()).is_ok());
    }
}
