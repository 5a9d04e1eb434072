//! Layers written a header at a time: `tar::Builder` checks names and refuses
//! `../` and absolute ones, which is exactly what a hostile layer holds. Each
//! entry's name and link name go into the old 100-byte header fields as given.

use std::sync::OnceLock;

use tar::{EntryType, Header};

/// The time every crafted entry has.
const MTIME: u64 = 1_600_000_000;

/// A tar archive, nothing checked; every entry root's.
#[derive(Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    fn entry(mut self, kind: EntryType, name: &str, link: &str, mode: u32, data: &[u8]) -> Tar {
        self.append(kind, name, link, mode, data, (0, 0));
        self
    }

    fn append(
        &mut self,
        kind: EntryType,
        name: &str,
        link: &str,
        mode: u32,
        data: &[u8],
        (major, minor): (u32, u32),
    ) {
        assert!(name.len() < 100 && link.len() < 100, "{name} -> {link}: too long for a header");
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_size(data.len() as u64);
        header.set_device_major(major).expect("a GNU header has device fields");
        header.set_device_minor(minor).expect("a GNU header has device fields");
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(512), 0);
    }

    pub fn dir(self, name: &str) -> Tar {
        self.dir_mode(name, 0o755)
    }

    pub fn dir_mode(self, name: &str, mode: u32) -> Tar {
        self.entry(EntryType::Directory, name, "", mode, b"")
    }

    pub fn file(self, name: &str, text: &str) -> Tar {
        self.file_mode(name, text, 0o644)
    }

    pub fn file_mode(self, name: &str, text: &str, mode: u32) -> Tar {
        self.entry(EntryType::Regular, name, "", mode, text.as_bytes())
    }

    pub fn symlink(self, name: &str, target: &str) -> Tar {
        self.entry(EntryType::Symlink, name, target, 0o777, b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Tar {
        self.entry(EntryType::Link, name, target, 0o644, b"")
    }

    pub fn char_device(mut self, name: &str, major: u32, minor: u32, mode: u32) -> Tar {
        self.append(EntryType::Char, name, "", mode, b"", (major, minor));
        self
    }

    pub fn fifo(self, name: &str, mode: u32) -> Tar {
        self.entry(EntryType::Fifo, name, "", mode, b"")
    }

    /// The archive, with the two zero blocks that end it.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend([0; 1024]);
        self.bytes
    }
}

/// The test rootfs (busybox and the probe) as one layer, under the crafted
/// ones: the container needs `sh`, `find` and `cat` to show what it sees.
pub fn base_layer() -> Vec<u8> {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        tar.append_dir_all(".", crate::support::template_rootfs()).expect("tar the test rootfs");
        tar.into_inner().expect("finish the tar")
    })
    .clone()
}
