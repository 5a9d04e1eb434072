//! The OCI bundle the face writes for a container of an image: `tincan
//! spec`'s config, with what the image and the command line say.

use std::path::Path;

use ch00_process::Container;
use ch08_images::run::Prepared;
use serde_json::{Value, json};

use crate::Failure;

/// What the command line asks beyond the image's config.
#[derive(Default, Clone, Copy)]
pub struct Asked<'a> {
    /// `-e KEY=VALUE` (or `-e KEY`, the caller's value): over the image's
    /// environment.
    pub env: &'a [String],
    /// `-m`: the memory limit, in bytes.
    pub memory: Option<u64>,
    /// `--cpus`: how many CPUs' worth of time.
    pub cpus: Option<f64>,
    /// `--pids-limit`: how many tasks at most.
    pub pids_limit: Option<u64>,
    /// `--cap-add`, `--cap-drop`: changes to Docker's default capabilities.
    pub cap_add: &'a [String],
    pub cap_drop: &'a [String],
    /// `-v`: the volumes and host directories to mount, resolved.
    pub mounts: &'a [super::volume::Mount],
    /// `--network`: the network, resolved (`None`: only `lo`).
    pub network: Option<&'a super::network::Network>,
    /// `--network host`: the host's network stack.
    pub host_network: bool,
    /// `-p`: ports to publish, as chapter 6 takes them.
    pub publish: &'a [String],
    /// `-t`: a terminal of its own.
    pub tty: bool,
    /// `--security-opt`: only `seccomp=unconfined` or `seccomp=PROFILE.json`.
    pub security_opt: &'a [String],
}

/// Write `dir/config.json` for `container` (the image's command,
/// environment and root, from chapter 8's `prepare`), the image `image_id`.
pub fn write(
    dir: &Path,
    container: &Container,
    prepared: &Prepared,
    image_id: &str,
    asked: &Asked,
) -> Result<(), Failure> {
    let mut config: Value =
        serde_json::from_str(crate::commands::spec::SPEC).expect("tincan spec's config is JSON");
    let ids = &prepared.ids;
    config["process"]["args"] = json!(container.argv);
    config["process"]["terminal"] = json!(asked.tty);
    config["process"]["env"] = json!(environment(&container.env, asked.env)?);
    let cwd = prepared.working_dir.as_deref().unwrap_or(Path::new("/"));
    config["process"]["cwd"] = json!(cwd);
    config["process"]["user"] =
        json!({"uid": ids.uid, "gid": ids.gid, "additionalGids": ids.groups});
    config["root"]["path"] = json!(container.rootfs);
    // Docker's: the short id.
    config["hostname"] = json!(container.short_id());
    config["annotations"] = json!({ crate::image_root::ANNOTATION: image_id });
    // Its cgroup: below chapter 7's parent (the core's default), or the one
    // `TINCAN_CGROUP_PARENT` names, as for the chapters (the tests give theirs).
    if let Ok(text) = std::env::var("TINCAN_CGROUP_PARENT") {
        let parent = ch07_cgroups::parse_parent(&text)
            .map_err(|e| Failure::new(format!("TINCAN_CGROUP_PARENT={text}: {e}")))?;
        config["linux"]["cgroupsPath"] = json!(format!("/{}/{}", parent.display(), container.id));
    }
    if let Some(network) = asked.network {
        let value = crate::bridge_network::Asked {
            bridge: network.bridge.clone(),
            subnet: network.subnet.clone(),
            publish: asked.publish.to_vec(),
        };
        let value = serde_json::to_string(&value).expect("the network serialises");
        config["annotations"][crate::bridge_network::ANNOTATION] = json!(value);
    }
    if !asked.host_network {
        // Docker's: any group may ping (ICMP sockets), in the container's own
        // network stack, so `ping` needs no CAP_NET_RAW (chapter 10).
        config["linux"]["sysctl"] = json!({ "net.ipv4.ping_group_range": "0 2147483647" });
    }
    if asked.host_network {
        // Joined: the network namespace of the runtime that creates it, which
        // is ours (the core opens the path at `create`).
        let namespaces = config["linux"]["namespaces"].as_array_mut().expect("the spec has them");
        for namespace in namespaces.iter_mut().filter(|ns| ns["type"] == "network") {
            namespace["path"] = json!("/proc/self/ns/net");
        }
        // Docker's: the host's name, in its own UTS namespace still.
        let name =
            nix::unistd::gethostname().map_err(|e| Failure::new(format!("hostname: {e}")))?;
        config["hostname"] = json!(name.to_string_lossy());
    }
    if asked.network.is_none() {
        etc_files(dir, &mut config, asked.host_network)?;
    }
    harden(&mut config, asked)?;
    limit(&mut config, asked);
    for mount in asked.mounts {
        config["mounts"].as_array_mut().expect("the spec has mounts").push(mount.oci());
    }
    let path = dir.join("config.json");
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| Failure::new(e.to_string()))?;
    std::fs::write(&path, bytes).map_err(|e| Failure::new(format!("write {}: {e}", path.display())))
}

