//! Devices: which device nodes the container may open.
//!
//! A device node is just a file with a type (block or character) and two
//! numbers, major and minor, that name a driver and a device in it: `b 8:0` is
//! the first SCSI disk, `c 1:1` is `/dev/mem`, the machine's physical memory.
//! Chapter 3 gave the container a `/dev` with six harmless nodes, but its root
//! keeps `CAP_MKNOD` (Docker's default set has it: images create nodes when
//! they unpack), so it can make `b 8:0` itself — and a node works wherever it
//! is. Opening it would hand the container the host's disk.
//!
//! So the kernel also asks the container's **cgroup** on every `open(2)` and
//! `mknod(2)` of a device: is this type, major:minor and access (read, write,
//! mknod) allowed? The allowed list is runc's and Docker's default
//! ([`DEFAULT_RULES`]): making any node is fine (`mknod` alone is harmless);
//! reading and writing only `null`, `zero`, `full`, `random`, `urandom`, `tty`,
//! `ptmx` and the terminals in `/dev/pts`.
//!
//! - **cgroup v1** has a `devices` controller: write `a` into the cgroup's
//!   `devices.deny` (deny all), then each rule into `devices.allow`
//!   (`c 1:3 rwm`). Its own hierarchy, so its own directory, made and removed
//!   here ([`DeviceAccess`]), beside chapter 7's.
//! - **cgroup v2** has no such files: a BPF program attached to the cgroup
//!   decides (`device_program.rs`).
//!
//! Man pages: `man 2 mknod`, `man 7 cgroups`; the kernel's
//! `Documentation/admin-guide/cgroup-v1/devices.rst` and
//! `Documentation/admin-guide/devices.txt` (the numbers).

use std::cell::{OnceCell, RefCell};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ch00_process::clone::CloneInto;
use ch00_process::{Context, Doing, Step, StepError};
use ch07_cgroups::{Layout, Version};
use nix::errno::Errno;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::device_program;

/// Block or character device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block,
    Char,
}

/// What a rule allows: mknod (1), read (2), write (4) — the bits of
/// `BPF_DEVCG_ACC_*`, and the letters `m`, `r`, `w` of v1's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    pub const MKNOD: Access = Access(1);
    pub const RWM: Access = Access(1 | 2 | 4);

    /// From v1's letters, as an OCI config also gives them: `rwm`, `r`...
    pub fn from_letters(letters: &str) -> Option<Access> {
        letters.chars().try_fold(Access(0), |access, letter| {
            let bit = match letter {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => return None,
            };
            Some(Access(access.0 | bit))
        })
    }

    pub fn bits(self) -> u8 {
        self.0
    }
}

/// One allowed device, or range of them (`None`: any number, v1's `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

const fn char_rwm(major: u32, minor: Option<u32>) -> Rule {
    Rule { kind: Kind::Char, major: Some(major), minor, access: Access::RWM }
}

// ANCHOR: rules
/// runc's default device rules (`AllowedDevices` in its `specconv`), which it
/// adds to every container's, Docker's included.
pub const DEFAULT_RULES: [Rule; 11] = [
    // Making any node is allowed: opening it is what the rules below decide.
    Rule { kind: Kind::Char, major: None, minor: None, access: Access::MKNOD },
    Rule { kind: Kind::Block, major: None, minor: None, access: Access::MKNOD },
    char_rwm(1, Some(3)), // null
    char_rwm(1, Some(5)), // zero
    char_rwm(1, Some(7)), // full
    char_rwm(1, Some(8)), // random
    char_rwm(1, Some(9)), // urandom
    char_rwm(5, Some(0)), // tty
    char_rwm(5, Some(2)), // ptmx
    char_rwm(136, None),  // /dev/pts/*
    // /dev/net/tun: runc dropped it in 1.2.0 and put it back in 1.2.4 (its
    // commit 394f4c3b "Re-add tun/tap to default device rules"): VPN images
    // relied on it. Harmless to the host: making an interface with it needs
    // CAP_NET_ADMIN, which Docker's set leaves out, and the interface would be
    // in the container's own network namespace. (Docker's spec also allows
    // `c 5:1`, /dev/console; our containers have none: a terminal is a pty,
    // 136:*.)
    char_rwm(10, Some(200)),
];
// ANCHOR_END: rules

impl Rule {
    /// The rule as v1's `devices.allow` takes it: `c 1:3 rwm`, `b *:* m`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let number = |n: Option<u32>| n.map_or("*".to_owned(), |n| n.to_string());
        let access: String = [(2, 'r'), (4, 'w'), (1, 'm')]
            .iter()
            .filter(|(bit, _)| self.access.0 & bit != 0)
            .map(|(_, c)| *c)
            .collect();
        format!("{kind} {}:{} {access}", number(self.major), number(self.minor))
    }
}

/// Where the v1 devices cgroup is recorded in the container's state.
const RECORD: &str = "devices-cgroup";

