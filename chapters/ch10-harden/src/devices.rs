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

use std::cell::RefCell;
use std::fs;
use std::io::ErrorKind;
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
/// runc's and Docker's default device rules.
pub const DEFAULT_RULES: [Rule; 10] = [
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

/// Only the default devices: by the v1 `devices` controller where the host has
/// one, else by a BPF program on the container's v2 cgroup.
pub struct DeviceAccess {
    layout: Result<Layout, Errno>,
    /// tincan's part of each hierarchy (`--cgroup-parent`).
    parent: PathBuf,
    v1: RefCell<Option<DevicesDir>>,
}

impl DeviceAccess {
    pub fn new(parent: PathBuf) -> Self {
        let layout =
            Layout::detect().map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw));
        DeviceAccess { layout, parent, v1: RefCell::new(None) }
    }

    fn layout(&self) -> Result<&Layout, StepError> {
        self.layout.as_ref().map_err(|e| StepError::new("read /proc/self/mountinfo", *e))
    }
}

// ANCHOR: step
impl Step for DeviceAccess {
    fn name(&self) -> &'static str {
        "devices"
    }

    /// On v1: record, make and fill the container's devices cgroup.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        let layout = self.layout()?;
        let Some(hierarchy) = layout
            .hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == "devices"))
        else {
            return Ok(()); // v2: the program is attached once the cgroup exists
        };
        let dir = DevicesDir {
            mount: hierarchy.mount.clone(),
            path: hierarchy.mount.join(&self.parent).join(&cx.container.id),
        };
        cx.state.record(RECORD, &dir).doing(|| "record the devices cgroup".into())?;
        fs::create_dir_all(&dir.path).doing(|| format!("create {}", dir.path.display()))?;
        // Deny everything, then allow the rules: a v1 child cgroup starts with
        // its parent's list, which (tincan's, the root's) allows everything.
        write(&dir.path.join("devices.deny"), "a")?;
        for rule in DEFAULT_RULES {
            write(&dir.path.join("devices.allow"), &rule.v1_line())?;
        }
        *self.v1.borrow_mut() = Some(dir);
        Ok(())
    }

    /// v1: move the waiting container in. v2: it was born in chapter 7's
    /// cgroup; attach the program there before it runs a thing.
    fn in_parent(&self, cx: &Context, child: Pid) -> Result<(), StepError> {
        if let Some(dir) = self.v1.borrow().as_ref() {
            return write(&dir.path.join("cgroup.procs"), &child.to_string());
        }
        let layout = self.layout()?;
        let Some(v2) = layout.used().into_iter().find(|h| h.version == Version::V2) else {
            return Ok(());
        };
        let cgroup = v2.mount.join(&self.parent).join(&cx.container.id);
        let dir = fs::File::open(&cgroup).doing(|| format!("open {}", cgroup.display()))?;
        let to_step_error = |e: device_program::DeviceProgramError| {
            StepError::new("allow only the default devices", e.errno()).hint(e.to_string())
        };
        let program = device_program::load(&device_program::program(&DEFAULT_RULES))
            .map_err(to_step_error)?;
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
}