/// The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` of a container
/// with no bridge, where chapter 6 writes none: in `dir/etc/`, bind-mounted
/// over the image's, as an engine does. On `none`, only `localhost` and its
/// own name; on `host`, the host's files as they are (its loopback resolver
/// is the container's too).
fn etc_files(dir: &Path, config: &mut Value, host_network: bool) -> Result<(), Failure> {
    let etc = dir.join("etc");
    let failed = |path: &Path, e: std::io::Error| Failure::new(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(&etc).map_err(|e| failed(&etc, e))?;
    let hostname = config["hostname"].as_str().unwrap_or_default().to_owned();
    // A host may have neither (a minimal one, or a dangling link to a stub
    // resolver's file): then the image's stays.
    let host_file = |name: &str| {
        let path = Path::new("/etc").join(name);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            read => read.map(Some).map_err(|e| failed(&path, e)),
        }
    };
    let (hosts, resolv) = if host_network {
        (host_file("hosts")?, host_file("resolv.conf")?)
    } else {
        let localhost = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
        (Some(format!("{localhost}127.0.0.1\t{hostname}\n")), None)
    };
    let files =
        [("hosts", hosts), ("hostname", Some(format!("{hostname}\n"))), ("resolv.conf", resolv)];
    for (name, content) in files {
        let Some(content) = content else { continue };
        let path = etc.join(name);
        std::fs::write(&path, content).map_err(|e| failed(&path, e))?;
        let mount = json!({
            "destination": Path::new("/etc").join(name),
            "type": "bind",
            "source": path,
            "options": ["bind", "rprivate"],
        });
        config["mounts"].as_array_mut().expect("the spec has mounts").push(mount);
    }
    Ok(())
}

/// What Docker gives every container: its default capabilities (changed by
/// `--cap-add` and `--cap-drop`, chapter 10's rule) and its masked and
/// read-only paths.
fn harden(config: &mut Value, asked: &Asked) -> Result<(), Failure> {
    use ch10_harden::capabilities::{parse_cap, tweak};
    let parse = |list: &[String]| -> Result<Vec<_>, Failure> {
        list.iter().map(|c| parse_cap(c).map_err(|e| Failure::new(e.to_string()))).collect()
    };
    let kept = tweak(&parse(asked.cap_add)?, &parse(asked.cap_drop)?);
    // Sorted, so that the same options make the same config.
    let mut names: Vec<String> = kept.iter().map(|c| c.to_string()).collect();
    names.sort();
    config["process"]["capabilities"] =
        json!({"bounding": names, "effective": names, "permitted": names});
    config["linux"]["maskedPaths"] = json!(ch10_harden::paths::MASKED);
    config["linux"]["readonlyPaths"] = json!(ch10_harden::paths::READ_ONLY);
    // Docker's system-call filter, as chapter 10 chooses it for these
    // capabilities on this machine, in the OCI form the core reads back.
    if let Some(profile) = seccomp_choice(asked.security_opt)?.profile()? {
        let host = ch10_harden::seccomp::Host::this()?;
        config["linux"]["seccomp"] = profile.filter(&kept, &host).to_oci();
    }
    Ok(())
}

/// What `--security-opt` asks of the filter: Docker's default, none
/// (`seccomp=unconfined`), or a profile of one's own (`seccomp=FILE`).
fn seccomp_choice(options: &[String]) -> Result<ch10_harden::seccomp::Choice, Failure> {
    let mut choice = ch10_harden::seccomp::Choice::default();
    for option in options {
        let Some(value) = option.strip_prefix("seccomp=") else {
            return Err(Failure::new(format!(
                "--security-opt {option}: only seccomp=unconfined or seccomp=PROFILE.json"
            )));
        };
        choice = value.parse().map_err(Failure::new)?;
    }
    Ok(choice)
}

/// `-m`, `--cpus` and `--pids-limit`, as `linux.resources` (chapter 7's
/// limits: a CPU's worth is a quota of 100 ms in each period of 100 ms).
fn limit(config: &mut Value, asked: &Asked) {
    let resources = &mut config["linux"]["resources"];
    if let Some(bytes) = asked.memory {
        resources["memory"] = json!({ "limit": bytes });
    }
    if let Some(cpus) = asked.cpus {
        resources["cpu"] = json!({ "quota": (cpus * 100_000.0).round() as i64, "period": 100_000 });
    }
    if let Some(pids) = asked.pids_limit {
        resources["pids"] = json!({ "limit": pids });
    }
    if resources.as_object().is_none_or(|r| r.is_empty()) {
        config["linux"].as_object_mut().expect("the spec has linux").remove("resources");
    }
}