/// The container's directory in the v1 `devices` hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DevicesDir {
    /// The hierarchy's mount: parents are removed up to it, never it.
    mount: PathBuf,
    path: PathBuf,
}

/// How the container's devices are restricted, decided before `clone(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// A BPF program on the container's cgroup in this v2 hierarchy.
    V2Program { mount: PathBuf },
    /// The v1 `devices` controller mounted here.
    V1Controller { mount: PathBuf },
}

/// Neither way is there: the container would open any device. We refuse.
pub const NO_DEVICE_CONTROL: &str = "the container would be in no cgroup v2 hierarchy and the host has no v1 devices controller mounted, so nothing would stop it opening a disk: mount one (mount -t cgroup -o devices devices /sys/fs/cgroup/devices), or boot with cgroup v2";

// ANCHOR: choose
/// Which way this host restricts devices — never none.
///
/// - The container is in a **v2** cgroup (chapter 7 put it in the v2
///   hierarchy, as on every pure v2 host): the program, attached there. On a
///   hybrid host chapter 7 uses the v1 controllers, so there is no such cgroup.
/// - Else the **v1 `devices` controller**, wherever it is mounted.
/// - Else `None`, and the caller refuses to start: a container that can open
///   every device node it makes is not a container (runc refuses too).
pub fn choose(layout: &Layout) -> Option<Enforcement> {
    if let Some(v2) = layout.used().into_iter().find(|h| h.version == Version::V2) {
        return Some(Enforcement::V2Program { mount: v2.mount.clone() });
    }
    layout
        .hierarchies
        .iter()
        .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == "devices"))
        .map(|h| Enforcement::V1Controller { mount: h.mount.clone() })
}
// ANCHOR_END: choose

/// Only the default devices: by a BPF program on the container's v2 cgroup,
/// else by the v1 `devices` controller; a host with neither is refused.
pub struct DeviceAccess {
    /// Read when first needed: a clean-up (every `run` sweeps dead runtimes'
    /// leftovers with this step) needs only the record, not the mount table.
    layout: OnceCell<Result<Layout, Errno>>,
    /// tincan's part of each hierarchy (`--cgroup-parent`).
    parent: PathBuf,
    /// The cgroup's name in `parent`, if not the container's id.
    name: Option<String>,
    /// What may be opened: [`DEFAULT_RULES`], or an OCI config's list.
    rules: Vec<Rule>,
    v1: RefCell<Option<DevicesDir>>,
}

impl DeviceAccess {
    /// runc's default devices.
    pub fn new(parent: PathBuf) -> Self {
        DeviceAccess::with_rules(parent, DEFAULT_RULES.to_vec())
    }

    /// The devices `rules` allow, and no other.
    pub fn with_rules(parent: PathBuf, rules: Vec<Rule>) -> Self {
        DeviceAccess { layout: OnceCell::new(), parent, name: None, rules, v1: RefCell::new(None) }
    }

    /// The same, for a cgroup called `name` rather than the container's id
    /// (chapter 7's `JoinCgroup::named`).
    pub fn named(self, name: Option<String>) -> Self {
        DeviceAccess { name, ..self }
    }

    /// The container's cgroup in the hierarchy at `mount`.
    fn cgroup(&self, mount: &Path, cx: &Context) -> PathBuf {
        mount.join(&self.parent).join(self.name.as_deref().unwrap_or(&cx.container.id))
    }

    fn enforcement(&self) -> Result<Enforcement, StepError> {
        let layout = self.layout.get_or_init(|| {
            Layout::detected().map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
        });
        let layout =
            layout.as_ref().map_err(|e| StepError::new("read /proc/self/mountinfo", *e))?;
        choose(layout).ok_or_else(|| {
            StepError::new("restrict the devices the container may open", Errno::ENODEV)
                .hint(NO_DEVICE_CONTROL)
        })
    }
}

