//! A root file system from an image in the store: how the docker-style face
//! (`tincan run IMAGE`) hands an image to the OCI core.
//!
//! An engine usually mounts the image's layers on the host and gives the
//! runtime a bundle whose root is that mount (podman does). tincan's face
//! asks instead, with the annotation [`ANNOTATION`] naming the image in
//! chapter 8's store: the core then adds chapter 8's own step, which mounts
//! the overlay inside the container's mount namespace. So the mount never
//! appears on the host, and nothing can leave it behind there: it goes with
//! the namespace.
//!
//! The container's directory is chapter 8's, `STORE/containers/ID`, and the
//! config's `root.path` must be its `rootfs` (the step checks). It is kept
//! when the container is deleted (`keep`): the face removes it, with the
//! container's logs, on `tincan rm`.

use std::path::Path;

use ch00_process::Plan;
use ch08_images::image::Image;
use ch08_images::overlay::Overlay;
use ch08_images::store::{Store, default_root};

use crate::bundle::BundleError;

/// The annotation: the image, by a name or id the store knows.
pub const ANNOTATION: &str = "dev.tincan.image";

/// `plan` on the image `name`'s layers, for the bundle `bundle` of
/// container `id` whose root is `rootfs`.
///
/// Only for a bundle the face wrote: `STORE/containers/ID` itself, its root
/// `rootfs` there. An engine passes annotations its users set (`podman run
/// --annotation`); elsewhere, this one would let a user swap the engine's
/// root for any image of the store, and chapter 8's step would make its
/// directories around a root that is not ours.
pub fn on_image(
    plan: Plan,
    name: &str,
    bundle: &Path,
    rootfs: &Path,
    id: &str,
) -> Result<Plan, BundleError> {
    let root = default_root();
    faces_own(ANNOTATION, bundle, rootfs, id)?;
    let store =
        Store::open(&root).map_err(|e| BundleError::Host(format!("{}: {e}", root.display())))?;
    // Held until the layers are linked into the container's directory:
    // until then, `rmi` must not take them away.
    let lock = store.lock_shared().map_err(|e| BundleError::Host(e.to_string()))?;
    let image = Image::find(&store, name)
        .map_err(|e| BundleError::Invalid(format!("annotation {ANNOTATION}: {e}")))?;
    let lowers = image.layer_dirs(&store).map_err(|e| BundleError::Host(e.to_string()))?;
    let overlay = Overlay::new(lowers, true).holding(Some(lock));
    let mut plan = plan.insert_after("make mounts private", overlay);
    plan.root_from_steps = true;
    Ok(plan)
}

/// Is `bundle` one the face wrote: `STORE/containers/ID` itself, with its
/// root `rootfs` there? An annotation of the face's (`annotation`) is
/// refused on any other.
pub fn faces_own(
    annotation: &str,
    bundle: &Path,
    rootfs: &Path,
    id: &str,
) -> Result<(), BundleError> {
    // Chapter 8's `Store::container_dir`, checked before the store is opened.
    let dir = default_root().join("containers").join(id);
    let real = |path: &Path| std::fs::canonicalize(path).ok();
    let ours = real(&dir).is_some()
        && real(bundle) == real(&dir)
        && rootfs.file_name().is_some_and(|n| n == "rootfs")
        && rootfs.parent().and_then(real) == real(&dir);
    if ours {
        return Ok(());
    }
    Err(BundleError::Invalid(format!(
        "the annotation {annotation} is for the bundles tincan's `run IMAGE` writes, in {}; this one is {}",
        dir.display(),
        bundle.display()
    )))
}

/// The step, for the clean-up plan: it forgets its record (the directory
/// is kept, see above).
pub fn cleanup_step() -> Overlay {
    Overlay::new(Vec::new(), true)
}
