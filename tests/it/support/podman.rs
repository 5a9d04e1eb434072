//! A podman of the test's own (Debian's 4.3): its storage, state, temporary
//! files and network configurations in a temporary directory, its
//! containers' cgroups under a parent of the test's, and the test image
//! pulled from a registry of the test's on 127.0.0.1.
//!
//! podman's network (CNI, for `-p`) reaches beyond that directory: a bridge,
//! iptables chains (in nftables tables iptables makes), a lease directory
//! and `net.ipv4.ip_forward`. What was there is read when the lab starts;
//! on drop, what podman added is taken away and the setting put back. The
//! lab holds [`super::HOST`] meanwhile, as the tests that run chapter 6 on
//! the host do: both touch `ip_forward`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::MutexGuard;

use super::oci::Said;
use super::{Registry, RegistryAuth};

/// The packages: podman (with conmon), iptables for its CNI plugins, and
/// what makes and serves the image.
pub const PODMAN_TOOLS: [(&str, &str); 6] = [
    ("podman", "podman"),
    ("conmon", "conmon"),
    ("iptables", "iptables"),
    ("docker-registry", "docker-registry"),
    super::test_image::TOOLS[0],
    super::test_image::TOOLS[1],
];

/// The limits podman would ask for are above what this machine lets root
/// raise (machine-facts: no CAP_SYS_RESOURCE), so every run asks for these.
const ULIMITS: [&str; 4] = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"];

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const CNI_LOCK: &str = "/etc/cni/net.d/cni.lock";
const CNI_STATE: &str = "/var/lib/cni";
const CONTAINERS_STATE: &str = "/var/lib/containers";
const NETNS_DIR: &str = "/run/netns";

