//! `tincan cleanup [--rm] ID`: what a container's supervisor runs once the
//! container has ended by itself, when nobody may be there (its exit command;
//! podman has conmon run `podman container cleanup`). The core deletes its
//! OCI state (cgroups, veth, lease, rules); with `--rm`, the face removes it
//! all. Either way the others on its network forget its name at once, not
//! at the next `stop`, `rm` or `run` there.

use std::path::Path;

use super::store::Containers;
use crate::Failure;

pub fn cleanup(root: &Path, id: &str, remove: bool) -> Result<(), Failure> {
    let containers = Containers::new(&ch08_images::store::default_root());
    if remove {
        // Which refreshes its network too.
        return super::rm::rm_if_there(&containers, id);
    }
    // Whether or not a `stop` or `rm` deleted it first, the network hears.
    let deleted = crate::commands::delete::delete(root, id, false);
    let told = match containers.find(id) {
        Ok(record) if record.id == id => super::network::tell(&containers, &record),
        _ => Ok(()),
    };
    deleted.and(told)
}
