//! Unpacking, tested with archives crafted a header at a time: what a hostile
//! layer can hold, including what `tar::Builder` refuses to write (`../`).
//! Every test needs root: it sets owners, makes devices and `trusted.*`
//! attributes.

mod find;
mod hostile;
mod kinds;
mod limits;
mod whiteouts;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{Limits, UnpackError, Unpacked, unpack};
pub(super) use crate::testing::root_or_skip;

/// The time every crafted entry has, unless a PAX record says otherwise.
const MTIME: u64 = 1_600_000_000;

/// A tar archive written header by header, nothing checked.
#[derive(Default)]
struct Tar {
    bytes: Vec<u8>,
    /// Owner and device number of the entries that follow.
    owner: (u64, u64),
    device: (u32, u32),
}

impl Tar {
    /// The following entries belong to `uid`, `gid`.
    fn owner(mut self, uid: u64, gid: u64) -> Tar {
        self.owner = (uid, gid);
        self
    }

    /// The following devices are numbered `major`, `minor`.
    fn device(mut self, major: u32, minor: u32) -> Tar {
        self.device = (major, minor);
        self
    }

    /// An entry of `kind`, its name and link name written into the header as
    /// given, `../` and all (each under 100 bytes; longer: `long_name`).
    fn raw(mut self, kind: EntryType, name: &[u8], link: &[u8], mode: u32, data: &[u8]) -> Tar {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(self.owner.0);
        header.set_gid(self.owner.1);
        header.set_device_major(self.device.0).unwrap();
        header.set_device_minor(self.device.1).unwrap();
        header.set_mtime(MTIME);
        header.set_size(data.len() as u64);
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(512), 0);
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Tar {
        self.raw(EntryType::Regular, name.as_bytes(), b"", 0o644, data)
    }

    fn dir(self, name: &str) -> Tar {
        self.raw(EntryType::Directory, name.as_bytes(), b"", 0o755, b"")
    }

    fn symlink(self, name: &str, target: &str) -> Tar {
        self.raw(EntryType::Symlink, name.as_bytes(), target.as_bytes(), 0o777, b"")
    }

    fn hardlink(self, name: &str, target: &str) -> Tar {
        self.raw(EntryType::Link, name.as_bytes(), target.as_bytes(), 0o644, b"")
    }

    /// PAX records (`key=value`) for the next entry.
    fn pax(self, records: &[(&str, &[u8])]) -> Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            // "LEN key=value\n", where LEN counts the whole record, itself too.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            data.extend(format!("{len} {key}=").bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.raw(EntryType::XHeader, b"PaxHeaders/next", b"", 0o644, &data)
    }

    /// A GNU long name for the next entry.
    fn long_name(self, name: &[u8]) -> Tar {
        let data = [name, b"\0"].concat();
        self.raw(EntryType::GNULongName, b"././@LongLink", b"", 0o644, &data)
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.extend([0; 1024]);
        self.bytes
    }
}

/// A temporary directory holding `layer/`, empty, to unpack into, and
/// `outside/secret`: a stand-in for the host, which no archive may touch.
struct Scene {
    tmp: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "host\n").unwrap();
        Scene { tmp, dest, outside }
    }

    fn unpack(&self, tar: Tar) -> Result<Unpacked, UnpackError> {
        unpack(&tar.finish()[..], &self.dest, &Limits::default())
    }

    fn at(&self, path: &str) -> PathBuf {
        self.dest.join(path)
    }

    /// Nothing outside the layer changed: the temporary directory holds only
    /// `layer` and `outside`, and `outside` only `secret`, as it was.
    fn assert_outside_untouched(&self) {
        assert_eq!(names(self.tmp.path()), ["layer", "outside"]);
        assert_eq!(names(&self.outside), ["secret"]);
        let secret = self.outside.join("secret");
        assert_eq!(fs::read_to_string(&secret).unwrap(), "host\n");
        assert_eq!(fs::metadata(&secret).unwrap().nlink(), 1, "no hard link to the host's file");
    }
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// True if `path` is an overlayfs whiteout: a character device 0/0.
fn is_whiteout(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

/// The extended attribute `name` of `path` (link not followed), if set.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buffer = [0u8; 256];
    // SAFETY: both strings are NUL-terminated; the buffer is valid for its length.
    let len = unsafe {
        libc::lgetxattr(path.as_ptr(), name.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len())
    };
    usize::try_from(len).ok().map(|len| buffer[..len].to_vec())
}

/// Opaque to an overlay mounted by the host's root (`trusted.*`) and to one
/// mounted in a user namespace (`user.*`, chapter 9) alike.
fn is_opaque(path: &Path) -> bool {
    let marked = |name| xattr(path, name).as_deref() == Some(&b"y"[..]);
    marked("trusted.overlay.opaque") && marked("user.overlay.opaque")
}
