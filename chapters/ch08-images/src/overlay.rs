//! The container's root: the image's layers, stacked by overlayfs under a
//! writable directory of the container's own.
//!
//! An overlay mount shows several directories as one. The **lower** directories
//! (here: the image's layers, each unpacked once in the store) are read-only
//! and stacked, the upper ones hiding the lower ones' files of the same name.
//! Over them lies one **upper** directory, which takes every change: a file
//! written is written there; a file of a layer that is changed is first copied
//! up there whole; a file that is deleted gets a *whiteout* there (a character
//! device 0/0) that hides the layers' copy. The layers themselves never change,
//! so any number of containers can share them. overlayfs also needs a **work**
//! directory on the upper's file system, for its copies in progress. A layer
//! unpacked from an image already speaks this language: its deletions are
//! whiteouts, and a directory it replaces whole is marked *opaque* (the xattr
//! `trusted.overlay.opaque=y`), hiding everything the layers below have in it.
//! (The kernel's `Documentation/filesystems/overlayfs.rst`.)
//!
//! A container gets `STORE/containers/ID/`, mode 700 (its `upper/` holds files
//! the container made — set-uid programs among them — that no user of the host
//! should reach), with `upper/`, `work/`, `rootfs/` (where the overlay is
//! mounted) and `lower/` (see below). The mount itself is made in the child,
//! once its mounts are private: it never appears in the host's mount table, and
//! it goes away with the container's mount namespace.
//!
//! # Order
//!
//! An image's manifest lists its layers **bottom first**, in the order they
//! were built. overlayfs's `lowerdir=A:B:C` is **top first**: `A` hides `B`.
//! So the list is reversed on its way into the mount options.
//!
//! # The page limit, and the numbered links
//!
//! `mount(2)` copies its options (`data`) from the caller in one page: 4096
//! bytes. A layer's directory, `/var/lib/tincan/layers/sha256/` and 64 hex
//! digits, is about 100 bytes, so `lowerdir=` with absolute paths overflows the
//! page at about 40 layers — and images of 50 or 100 layers exist. overlayfs
//! itself stacks up to 500 (`OVL_MAX_STACK`). The ways around it:
//!
//! - **Short names, relative to a directory** (what we do). Before `clone`, the
//!   runtime makes `lower/0`, `lower/1`, … — symbolic links to the layers,
//!   numbered bottom first. The child changes into `lower/` and mounts with
//!   `lowerdir=2:1:0,upperdir=../upper,workdir=../work`: the kernel resolves
//!   the names relative to the current directory and follows the links. 500
//!   layers take under 2000 bytes. containers/storage (Podman's store) does the
//!   same with its `l/` directory of short random links, and Docker's overlay2
//!   driver too. A bonus: `:` and `,` separate the options, so a path holding
//!   one (`/srv/a:b/store`) would need escaping; our names never do.
//! - **The new mount API** (`fsopen(2)`, `fsconfig(2)`, `fsmount(2)`): one
//!   option per call, so no page to fill — but `fsconfig` takes at most 255
//!   bytes per value, which is *worse* for one long `lowerdir`, until Linux 6.8
//!   added `lowerdir+`, one layer per call. Clean, but only on 6.8 and later,
//!   so we would still need the links for older kernels.
//! - **Fewer layers**: flattening the image into one directory (a copy per
//!   container, losing the sharing), or overlays stacked on overlays (the
//!   kernel allows only two levels of that).
//!
//! The links cost one `chdir` in the child, which is its own process, and a
//! small directory that goes with the container's.
//!
//! # Clean-up
//!
//! The runtime removes the container's directory once the container has ended
//! (from its record, so also after a runtime that died), unless asked to keep
//! it: `upper/` then shows exactly what the container changed.

use std::cell::RefCell;
use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use ch00_process::clone::CloneInto;
use ch00_process::{Container, Context, Doing, Step, StepError};
use nix::errno::Errno;
use nix::fcntl::{Flock, OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir};
use serde::{Deserialize, Serialize};

/// The most lower layers overlayfs stacks (`OVL_MAX_STACK`, `fs/overlayfs/params.h`).
pub const MAX_LAYERS: usize = 500;

