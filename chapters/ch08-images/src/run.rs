//! `ch08 run IMAGE [CMD...]`: chapter 7's container, on a root stacked from the
//! image's layers, running what the image's config says, as whom and where.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ch00_process::{Container, Plan};
use ch07_cgroups::CgroupOptions;
use nix::fcntl::Flock;

use crate::config::{self, ConfigError};
use crate::image::{Image, ImageError};
use crate::overlay::Overlay;
use crate::store::{Store, StoreError};
use crate::unpack::{UnpackError, find_in_layers};
use crate::user::{self, Ids, SwitchUser, UserError};
use crate::workdir::WorkDir;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("finding {path} in the image: {source}")]
    Find { path: &'static str, source: UnpackError },
    #[error("reading {path} from the image: {source}")]
    Read { path: &'static str, source: std::io::Error },
    #[error("the image's /{path} is not a regular file: the image is broken, or hostile")]
    NotAFile { path: &'static str },
}

/// What chapter 8 adds to a container, worked out from the image before it starts.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The layers, bottom first.
    pub lowers: Vec<PathBuf>,
    /// Keep the container's upper directory after it ends (`--keep`).
    pub keep: bool,
    pub working_dir: Option<PathBuf>,
    pub ids: Ids,
    /// The store's shared lock, from finding the image until its layers are
    /// linked into the container's directory (then `rmi` knows it uses them).
    pub store_lock: Option<Flock<File>>,
}

// ANCHOR: plan
/// Chapter 8's plan: chapter 7's, on an overlay of the image's layers (mounted
/// once mounts are private, before anything is bound into the root), then into
/// the image's working directory and, last of all, its user.
pub fn plan(options: &CgroupOptions, prepared: Prepared) -> Plan {
    let overlay = Overlay::new(prepared.lowers, prepared.keep).holding(prepared.store_lock);
    let mut plan = ch07_cgroups::plan(options).insert_after("make mounts private", overlay);
    if let Some(dir) = prepared.working_dir {
        plan = plan.then(WorkDir::new(dir));
    }
    let mut plan = plan.then(SwitchUser::new(prepared.ids));
    plan.root_from_steps = true;
    plan
}
// ANCHOR_END: plan

/// The container for `image` with `command` (empty: the image's own), as
/// `user` (`None`: the image's), and what the plan needs to know of the image.
pub fn prepare(
    store: &Store,
    name: &str,
    command: &[String],
    user: Option<&str>,
    keep: bool,
) -> Result<(Container, Prepared), RunError> {
    let store_lock = store.lock_shared()?;
    let image = Image::find(store, name)?;
    let lowers = image.layer_dirs(store)?;
    let settings = image.config.config().as_ref();
    let argv = config::argv(settings, command)?;
    // The user's name means what the image's /etc/passwd says, read from the
    // layers (inside each, never through the host's view of a link).
    let passwd = read_in_layers(&lowers, "etc/passwd")?;
    let group = read_in_layers(&lowers, "etc/group")?;
    let image_user = settings.and_then(|c| c.user().clone()).unwrap_or_default();
    let user = user.unwrap_or(&image_user);
    let ids = user::resolve(user, passwd.as_deref(), group.as_deref())?;
    let term = std::env::var("TERM").ok();

    let mut container = Container::new(PathBuf::new(), argv);
    container.rootfs = store.container_dir(&container.id).join("rootfs");
    container.env = config::environment(settings, ids.home.as_deref(), term);
    let working_dir = config::working_dir(settings)?;
    let store_lock = Some(store_lock);
    Ok((container, Prepared { lowers, keep, working_dir, ids, store_lock }))
}

/// `ch08 run ./rootfs`: a directory instead of an image, as every earlier
/// chapter runs. It becomes the overlay's one lower layer, so the container's
/// changes go to its own upper directory and the directory itself stays as it
/// was. Whatever starts with `/` or `.` is a directory; anything else is an
/// image name (`rootfs` is the image `docker.io/library/rootfs`).
pub fn is_rootfs(argument: &str) -> bool {
    argument.starts_with('/') || argument.starts_with('.')
}

/// The container for the directory `rootfs`, running `command` (default: a shell).
pub fn prepare_rootfs(
    store: &Store,
    rootfs: &Path,
    command: &[String],
    keep: bool,
) -> (Container, Prepared) {
    let argv = if command.is_empty() { vec!["/bin/sh".to_owned()] } else { command.to_vec() };
    let mut container = Container::new(PathBuf::new(), argv);
    container.rootfs = store.container_dir(&container.id).join("rootfs");
    (container, Prepared { lowers: vec![rootfs.to_owned()], keep, ..Prepared::default() })
}

/// The text of `path` as the merged image shows it, if it has one (at most 1 MiB).
fn read_in_layers(lowers: &[PathBuf], path: &'static str) -> Result<Option<String>, RunError> {
    let found = find_in_layers(lowers, Path::new(path))
        .map_err(|source| RunError::Find { path, source })?;
    let Some((_, file)) = found else { return Ok(None) };
    let regular = file.metadata().map_err(|source| RunError::Read { path, source })?.is_file();
    if !regular {
        return Err(RunError::NotAFile { path });
    }
    // Bytes, not UTF-8: a Latin-1 name in a comment field must not stop a run.
    let mut bytes = Vec::new();
    let read = file.take(1 << 20).read_to_end(&mut bytes);
    read.map_err(|source| RunError::Read { path, source })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Some(text))
}
