//! The guest's only file system: an initramfs, a `cpio` archive ("newc" format)
//! that the kernel unpacks into RAM at boot and runs `/init` from.
//!
//! A host file is read only when the archive is written, one at a time: an
//! image of chapter binaries weighs a hundred megabytes or more, and the
//! process that builds it (a test binary, whose children's peak memory some
//! tests measure) should not hold that.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
enum Entry {
    Dir {
        mode: u32,
    },
    File {
        data: Vec<u8>,
        mode: u32,
    },
    /// A host file, read when the archive is written.
    HostFile {
        path: PathBuf,
        mode: u32,
    },
    /// A stripped copy of a host program, kept until the last image that
    /// holds it is gone.
    Stripped {
        copy: Arc<tempfile::NamedTempFile>,
        mode: u32,
    },
    Symlink {
        target: String,
    },
}

/// An initramfs being put together: guest path -> what is there.
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

impl Initramfs {
    pub fn new() -> Self {
        Initramfs::default()
    }

    /// A file with these contents and permission bits.
    pub fn file(&mut self, guest: &str, data: impl Into<Vec<u8>>, mode: u32) {
        self.entries.insert(normal(guest), Entry::File { data: data.into(), mode });
    }

    /// An empty directory.
    pub fn dir(&mut self, guest: &str) {
        self.entries.insert(normal(guest), Entry::Dir { mode: 0o755 });
    }

    /// A copy of a host file (following symlinks), with its permission bits.
    pub fn host_file(&mut self, host: &Path, guest: &str) -> Result<()> {
        let path = fs::canonicalize(host).with_context(|| format!("read {}", host.display()))?;
        let mode = fs::metadata(&path)?.permissions().mode() & 0o7777;
        self.entries.insert(normal(guest), Entry::HostFile { path, mode });
        Ok(())
    }

    /// A host program without its debug information (a debug build is mostly
    /// that, and the guest's memory is small), and the shared libraries it loads,
    /// at the paths `ldd` names (the guest has no other copy of the C library).
    pub fn program(&mut self, host: &Path, guest: &str) -> Result<()> {
        let stripped = tempfile::NamedTempFile::new()?;
        let status = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(stripped.path())
            .arg(host)
            .status()
            .context("run strip (binutils)")?;
        if !status.success() {
            bail!("strip {} failed", host.display());
        }
        let mode = fs::metadata(host)?.permissions().mode() & 0o7777;
        self.entries.insert(normal(guest), Entry::Stripped { copy: Arc::new(stripped), mode });
        let out = Command::new("ldd").arg(host).output().context("run ldd")?;
        // A static program: "not a dynamic executable", and nothing to add.
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next(),
                None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
            };
            if let Some(library) = path.filter(|p| p.starts_with('/')) {
                self.host_file(Path::new(library), library)?;
            }
        }
        Ok(())
    }

    /// A copy of a host directory tree: directories, files and symlinks as they
    /// are (a root filesystem's `/bin/sh -> busybox` stays a link).
    pub fn tree(&mut self, host: &Path, guest: &str) -> Result<()> {
        let meta =
            fs::symlink_metadata(host).with_context(|| format!("read {}", host.display()))?;
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(host)?.to_string_lossy().into_owned();
            self.entries.insert(normal(guest), Entry::Symlink { target });
        } else if file_type.is_dir() {
            self.entries.insert(normal(guest), Entry::Dir { mode: meta.mode() & 0o7777 });
            for entry in fs::read_dir(host)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                self.tree(&entry.path(), &format!("{}/{name}", normal(guest)))?;
            }
        } else if file_type.is_file() {
            self.host_file(host, guest)?;
        } else {
            bail!("{}: only directories, files and symlinks go into the VM", host.display());
        }
        Ok(())
    }

    /// Write the archive. Parents come before their contents (the kernel
    /// creates each entry as it reads it), so missing parents are added first.
    pub fn write(&self, to: &Path) -> Result<()> {
        let mut entries = self.entries.clone();
        for path in self.entries.keys() {
            let mut parent = Path::new(path).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                entries
                    .entry(p.to_string_lossy().into_owned())
                    .or_insert(Entry::Dir { mode: 0o755 });
                parent = p.parent();
            }
        }
        let mut out = BufWriter::new(fs::File::create(to)?);
        for (ino, (path, entry)) in entries.iter().enumerate() {
            let read =
                |host: &Path| fs::read(host).with_context(|| format!("read {}", host.display()));
            let (mode, data): (u32, std::borrow::Cow<[u8]>) = match entry {
                Entry::Dir { mode } => (0o040000 | mode, (&[][..]).into()),
                Entry::File { data, mode } => (0o100000 | mode, data.as_slice().into()),
                Entry::HostFile { path, mode } => (0o100000 | mode, read(path)?.into()),
                Entry::Stripped { copy, mode } => (0o100000 | mode, read(copy.path())?.into()),
                Entry::Symlink { target } => (0o120777, target.as_bytes().into()),
            };
            let header = cpio::newc::Builder::new(path).ino(ino as u32 + 1).mode(mode).nlink(1);
            let mut writer = header.write(&mut out, data.len() as u32);
            writer.write_all(&data)?;
            writer.finish()?;
        }
        cpio::newc::trailer(&mut out)?;
        out.flush()?;
        Ok(())
    }
}

/// Archive paths are relative: "bin/sh", not "/bin/sh".
fn normal(guest: &str) -> String {
    guest.trim_start_matches('/').trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_paths_are_relative() {
        let mut image = Initramfs::new();
        image.file("/usr/local/bin/tool", "#!/bin/sh\n", 0o755);
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("initramfs.cpio");
        image.write(&archive).unwrap();
        let mut reader = fs::File::open(&archive).unwrap();
        let mut names = Vec::new();
        loop {
            let entry = cpio::newc::Reader::new(reader).unwrap();
            if entry.entry().is_trailer() {
                break;
            }
            names.push((entry.entry().name().to_owned(), entry.entry().mode()));
            reader = entry.finish().unwrap();
        }
        assert_eq!(
            names,
            [
                ("usr".to_owned(), 0o040755),
                ("usr/local".to_owned(), 0o040755),
                ("usr/local/bin".to_owned(), 0o040755),
                ("usr/local/bin/tool".to_owned(), 0o100755),
            ]
        );
    }
}