/// Where the container's directory is recorded in its state.
const RECORD: &str = "overlay";

/// The parts of the container's directory.
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";
const ROOTFS: &str = "rootfs";
pub const LOWER: &str = "lower";

/// Mount the image's layers as the container's root.
pub struct Overlay {
    /// The layers' directories, bottom layer first, as the manifest lists them.
    lowers: Vec<PathBuf>,
    /// Keep the container's directory when it ends.
    keep: bool,
    /// The store's shared lock, held from the moment the image was found
    /// until its layers are linked from `lower/`: from then on, `rmi` sees
    /// that this container stands on them ([`layers_in_use`]).
    store_lock: RefCell<Option<Flock<File>>>,
}

impl Overlay {
    pub fn new(lowers: Vec<PathBuf>, keep: bool) -> Overlay {
        Overlay { lowers, keep, store_lock: RefCell::new(None) }
    }

    /// Hold `lock` until the layers are linked.
    pub fn holding(self, lock: Option<Flock<File>>) -> Overlay {
        *self.store_lock.borrow_mut() = lock;
        self
    }
}

/// What the clean-up needs, written down before anything is made: a `chNN
/// cleanup` after a crash builds the step without the options it ran with.
#[derive(Serialize, Deserialize)]
struct Recorded {
    dir: PathBuf,
    keep: bool,
}

// ANCHOR: step
impl Step for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    /// Record the container's directory, then make it: `upper`, `work`,
    /// `rootfs`, and the numbered links to the layers in `lower`.
    fn before_clone(&self, cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        if self.lowers.len() > MAX_LAYERS {
            return Err(StepError::new("stack the image's layers", Errno::E2BIG).hint(format!(
                "the image has {} layers and overlayfs stacks at most {MAX_LAYERS}: flatten it into fewer",
                self.lowers.len()
            )));
        }
        let dir = container_dir(cx.container)?;
        let record = Recorded { dir: dir.clone(), keep: self.keep };
        cx.state.record(RECORD, &record).doing(|| "record the container's directory".into())?;
        make_dir(&dir, 0o700)?;
        for part in [UPPER, WORK, ROOTFS, LOWER] {
            make_dir(&dir.join(part), 0o755)?;
        }
        let linked = link_layers(&dir.join(LOWER), &self.lowers);
        self.store_lock.borrow_mut().take();
        linked
    }

    /// Mount the overlay on the rootfs, from inside `lower/` (see the module
    /// comment), then go back to where we were.
    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let lower = container_dir(cx.container)?.join(LOWER);
        mount_from(&lower, &cx.container.rootfs, &mount_data(self.lowers.len().max(1)))
    }

    /// Remove the container's directory unless it is to be kept, from the
    /// record. `remove_dir_all` does not follow symbolic links: it removes
    /// `lower/0`, not the layer it points to.
    fn cleanup(&self, cx: &Context) -> Result<(), StepError> {
        let recorded = cx.state.recorded::<Recorded>(RECORD).doing(|| "read a record".into())?;
        // Kept: nobody removes it for us. `ch08 run --keep` prints where it is,
        // and the user looks into its `upper/` and removes it when done.
        if let Some(Recorded { dir, keep: false }) = recorded {
            let removed = fs::remove_dir_all(&dir);
            // Gone already (the runtime died before making it): nothing to do.
            if !matches!(&removed, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                removed.doing(|| format!("remove {}", dir.display()))?;
            }
        }
        cx.state.forget(RECORD).doing(|| "forget the container's directory".into())
    }
}
// ANCHOR_END: step

// ANCHOR: mount_data
/// The options for `layers` lower layers, named by their links in `lower/`:
/// `lowerdir=2:1:0,upperdir=../upper,workdir=../work`. Top layer first.
pub fn mount_data(layers: usize) -> String {
    let lowers: Vec<String> = (0..layers).rev().map(|n| n.to_string()).collect();
    format!("lowerdir={},upperdir=../{UPPER},workdir=../{WORK}", lowers.join(":"))
}

