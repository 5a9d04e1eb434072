//! `tincan spec [--bundle DIR]`: write a `config.json` to start from, as
//! `runc spec` does — one that tincan runs as it is: a shell, in the
//! namespaces and mounts the chapters make.

use std::path::Path;

use crate::Failure;

/// The starting config. Unlike runc's, no terminal yet, and none of the
/// fields tincan does not honour yet (capabilities, rlimits, masked paths...).
pub const SPEC: &str = r#"{
  "ociVersion": "1.1.0",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/"
  },
  "root": { "path": "rootfs" },
  "hostname": "tincan",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
  ],
  "linux": {
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }
    ]
  }
}
"#;

pub fn spec(bundle: &Path) -> Result<(), Failure> {
    let path = bundle.join("config.json");
    // Never over an existing config: `create_new` fails if there is one.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
    let mut file = file.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            Failure::new(format!("{} exists: remove it first", path.display()))
        }
        _ => Failure::new(format!("create {}: {e}", path.display())),
    })?;
    std::io::Write::write_all(&mut file, SPEC.as_bytes())
        .map_err(|e| Failure::new(format!("write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    /// The starting config is one tincan takes as it is.
    #[test]
    fn tincan_takes_its_own_spec() {
        let bundle = tempfile::tempdir().unwrap();
        super::spec(bundle.path()).unwrap();
        std::fs::create_dir(bundle.path().join("rootfs")).unwrap();
        let filters = crate::seccomp::cache(bundle.path());
        let read = crate::bundle::read(bundle.path(), "spec-test", &filters);
        assert!(read.is_ok(), "{:?}", read.err());
        assert!(super::spec(bundle.path()).is_err(), "never over an existing config");
    }
}