// ANCHOR: step
impl Step for DeviceAccess {
    fn name(&self) -> &'static str {
        "devices"
    }

    /// On v1: record, make and fill the container's devices cgroup.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        let Enforcement::V1Controller { mount } = self.enforcement()? else {
            return Ok(()); // v2: the program is attached once the cgroup exists
        };
        let dir = DevicesDir { path: self.cgroup(&mount, cx), mount };
        // Someone else's (an engine may name the cgroup): never ours to
        // rewrite the list of, nor to remove.
        if dir.path.exists() {
            let error = StepError::new("make the devices cgroup", Errno::EEXIST);
            return Err(
                error.hint(format!("{} exists already: another container's?", dir.path.display()))
            );
        }
        cx.state.record(RECORD, &dir).doing(|| "record the devices cgroup".into())?;
        // One made since the check above is someone else's: not recorded as ours.
        if let Err(e) = ch07_cgroups::make_leaf(&dir.path) {
            if e.kind() == ErrorKind::AlreadyExists {
                let _ = cx.state.forget(RECORD);
            }
            return Err(e).doing(|| format!("create {}", dir.path.display()));
        }
        // Deny everything, then allow the rules: a v1 child cgroup starts with
        // its parent's list, which (tincan's, the root's) allows everything.
        write(&dir.path.join("devices.deny"), "a")?;
        allow(&dir.path.join("devices.allow"), &self.rules)?;
        *self.v1.borrow_mut() = Some(dir);
        Ok(())
    }

    /// v1: move the waiting container in. v2: it was born in chapter 7's
    /// cgroup; attach the program there before it runs a thing.
    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        if let Some(dir) = self.v1.borrow().as_ref() {
            return write(&dir.path.join("cgroup.procs"), &child.to_string());
        }
        let Enforcement::V2Program { mount } = self.enforcement()? else {
            unreachable!("before_clone made the v1 cgroup")
        };
        let cgroup = self.cgroup(&mount, cx);
        let dir = fs::File::open(&cgroup).doing(|| format!("open {}", cgroup.display()))?;
        let to_step_error = |e: device_program::DeviceProgramError| {
            StepError::new("allow only the default devices", e.errno()).hint(e.to_string())
        };
        let program =
            device_program::load(&device_program::program(&self.rules)).map_err(to_step_error)?;
        device_program::attach(program.as_fd(), dir.as_fd()).map_err(to_step_error)
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(()) // the runtime does it all, from outside
    }

    /// Remove the v1 directory (and tincan's parents, once empty). The step
    /// runs first, so its clean-up runs last: after chapter 7's, which waits
    /// for the container's processes to be gone.
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let recorded = cx.state.recorded::<DevicesDir>(RECORD).doing(|| "read a record".into())?;
        if let Some(dir) = recorded {
            remove(&dir)?;
        }
        self.v1.borrow_mut().take();
        cx.state.forget(RECORD).doing(|| "forget the devices cgroup".into())
    }
}
// ANCHOR_END: step

fn write(file: &Path, text: &str) -> Result<(), StepError> {
    fs::write(file, text).doing(|| format!("write {text:?} into {}", file.display()))
}

/// Each rule into v1's `devices.allow`: one `write(2)` a rule (the kernel
/// parses one rule per write), through one open file.
fn allow(file: &Path, rules: &[Rule]) -> Result<(), StepError> {
    let mut allow = fs::OpenOptions::new()
        .write(true)
        .open(file)
        .doing(|| format!("open {}", file.display()))?;
    for rule in rules {
        let line = rule.v1_line();
        allow
            .write_all(line.as_bytes())
            .doing(|| format!("write {line:?} into {}", file.display()))?;
    }
    Ok(())
}

fn remove(dir: &DevicesDir) -> Result<(), StepError> {
    let start = Instant::now();
    loop {
        match fs::remove_dir(&dir.path) {
            Ok(()) => break,
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            // Processes that are still leaving.
            Err(e)
                if e.raw_os_error() == Some(Errno::EBUSY as i32)
                    && start.elapsed() < Duration::from_secs(2) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).doing(|| format!("remove {}", dir.path.display())),
        }
    }
    let mut parent = dir.path.parent();
    while let Some(path) = parent.filter(|p| p.starts_with(&dir.mount) && *p != dir.mount) {
        if fs::remove_dir(path).is_err() {
            break; // another container's cgroup is in it
        }
        parent = path.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_v1_words() {
        let lines: Vec<String> = DEFAULT_RULES.iter().map(Rule::v1_line).collect();
        assert_eq!(lines[..3], ["c *:* m", "b *:* m", "c 1:3 rwm"]);
        assert_eq!(lines[9], "c 136:* rwm");
    }

    fn layout(table: &str, v2_controllers: &str) -> Layout {
        Layout::parse(table, |_| v2_controllers.to_owned())
    }

    const V1_DEVICES: &str = "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n";
    const V1_MEMORY: &str = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    const UNIFIED: &str = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    const PURE_V2: &str = "25 24 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn the_v2_program_where_the_container_has_a_v2_cgroup_else_v1_else_none() {
        let v2 = |m: &str| Some(Enforcement::V2Program { mount: m.into() });
        let v1 = |m: &str| Some(Enforcement::V1Controller { mount: m.into() });
        // Pure v2: chapter 7 puts the container there.
        assert_eq!(choose(&layout(PURE_V2, "cpu io memory pids")), v2("/sys/fs/cgroup"));
        // Hybrid (ours): the container's cgroups are v1, so v1's controller.
        let hybrid = [V1_MEMORY, V1_DEVICES, UNIFIED].concat();
        assert_eq!(choose(&layout(&hybrid, "hugetlb")), v1("/sys/fs/cgroup/devices"));
        // Hybrid whose v2 tree holds the controllers chapter 7 uses: v2.
        let v2_used = [V1_DEVICES, UNIFIED].concat();
        assert_eq!(choose(&layout(&v2_used, "memory pids")), v2("/sys/fs/cgroup/unified"));
        // No devices controller, no v2 cgroup for the container: refused.
        assert_eq!(choose(&layout(&[V1_MEMORY, UNIFIED].concat(), "hugetlb")), None);
        assert_eq!(choose(&layout("", "")), None);
    }
}