/// Mount an overlay with the options `data` on `rootfs`, from inside `dir`,
/// whose short names `data` uses; then go back to where we were. (Chapter 9
/// mounts its own overlays this way too.)
pub fn mount_from(dir: &Path, rootfs: &Path, data: &str) -> Result<(), StepError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let back = open(".", flags, Mode::empty()).doing(|| "open the current directory".into())?;
    chdir(dir).doing(|| format!("chdir to {}", dir.display()))?;
    let mounted = mount(Some("overlay"), rootfs, Some("overlay"), MsFlags::empty(), Some(data));
    fchdir(&back).doing(|| "go back to the directory we were in".into())?;
    mounted
        .doing(|| format!("mount the overlay ({data}) on {}", rootfs.display()))
        .map_err(|e| e.hint("overlayfs says why in the kernel's log: see `dmesg | tail`"))
}
// ANCHOR_END: mount_data

/// The container's directory: the parent of its rootfs, which must be
/// `…/containers/ID/rootfs`. Checked because the clean-up removes it whole.
pub fn container_dir(container: &Container) -> Result<PathBuf, StepError> {
    let rootfs = &container.rootfs;
    let ours = |dir: &&Path| {
        rootfs.file_name().is_some_and(|n| n == ROOTFS)
            && dir.file_name().is_some_and(|n| n == container.id.as_str())
    };
    rootfs.parent().filter(ours).map(Path::to_owned).ok_or_else(|| {
        let action = format!("use {} as an overlay root", rootfs.display());
        let hint = format!("an overlay root is STORE/containers/{}/rootfs", container.id);
        StepError::new(action, Errno::EINVAL).hint(hint)
    })
}

/// Make `dir` if it is missing, with exactly `mode` (whatever the umask).
fn make_dir(dir: &Path, mode: u32) -> Result<(), StepError> {
    match DirBuilder::new().mode(mode).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => fs::set_permissions(dir, fs::Permissions::from_mode(mode)),
    }
    .doing(|| format!("make {}", dir.display()))
}

/// `lower/N` → the layer N (bottom first). An image without layers gets one
/// empty directory instead: overlayfs needs at least one lower directory
/// (and chapter 9 knows that [`LOWER`]`/0` then is it).
fn link_layers(lower: &Path, layers: &[PathBuf]) -> Result<(), StepError> {
    if layers.is_empty() {
        return make_dir(&lower.join("0"), 0o755);
    }
    for (n, layer) in layers.iter().enumerate() {
        // Absolute, so that the link works from wherever it is read.
        let target = fs::canonicalize(layer)
            .doing(|| format!("find the layer {}", layer.display()))
            .map_err(|e| e.hint("the store has lost an unpacked layer: pull the image again"))?;
        let link = lower.join(n.to_string());
        symlink(&target, &link).doing(|| format!("link {} to the layer", link.display()))?;
    }
    Ok(())
}

