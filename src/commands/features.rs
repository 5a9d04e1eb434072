//! `tincan features`: what this runtime can do, in the JSON of the runtime
//! spec's `features.md` (runc prints it; engines may ask before they create).
//! Made from the same lists the bundle reader checks a config against.

use serde_json::{Value, json};

use crate::bundle::{NAMESPACES, STANDARD_MOUNTS};
use crate::mounts::{OPTIONS, RECURSIVE_OPTIONS, TMPFS_OPTIONS};

pub fn features() -> Value {
    // The chapters' mounts' options, and a config's own mounts' (tmpfs's
    // own by name: `mode`, `size`...).
    let tmpfs = TMPFS_OPTIONS.iter().map(|o| o.trim_end_matches('='));
    let mut options: Vec<&str> = STANDARD_MOUNTS
        .iter()
        .flat_map(|(_, _, o)| o.iter().copied())
        .chain(OPTIONS)
        .chain(RECURSIVE_OPTIONS)
        .chain(tmpfs)
        .collect();
    options.sort_unstable();
    options.dedup();
    // As config.json spells them (`mount`, `network`), not as `/proc` does.
    // And `cgroup`, which comes with chapter 7's cgroup mount, and `user`,
    // with its maps (chapter 9).
    use oci_spec::runtime::LinuxNamespaceType::{Cgroup, User};
    let namespaces: Vec<Value> =
        NAMESPACES.iter().chain(&[Cgroup, User]).map(|ns| json!(ns)).collect();
    let mut capabilities: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    capabilities.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": crate::hooks::Kind::ALL.map(crate::hooks::Kind::name),
        "mountOptions": options,
        "linux": {
            "namespaces": namespaces,
            "capabilities": capabilities,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            // Chapter 10's filter, from the config's profile.
            "seccomp": { "enabled": true },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {}
    })
}

#[cfg(test)]
mod tests {
    /// Reviewed like code: what tincan claims to do.
    #[test]
    fn the_features_are_what_the_bundle_reader_takes() {
        let text = serde_json::to_string_pretty(&super::features()).unwrap();
        insta::assert_snapshot!(text);
    }
}
