//! Whether the unpacker runs as root of a user namespace, not the host's.
//!
//! Chapter 9 lets a user pull: it unpacks as root of a user namespace that
//! maps the user's own ID to 0 and its subordinate IDs after it, so the
//! layer's owners can be given. That root may not do two things the host's
//! root does: make a device node (`mknod` of anything but a 0/0 whiteout is
//! EPERM — a device is the host's, whoever names it), and set `trusted.*`
//! extended attributes (CAP_SYS_ADMIN over the *initial* namespace). The
//! unpacker tolerates exactly these two refusals, and only here: for the
//! host's root they stay errors. `man 7 user_namespaces`: a process's map is
//! in `/proc/self/uid_map`; the initial namespace's is the whole range,
//! `0 0 4294967295`.

use std::sync::OnceLock;

/// True in any user namespace but the initial one (read once: a process does
/// not change namespace while it unpacks).
pub(super) fn in_user_namespace() -> bool {
    static IN: OnceLock<bool> = OnceLock::new();
    *IN.get_or_init(|| {
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        let words: Vec<&str> = map.split_whitespace().collect();
        words != ["0", "0", "4294967295"]
    })
}