/// Docker's sizes (`-m 512m`): a number of bytes, or of KiB, MiB, GiB with
/// `k`, `m`, `g` (in either case, `b` or `ib` after it allowed).
pub fn parse_size(text: &str) -> Result<u64, Failure> {
    let wrong = || {
        Failure::new(format!(
            "{text:?} is not a size: give bytes, or a number with k, m or g (512m)"
        ))
    };
    let lower = text.trim().to_ascii_lowercase();
    let unit_start = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_start);
    let number: f64 = number.parse().map_err(|_| wrong())?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(wrong()),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(wrong());
    }
    Ok(bytes as u64)
}

/// The image's environment with `-e` settings over it: a key given again
/// replaces the image's value, in place.
fn environment(image: &[String], given: &[String]) -> Result<Vec<String>, Failure> {
    let mut env = image.to_vec();
    for setting in given {
        // `-e KEY` alone: the caller's value, if it has one (as Docker).
        let setting = match setting.split_once('=') {
            None if !setting.is_empty() => match std::env::var(setting) {
                Ok(value) => format!("{setting}={value}"),
                Err(_) => continue,
            },
            _ => setting.clone(),
        };
        let Some((key, _)) = setting.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Failure::new(format!(
                "-e {setting}: give KEY=VALUE, or KEY to pass yours"
            )));
        };
        match env.iter_mut().find(|e| e.split_once('=').is_some_and(|(k, _)| k == key)) {
            Some(old) => *old = setting.clone(),
            None => env.push(setting.clone()),
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_docker_reads_them() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64kb").unwrap(), 64 << 10);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "m", "12x", "-1m", "0", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_and_capabilities_go_where_the_runtime_reads_them() {
        let mut config: Value = serde_json::from_str(crate::commands::spec::SPEC).unwrap();
        let (add, drop) = (["NET_ADMIN".to_owned()], ["cap_chown".to_owned()]);
        let asked = Asked {
            memory: Some(1 << 20),
            cpus: Some(0.5),
            pids_limit: Some(20),
            cap_add: &add,
            cap_drop: &drop,
            ..Asked::default()
        };
        harden(&mut config, &asked).unwrap();
        limit(&mut config, &asked);
        let resources = &config["linux"]["resources"];
        assert_eq!(resources["memory"]["limit"], 1 << 20);
        assert_eq!(resources["cpu"], json!({"quota": 50_000, "period": 100_000}));
        assert_eq!(resources["pids"]["limit"], 20);
        let bounding = config["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert!(bounding.contains(&json!("CAP_NET_ADMIN")));
        assert!(!bounding.contains(&json!("CAP_CHOWN")));
        assert!(bounding.contains(&json!("CAP_KILL")), "Docker's default stays");
        // The runtime takes it as it is.
        let spec: oci_spec::runtime::Spec = serde_json::from_value(config.clone()).unwrap();
        let resources = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        let mut options = ch07_cgroups::CgroupOptions::default();
        crate::resources::read(&resources, &mut options).unwrap();
        assert_eq!(
            (options.memory, options.cpus, options.pids_limit),
            (Some(1 << 20), Some(0.5), Some(20))
        );

        // Docker's filter, unless unconfined.
        assert!(config["linux"]["seccomp"]["syscalls"].as_array().is_some_and(|s| !s.is_empty()));
        let unconfined = ["seccomp=unconfined".to_owned()];
        let mut bare: Value = serde_json::from_str(crate::commands::spec::SPEC).unwrap();
        harden(&mut bare, &Asked { security_opt: &unconfined, ..Asked::default() }).unwrap();
        assert!(bare["linux"].get("seccomp").is_none());
        let other = ["apparmor=x".to_owned()];
        assert!(harden(&mut bare, &Asked { security_opt: &other, ..Asked::default() }).is_err());
        let unknown = ["NET_WIZARD".to_owned()];
        let asked = Asked { cap_add: &unknown, ..Asked::default() };
        assert!(harden(&mut config, &asked).unwrap_err().0.contains("NET_WIZARD"));
        // Nothing asked: no resources at all.
        let mut config: Value = serde_json::from_str(crate::commands::spec::SPEC).unwrap();
        limit(&mut config, &Asked::default());
        assert!(config["linux"].get("resources").is_none());
    }

    #[test]
    fn a_setting_given_replaces_the_images_and_a_new_one_is_added() {
        let image = ["PATH=/bin".to_owned(), "HOME=/root".to_owned()];
        let given = ["HOME=/tmp".to_owned(), "A=b=c".to_owned()];
        assert_eq!(environment(&image, &given).unwrap(), ["PATH=/bin", "HOME=/tmp", "A=b=c"]);
        assert!(environment(&image, &["=x".to_owned()]).is_err());
        assert!(environment(&image, &["".to_owned()]).is_err());
        // Only a key: the caller's value, or nothing if it has none.
        let path = std::env::var("PATH").unwrap();
        let passed = environment(&image, &["PATH".to_owned(), "TINCAN_SURELY_UNSET".to_owned()]);
        assert_eq!(passed.unwrap(), [format!("PATH={path}"), "HOME=/root".to_owned()]);
    }
}