pub struct Podman {
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT/tincan-test:latest`.
    image: String,
    /// The parent of the containers' cgroups (and conmon's), this test's own.
    cgroup_parent: String,
    /// The network for `-p`, and the bridge podman named for it.
    network: String,
    bridge: String,
    host_before: HostNet,
    _host: MutexGuard<'static, ()>,
}

/// What podman's network may change on the host, as it was.
struct HostNet {
    ip_forward: String,
    /// `iptables -S` of the filter and nat tables.
    chains: Vec<(&'static str, Vec<String>)>,
    /// `nft list tables`.
    tables: Vec<String>,
    /// Whether CNI's lock file in its default configuration directory was
    /// there (podman makes it, whatever `--network-config-dir` says).
    cni_lock: bool,
    /// Whether CNI's state directory was there (its plugins make it).
    cni_state: bool,
    /// Whether root's containers directory was there (a pull makes it).
    containers_state: bool,
    /// Whether `/run/netns` was there, and a mount point: podman makes it
    /// one (bound on itself, shared), where it keeps its namespaces.
    netns_dir: bool,
    netns_mount: bool,
}

impl HostNet {
    fn read() -> HostNet {
        HostNet {
            ip_forward: std::fs::read_to_string(IP_FORWARD).expect("read ip_forward"),
            chains: ["filter", "nat"].map(|t| (t, chains(t))).to_vec(),
            tables: nft_tables(),
            cni_lock: Path::new(CNI_LOCK).exists(),
            cni_state: Path::new(CNI_STATE).exists(),
            containers_state: Path::new(CONTAINERS_STATE).exists(),
            netns_dir: Path::new(NETNS_DIR).exists(),
            netns_mount: is_mount_point(NETNS_DIR),
        }
    }
}

/// The chains of an iptables table.
fn chains(table: &str) -> Vec<String> {
    let rules = output("iptables", &["-t", table, "-S"]);
    rules.lines().filter_map(|l| l.strip_prefix("-N ")).map(str::to_owned).collect()
}

fn nft_tables() -> Vec<String> {
    output("nft", &["list", "tables"]).lines().map(str::to_owned).collect()
}

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Podman {
    /// podman with the test image pulled and a network made.
    pub fn start() -> Podman {
        let host = super::HOST.lock().unwrap_or_else(|e| e.into_inner());
        let host_before = HostNet::read();
        let dir = tempfile::Builder::new().prefix("tincan-podman-").tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("tmp")).expect("its TMPDIR");
        let cgroup_parent = super::marker("test-podman");
        let network = super::marker("net");
        let mut podman = Podman {
            dir,
            image: String::new(),
            cgroup_parent,
            network,
            bridge: String::new(),
            host_before,
            _host: host,
        };
        podman.image = podman.pull();
        let made = podman.podman(&["network", "create", &podman.network]);
        assert_eq!(made.code, 0, "podman network create: {made:?}");
        let format = "{{.NetworkInterface}}";
        let inspect = podman.podman(&["network", "inspect", "--format", format, &podman.network]);
        podman.bridge = inspect.stdout.trim().to_owned();
        assert!(!podman.bridge.is_empty(), "the network's bridge: {inspect:?}");
        podman
    }

    /// The test image, pushed to a registry of ours and pulled from it.
    fn pull(&self) -> String {
        let registry = Registry::start(RegistryAuth::None);
        let image = format!("{}/tincan-test:latest", registry.host());
        let archive = super::test_image::oci_archive(self.dir.path(), "tincan-test:latest");
        let to = format!("docker://{image}");
        let from = format!("oci-archive:{}", archive.display());
        let pushed = super::images::skopeo(&["copy", "--dest-tls-verify=false", &from, &to]);
        assert!(
            pushed.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&pushed.stderr)
        );
        let mut pull = self.command();
        pull.args(["pull", "--quiet", "--tls-verify=false", &image]);
        hide_blob_info_cache(&mut pull);
        let out = pull.stdin(Stdio::null()).output().expect("podman pull");
        let pulled = Said {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(pulled.code, 0, "podman pull: {pulled:?}");
        std::fs::remove_file(archive).expect("remove the archive");
        image
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    /// `podman` with this lab's global options.
    pub fn command(&self) -> Command {
        let w = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(w.join("root"))
            .arg("--runroot")
            .arg(w.join("run"))
            .arg("--tmpdir")
            .arg(w.join("libpod"))
            .arg("--network-config-dir")
            .arg(w.join("networks"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "overlay"])
            // Image layers are staged here, not in /var/tmp.
            .env("TMPDIR", w.join("tmp"));
        cmd
    }

    /// `podman ARGS`.
    pub fn podman(&self, args: &[&str]) -> Said {
        let out = self.command().args(args).stdin(Stdio::null()).output().expect("run podman");
        Said {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The options of a `podman run` (or `create`) with `runtime`: its cgroup
    /// under ours, the limits this machine allows, and our network (not
    /// podman's default one, whose bridge and leases would be the host's).
    pub fn run_options(&self, runtime: &Path) -> Vec<String> {
        let mut options = vec!["--runtime".to_owned(), runtime.display().to_string()];
        options.extend(["--network".to_owned(), self.network.clone()]);
        options.extend(["--cgroup-parent".to_owned(), format!("/{}", self.cgroup_parent)]);
        options.extend(ULIMITS.map(str::to_owned));
        options
    }

    /// `podman run OPTIONS ARGS...` with `runtime`.
    pub fn run(&self, runtime: &Path, args: &[&str]) -> Said {
        let options = self.run_options(runtime);
        let mut all: Vec<&str> = vec!["run"];
        all.extend(options.iter().map(String::as_str));
        all.extend_from_slice(args);
        self.podman(&all)
    }

    /// The containers' cgroups left under this test's parent (podman names
    /// them `libpod-ID`), in any hierarchy.
    pub fn containers_cgroups_left(&self) -> Vec<PathBuf> {
        let named =
            |p: &PathBuf| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libpod-"));
        self.cgroups_left().into_iter().filter(named).collect()
    }

    /// The cgroups left under this test's parent (conmon's too), in any hierarchy.
    fn cgroups_left(&self) -> Vec<PathBuf> {
        super::cgroups_below(&self.cgroup_parent)
    }

    /// Put the host's network back as it was: podman's bridge, the chains
    /// its plugins added (with the rules that jump to them), the tables
    /// iptables made for them, its leases, and `ip_forward`.
    fn restore_host(&self) {
        let run = |program: &str, args: &[&str]| {
            let _ = Command::new(program).args(args).stderr(Stdio::null()).status();
        };
        if !self.bridge.is_empty() {
            run("ip", &["link", "delete", &self.bridge]);
        }
        for (table, before) in &self.host_before.chains {
            // CNI's chains only: what anyone else made meanwhile stays.
            let added: Vec<String> = chains(table)
                .into_iter()
                .filter(|c| c.starts_with("CNI-") && !before.contains(c))
                .collect();
            if added.is_empty() {
                continue;
            }
            let rules = output("iptables", &["-t", table, "-S"]);
            for rule in rules.lines().filter_map(|l| l.strip_prefix("-A ")) {
                let jumps_to_added = rule
                    .rsplit_once(" -j ")
                    .is_some_and(|(_, target)| added.iter().any(|c| c == target.trim()));
                if jumps_to_added {
                    // The rule, as iptables printed it, to delete.
                    let words = shell_words(rule);
                    let mut args: Vec<&str> = vec!["-t", table, "-D"];
                    args.extend(words.iter().map(String::as_str));
                    run("iptables", &args);
                }
            }
            for chain in &added {
                run("iptables", &["-t", table, "-F", chain]);
            }
            for chain in &added {
                run("iptables", &["-t", table, "-X", chain]);
            }
        }
        for table in nft_tables().iter().filter(|t| !self.host_before.tables.contains(t)) {
            // `table ip nat`: deleted only if iptables left it without a rule.
            let name: Vec<&str> = table.split_whitespace().skip(1).collect();
            let listed = output("nft", &[&["list", "table"], name.as_slice()].concat());
            if !has_rules(&listed) {
                run("nft", &[&["delete", "table"], name.as_slice()].concat());
            }
        }
        let state = Path::new(CNI_STATE);
        let _ = std::fs::remove_dir_all(state.join("networks").join(&self.network));
        if !self.host_before.cni_state {
            // Made for us: gone, once empty (a run beside ours may use it).
            for dir in [state.join("networks"), state.join("results"), state.to_owned()] {
                let _ = std::fs::remove_dir(dir);
            }
        }
        // Unless someone named a namespace there meanwhile.
        let empty = std::fs::read_dir(NETNS_DIR).is_ok_and(|mut d| d.next().is_none());
        if !self.host_before.netns_mount && empty && is_mount_point(NETNS_DIR) {
            let flags = nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW;
            let _ = nix::mount::umount2(NETNS_DIR, flags);
        }
        if !self.host_before.netns_dir {
            let _ = std::fs::remove_dir(NETNS_DIR); // only if empty: ours
        }
        if !self.host_before.containers_state {
            // Only what a pull makes there (its blob cache), and the
            // directories once empty: a podman beside ours may have started
            // using it meanwhile.
            let state = Path::new(CONTAINERS_STATE);
            let _ = std::fs::remove_file(state.join("cache/blob-info-cache-v1.boltdb"));
            let _ = std::fs::remove_dir(state.join("cache"));
            let _ = std::fs::remove_dir(state);
        }
        if !self.host_before.cni_lock {
            let _ = std::fs::remove_file(CNI_LOCK);
        }
        let _ = std::fs::write(IP_FORWARD, &self.host_before.ip_forward);
    }
}

/// podman, as root, notes every blob it pulls in the machine's cache
/// (`/var/lib/containers/cache`), whatever `--root` says. So the pull runs
/// in a mount namespace of its own with a tmpfs over `/var/lib/containers`
/// (nothing else of podman's is there with our `--root`); where there is no
/// such directory, the lab removes the one podman makes ([`HostNet`]).
fn hide_blob_info_cache(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    if !Path::new(CONTAINERS_STATE).is_dir() {
        return;
    }
    // SAFETY: unshare(2) and mount(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            use nix::mount::{MsFlags, mount};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            mount(Some("tmpfs"), CONTAINERS_STATE, Some("tmpfs"), MsFlags::empty(), None::<&str>)?;
            Ok(())
        });
    }
}

/// Whether `path` is where something is mounted, in our mount table.
fn is_mount_point(path: &str) -> bool {
    super::host_mounts().lines().any(|l| l.split(' ').nth(4) == Some(path))
}

/// Whether `nft list table` shows a rule: a line that is not the table's or
/// a chain's own (`table`, `chain`, `type ... hook`, `}`).
fn has_rules(listed: &str) -> bool {
    listed.lines().map(str::trim).any(|line| {
        !(line.is_empty()
            || line == "}"
            || line.starts_with("table ")
            || line.starts_with("chain ")
            || line.starts_with("type "))
    })
}

/// The words of an iptables rule as `iptables -S` prints it: double quotes
/// around a comment with spaces, `\"` for a quote inside one (CNI's
/// `name: \"podman\"`).
fn shell_words(rule: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.podman(&["rm", "--all", "--force", "--time", "0"]);
        self.podman(&["network", "rm", "--force", &self.network]);
        self.podman(&["rmi", "--all", "--force"]);
        // What podman left mounted under its root (an overlay, its shm).
        super::unmount_under(self.dir.path());
        for dir in self.cgroups_left().into_iter().chain(super::cgroups_named(&self.cgroup_parent))
        {
            let _ = std::fs::remove_dir(dir);
        }
        self.restore_host();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iptables_rule_splits_as_the_shell_would() {
        let rule = r#"POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \"podman\" id: \"ab\"" -j CNI-1"#;
        let words = shell_words(rule);
        assert_eq!(words[..3], ["POSTROUTING", "-s", "10.88.0.2/32"]);
        assert_eq!(words[6], r#"name: "podman" id: "ab""#);
        assert_eq!(words[7..], ["-j", "CNI-1"]);
    }

    #[test]
    fn a_table_of_empty_chains_has_no_rules() {
        let empty = "table ip nat {\n\tchain POSTROUTING {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}\n";
        assert!(!has_rules(empty));
        let masquerade = empty.replace("policy accept;\n", "policy accept;\n\t\tmasquerade\n");
        assert!(has_rules(&masquerade));
    }
}