/// The layers (hex diff ids) the container whose directory is `dir` stands
/// on, read from its links: `rmi` must not remove them while it runs.
pub fn layers_in_use(dir: &Path) -> Vec<String> {
    let entries = fs::read_dir(dir.join(LOWER)).into_iter().flatten().flatten();
    let targets = entries.filter_map(|e| fs::read_link(e.path()).ok());
    targets.filter_map(|t| Some(t.file_name()?.to_str()?.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::fs::FileTypeExt;

    use nix::sched::{CloneFlags, unshare};
    use nix::sys::stat::{SFlag, makedev, mknod};

    use super::*;
    use crate::testing::{Fixture, in_a_child, root_or_skip};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let entries = fs::read_dir(dir).unwrap();
        let mut names: Vec<String> =
            entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_options_name_the_top_layer_first() {
        assert_eq!(mount_data(3), "lowerdir=2:1:0,upperdir=../upper,workdir=../work");
        assert_eq!(mount_data(1), "lowerdir=0,upperdir=../upper,workdir=../work");
    }

    #[test]
    fn the_options_for_200_and_even_500_layers_fit_in_a_page() {
        // mount(2) copies one page, 4096 bytes, with the string's final NUL.
        assert!(mount_data(200).len() < 4096 / 4, "{}", mount_data(200).len());
        assert!(mount_data(MAX_LAYERS).len() < 4096, "{}", mount_data(MAX_LAYERS).len());
    }

    #[test]
    fn before_clone_records_then_makes_the_directory_and_numbered_links() {
        let fixture = Fixture::new();
        let layers: Vec<PathBuf> = (0..3).map(|n| fixture.layer(n, &[])).collect();
        fixture.prepare(&Overlay::new(layers.clone(), false)).unwrap();
        assert_eq!(fixture.state.records(), ["overlay"]);
        let dir = fixture.dir();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(names(&dir), ["lower", "rootfs", "upper", "work"]);
        for part in ["lower", "rootfs", "upper", "work"] {
            assert_eq!(mode(&dir.join(part)), 0o755, "{part}");
        }
        assert_eq!(names(&dir.join("lower")), ["0", "1", "2"]);
        for (n, layer) in layers.iter().enumerate() {
            assert_eq!(fs::read_link(dir.join(format!("lower/{n}"))).unwrap(), *layer);
        }
    }

    #[test]
    fn an_image_without_layers_gets_one_empty_lower_directory() {
        let fixture = Fixture::new();
        fixture.prepare(&Overlay::new(vec![], false)).unwrap();
        let lower = fixture.dir().join("lower/0");
        assert!(fs::symlink_metadata(&lower).unwrap().is_dir());
        assert!(names(&lower).is_empty());
    }

    #[test]
    fn more_layers_than_overlayfs_stacks_is_an_error_before_anything_is_made() {
        let fixture = Fixture::new();
        let layers = vec![PathBuf::from("/nowhere"); MAX_LAYERS + 1];
        let error = fixture.prepare(&Overlay::new(layers, false)).unwrap_err();
        assert!(error.to_string().contains("the image has 501 layers"), "{error}");
        assert!(fixture.state.records().is_empty());
        assert!(!fixture.dir().exists());
    }

    #[test]
    fn a_missing_layer_is_an_error_that_says_to_pull_again() {
        let fixture = Fixture::new();
        let error = fixture.prepare(&Overlay::new(vec!["/nowhere".into()], false)).unwrap_err();
        assert!(error.to_string().contains("pull the image again"), "{error}");
    }

    #[test]
    fn a_rootfs_outside_a_container_directory_is_refused() {
        let mut fixture = Fixture::new();
        fixture.container.rootfs = fixture.store.path().join("somewhere/rootfs");
        let error = fixture.prepare(&Overlay::new(vec![], false)).unwrap_err();
        assert_eq!(error.errno(), Errno::EINVAL, "{error}");
        assert!(fixture.state.records().is_empty());
    }

    #[test]
    fn cleanup_removes_the_directory_but_not_the_layers() {
        let fixture = Fixture::new();
        let layer = fixture.layer(0, &[("etc/hostname", "layer")]);
        let overlay = Overlay::new(vec![layer.clone()], false);
        fixture.prepare(&overlay).unwrap();
        overlay.cleanup(&fixture.cx()).unwrap();
        assert!(!fixture.dir().exists());
        assert_eq!(fs::read_to_string(layer.join("etc/hostname")).unwrap(), "layer");
        assert!(fixture.state.records().is_empty());
    }

    #[test]
    fn cleanup_follows_the_record_not_its_own_options() {
        // A kept directory stays, even for a step built with default options
        // (as `chNN cleanup` builds it); only the record goes.
        let fixture = Fixture::new();
        fixture.prepare(&Overlay::new(vec![], true)).unwrap();
        Overlay::new(vec![], false).cleanup(&fixture.cx()).unwrap();
        assert!(fixture.dir().join("upper").is_dir());
        assert!(fixture.state.records().is_empty());
        // And one not to be kept goes, whatever the step says.
        let fixture = Fixture::new();
        fixture.prepare(&Overlay::new(vec![], false)).unwrap();
        Overlay::new(vec![], true).cleanup(&fixture.cx()).unwrap();
        assert!(!fixture.dir().exists());
    }

    #[test]
    fn a_record_whose_directory_is_missing_is_fine() {
        let fixture = Fixture::new();
        let record = Recorded { dir: fixture.dir(), keep: false };
        fixture.state.record(RECORD, &record).unwrap();
        Overlay::new(vec![], false).cleanup(&fixture.cx()).unwrap();
        assert!(fixture.state.records().is_empty());
    }

    /// In a child: a mount namespace of its own, private, the overlay mounted,
    /// and `look` at the rootfs.
    fn mount_and_look(
        fixture: &Fixture,
        overlay: &Overlay,
        look: impl Fn(&Path) -> String,
    ) -> String {
        in_a_child(|| {
            unshare(CloneFlags::CLONE_NEWNS).expect("a mount namespace");
            let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
            mount(None::<&str>, "/", None::<&str>, private, None::<&str>).expect("private");
            match overlay.in_child(&fixture.cx()) {
                Ok(()) => look(&fixture.container.rootfs),
                Err(e) => format!("mount failed: {e}"),
            }
        })
    }

    #[test]
    fn the_overlay_stacks_layers_honours_whiteouts_and_writes_to_upper() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new();
        let bottom =
            fixture.layer(0, &[("a/keep", ""), ("a/gone", ""), ("b/old", ""), ("top", "0")]);
        let middle = fixture.layer(1, &[("b/new", ""), ("top", "1")]);
        // `a/gone` deleted (a whiteout); `b` replaced whole (opaque).
        fs::create_dir(middle.join("a")).unwrap();
        mknod(&middle.join("a/gone"), SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
        let b = CString::new(middle.join("b").into_os_string().into_encoded_bytes()).unwrap();
        let (name, value) = (c"trusted.overlay.opaque", c"y");
        // SAFETY: the path and the name are NUL-terminated; the value is 1 byte.
        let set = unsafe { libc::setxattr(b.as_ptr(), name.as_ptr(), value.as_ptr().cast(), 1, 0) };
        assert_eq!(set, 0, "{}", io::Error::last_os_error());
        let top = fixture.layer(2, &[("top", "2")]);
        let overlay = Overlay::new(vec![bottom.clone(), middle.clone(), top], false);
        fixture.prepare(&overlay).unwrap();

        let seen = mount_and_look(&fixture, &overlay, |root| {
            fs::write(root.join("written"), "by the container").unwrap();
            let top = fs::read_to_string(root.join("top")).unwrap();
            format!("top={top} a={:?} b={:?}", names(&root.join("a")), names(&root.join("b")))
        });
        assert_eq!(seen, r#"top=2 a=["keep"] b=["new"]"#);
        let upper = fixture.dir().join("upper/written");
        assert_eq!(fs::read_to_string(upper).unwrap(), "by the container");
        assert!(names(&fixture.container.rootfs).is_empty(), "the host sees no mount");

        overlay.cleanup(&fixture.cx()).unwrap();
        assert!(!fixture.dir().exists());
        assert!(bottom.join("a/gone").is_file(), "the layers are untouched");
        assert!(fs::symlink_metadata(middle.join("a/gone")).unwrap().file_type().is_char_device());
    }

    #[test]
    fn an_image_of_500_layers_mounts() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new();
        let layers: Vec<PathBuf> = (0..MAX_LAYERS)
            .map(|n| fixture.layer(n, &[("top", &n.to_string()), (&format!("only-{n}"), "")]))
            .collect();
        let overlay = Overlay::new(layers, false);
        fixture.prepare(&overlay).unwrap();
        let seen = mount_and_look(&fixture, &overlay, |root| {
            let top = fs::read_to_string(root.join("top")).unwrap();
            format!("top={top} files={}", names(root).len())
        });
        assert_eq!(seen, format!("top=499 files={}", MAX_LAYERS + 1));
        overlay.cleanup(&fixture.cx()).unwrap();
    }

    #[test]
    fn an_image_without_layers_mounts_an_empty_writable_root() {
        if !root_or_skip() {
            return;
        }
        let fixture = Fixture::new();
        let overlay = Overlay::new(vec![], false);
        fixture.prepare(&overlay).unwrap();
        let seen = mount_and_look(&fixture, &overlay, |root| {
            let empty = names(root).is_empty();
            fs::create_dir(root.join("made")).unwrap();
            format!("empty={empty} then={:?}", names(root))
        });
        assert_eq!(seen, r#"empty=true then=["made"]"#);
        overlay.cleanup(&fixture.cx()).unwrap();
    }
}
