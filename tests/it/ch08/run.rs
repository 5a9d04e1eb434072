//! What a pulled image runs: the files `umoci unpack` makes of it, and the
//! command, environment, directory and user its config says.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Auth, PUSHED, can_run, inspect, offline, pull, pulled_three, registry, summary};
use crate::support::images::{
    self, DELETED_DIR, DELETED_FILE, HARDLINK, ImageConfig, KEPT, OPAQUE_DIR, OWNED, REPLACED,
    SYMLINK, THREE, THREE_LAYERS_GREETING,
};

/// The marker files, as `sh` inside the container and [`describe`] outside
/// see them: `PATH MODE(hex) UID:GID` and the content (a file's text, a
/// link's target, a directory's entries), or `PATH absent`.
const MARKERS: [&str; 11] = [
    KEPT,
    SYMLINK,
    HARDLINK,
    OWNED,
    REPLACED,
    OPAQUE_DIR,
    "srv/opaque/new-c",
    DELETED_FILE,
    DELETED_DIR,
    "srv/opaque/old-a",
    "srv/opaque/old-sub",
];

/// The shell that describes the markers inside the container.
fn describe_script() -> String {
    format!(
        "for p in {}; do\n\
           if [ -L /$p ]; then c=$(readlink /$p)\n\
           elif [ -d /$p ]; then c=$(ls -A /$p)\n\
           elif [ -e /$p ]; then c=$(cat /$p)\n\
           else echo \"$p absent\"; continue; fi\n\
           echo \"$p $(stat -c '%f %u:%g' /$p) $c\"\n\
         done\n\
         [ \"$(stat -c %i /{KEPT})\" = \"$(stat -c %i /{HARDLINK})\" ] && echo one inode",
        MARKERS.join(" ")
    )
}

/// The same description of the markers in the directory `root`.
fn describe(root: &Path) -> String {
    let mut lines = Vec::new();
    for path in MARKERS {
        let file = root.join(path);
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            lines.push(format!("{path} absent"));
            continue;
        };
        let content = if meta.is_symlink() {
            std::fs::read_link(&file).unwrap().display().to_string()
        } else if meta.is_dir() {
            let mut names: Vec<String> = std::fs::read_dir(&file)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names.join("\n")
        } else {
            std::fs::read_to_string(&file).unwrap().trim_end_matches('\n').to_owned()
        };
        lines.push(format!("{path} {:x} {}:{} {content}", meta.mode(), meta.uid(), meta.gid()));
    }
    let same = |a: &str, b: &str| {
        std::fs::metadata(root.join(a)).unwrap().ino()
            == std::fs::metadata(root.join(b)).unwrap().ino()
    };
    if same(KEPT, HARDLINK) {
        lines.push("one inode".to_owned());
    }
    lines.join("\n") + "\n"
}

/// Every path below `root`, as `find / -xdev` prints them inside (`/`, `/bin`…).
fn walk(root: &Path) -> Vec<String> {
    fn visit(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = format!("{prefix}/{}", entry.file_name().to_string_lossy());
            out.push(path.clone());
            if entry.file_type().unwrap().is_dir() {
                visit(&entry.path(), &path, out);
            }
        }
    }
    let mut out = vec!["/".to_owned()];
    visit(root, "", &mut out);
    out.sort();
    out
}

/// The three layers, pulled and run: the container sees exactly the files
/// `umoci unpack` makes of the image, with their type, mode, owner and
/// content, and every whiteout applied.
#[test]
fn a_pulled_image_runs_on_the_files_umoci_unpacks() {
    if !can_run(module_path!()) {
        return;
    }
    let registry = registry(Auth::None);
    let sandbox = offline();
    let pulled = pull(&sandbox, &registry, PUSHED);
    let name = format!("{}/{PUSHED}", registry.host());
    assert_eq!(summary(&pulled), format!("{name}: 3 layers, 3 downloaded"), "{pulled}");
    let reference = images::umoci_unpack(images::shared_layout(), THREE);

    // The image's entrypoint is `sh -c`, and its user 1000, who cannot read
    // /root (empty in both): find says so on stderr.
    let run = sandbox.run_image(&name, &["find / -xdev"]);
    let mut seen: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
    seen.sort();
    let expected = walk(&reference.rootfs());
    assert_eq!(run.code, 1, "find could not read only /root: {run:?}");
    assert_eq!(run.stderr, "find: /root: Permission denied\n");
    assert_eq!(seen, expected, "the container's files differ from umoci's");

    let run = sandbox.run_image(&name, &[&describe_script()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, describe(&reference.rootfs()), "{run:?}");
    // And, to be sure umoci did not get them wrong as well:
    for line in [
        format!("{REPLACED} 81a4 0:0 new"),
        format!("{OWNED} 81a0 1000:1000 owned"),
        format!("{SYMLINK} a1ff 0:0 kept"),
        format!("{OPAQUE_DIR} 41ed 0:0 new-c"),
        format!("{DELETED_FILE} absent"),
        format!("{DELETED_DIR} absent"),
        "one inode".to_owned(),
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "no {line:?} in {run:?}");
    }
}

/// Entrypoint, Cmd, Env, WorkingDir and User are honoured (one line shows
/// all five); a command given replaces Cmd but keeps the Entrypoint (`sh -c`
/// runs it); `inspect` shows the rest of the config, such as ExposedPorts.
#[test]
fn the_image_config_says_what_runs_where_and_as_whom() {
    if !can_run(module_path!()) {
        return;
    }
    let (sandbox, name) = pulled_three();
    let run = sandbox.run_image(&name, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{THREE_LAYERS_GREETING}\n"), "{run:?}");

    let run = sandbox.run_image(&name, &["echo \"$GREETING, replaced\"; pwd; id -u"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "hello, replaced\n/srv\n1000\n"), "{run:?}");

    let config = &inspect(&sandbox, &name)["Config"]["config"];
    let expected = ImageConfig::three_layers();
    assert_eq!(config["ExposedPorts"], serde_json::json!({ "8080/tcp": {} }), "{config:#}");
    assert_eq!(config["Entrypoint"], serde_json::json!(expected.entrypoint), "{config:#}");
    assert_eq!(config["User"], "1000:1000", "{config:#}");
}
