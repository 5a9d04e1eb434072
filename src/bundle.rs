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
use ch08_images::user::{Ids, SwitchUser};
use ch08_images::workdir::WorkDir;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// What is wrong with a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Config { path: PathBuf, source: oci_spec::OciSpecError },
    #[error("{0}: not supported by tincan yet; leave it out of config.json, or use runc")]
    Unsupported(String),
    #[error("{0} is missing from config.json")]
    Missing(&'static str),
}

/// A bundle, read: the container, and the plan that sets it up.
pub struct Bundle {
    pub container: Container,
    pub plan: Plan,
    pub annotations: HashMap<String, String>,
}

/// The mounts every container of chapter 6's plan gets, which a config may
/// list (`runc spec` does): (destination, type).
const STANDARD_MOUNTS: [(&str, &str); 7] = [
    ("/proc", "proc"),
    ("/dev", "tmpfs"),
    ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"),
    ("/dev/mqueue", "mqueue"),
    ("/sys", "sysfs"),
    // Chapter 7's: the container's cgroups, read-only, in a cgroup namespace
    // (which it makes whether or not `linux.namespaces` asks, as Docker on v2).
    ("/sys/fs/cgroup", "cgroup"),
];

// ANCHOR: read
/// Read `bundle/config.json` for container `id`.
pub fn read(bundle: &Path, id: &str) -> Result<Bundle, BundleError> {
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
    let net = NetOptions {
        uts: UtsOptions { pid: PidOptions { init: false }, hostname: spec.hostname().clone() },
        net: Network::None,
        ..NetOptions::default()
    };
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let cgroup_parent = match cgroups_path {
        Some(path) => parent_of(&path, id)?,
        None => CgroupOptions::default().cgroup_parent,
    };
    let options = CgroupOptions { net, cgroup_parent, ..CgroupOptions::default() };
    let user = process.user();
    let ids = Ids {
        uid: user.uid(),
        gid: user.gid(),
        groups: std::iter::once(user.gid())
            .chain(user.additional_gids().clone().unwrap_or_default())
            .collect(),
        home: None,
    };
    let mut plan = ch07_cgroups::plan(&options);
    let cgroup_mount = spec.mounts().iter().flatten().any(|m| m.typ().as_deref() == Some("cgroup"));
    if !cgroup_mount {
        plan = plan.replace("cgroup namespace", vec![]);
    }
    let plan = plan.then(WorkDir::new(process.cwd().clone())).then(SwitchUser::new(ids));
    let annotations = spec.annotations().clone().unwrap_or_default();
    Ok(Bundle { container, plan, annotations })
}
// ANCHOR_END: read

/// Every field tincan does not honour yet, by name.
fn refuse_unsupported(spec: &Spec) -> Result<(), BundleError> {
    let unsupported = |field: &str| Err(BundleError::Unsupported(field.to_owned()));
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        return unsupported("root.readonly");
    }
    if let Some(process) = spec.process() {
        let fields = [
            ("process.terminal", process.terminal() == Some(true)),
            ("process.capabilities", process.capabilities().is_some()),
            ("process.rlimits", process.rlimits().as_ref().is_some_and(|r| !r.is_empty())),
            ("process.noNewPrivileges", process.no_new_privileges() == Some(true)),
            ("process.apparmorProfile", process.apparmor_profile().is_some()),
            ("process.selinuxLabel", process.selinux_label().is_some()),
            ("process.oomScoreAdj", process.oom_score_adj().is_some()),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, set)| *set) {
            return unsupported(field);
        }
    }
    if spec.hooks().is_some() {
        return unsupported("hooks");
    }
    if spec.domainname().is_some() {
        return unsupported("domainname");
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        let (to, kind) = (mount.destination(), mount.typ().as_deref().unwrap_or("bind"));
        if !STANDARD_MOUNTS.iter().any(|(d, t)| Path::new(d) == to && *t == kind) {
            return unsupported(&format!("mounts[{i}] ({kind} on {})", to.display()));
        }
    }
    let Some(linux) = spec.linux() else { return Err(BundleError::Missing("linux")) };
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    for ns in &namespaces {
        if let Some(path) = ns.path() {
            return unsupported(&format!("linux.namespaces: joining {}", path.display()));
        }
    }
    use LinuxNamespaceType::*;
    let wanted = [Pid, Mount, Uts, Ipc, Network];
    let types: Vec<_> = namespaces.iter().map(|ns| ns.typ()).collect();
    if let Some(other) = types.iter().find(|t| !wanted.contains(t)) {
        return unsupported(&format!("linux.namespaces: {other:?}"));
    }
    if let Some(missing) = wanted.iter().find(|t| !types.contains(t)) {
        return unsupported(&format!("linux.namespaces without {missing:?}"));
    }
    let fields = [
        ("linux.uidMappings", linux.uid_mappings().is_some()),
        ("linux.gidMappings", linux.gid_mappings().is_some()),
        ("linux.sysctl", linux.sysctl().as_ref().is_some_and(|s| !s.is_empty())),
        ("linux.resources", linux.resources().is_some()),
        ("linux.devices", linux.devices().as_ref().is_some_and(|d| !d.is_empty())),
        ("linux.seccomp", linux.seccomp().is_some()),
        ("linux.rootfsPropagation", linux.rootfs_propagation().is_some()),
        ("linux.maskedPaths", linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ("linux.readonlyPaths", linux.readonly_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ("linux.mountLabel", linux.mount_label().is_some()),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => unsupported(field),
        None => Ok(()),
    }
}

/// `linux.cgroupsPath` as chapter 7 names a container's cgroup: a path of
/// names in each hierarchy ending with the container's id.
fn parent_of(path: &Path, id: &str) -> Result<PathBuf, BundleError> {
    let unsupported = || {
        BundleError::Unsupported(format!(
            "linux.cgroupsPath {} (tincan's is PARENT/{id}, the id last)",
            path.display()
        ))
    };
    let relative = path.strip_prefix("/").unwrap_or(path);
    if relative.file_name() != Some(std::ffi::OsStr::new(id)) {
        return Err(unsupported());
    }
    let parent = relative.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    ch07_cgroups::parse_parent(&parent).map_err(|_| unsupported())
}

/// The plan whose clean-up takes down what [`read`]'s plan made, from the
/// records alone (the bundle may be gone by `delete`).
pub fn cleanup_plan() -> Plan {
    let net = NetOptions { net: Network::None, ..NetOptions::default() };
    ch07_cgroups::plan(&CgroupOptions { net, ..CgroupOptions::default() })
}
