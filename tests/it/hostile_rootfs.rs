//! A root filesystem is hostile input. One whose `etc/hosts`, `etc/hostname`,
//! `etc/resolv.conf`, `dev` or `proc` are symbolic links to the host's paths —
//! absolute or climbing out with `..`, to files that exist or not — must never
//! make the runtime create, write or mount over anything outside the rootfs.
//!
//! For every chapter, each of those three parts is made hostile in five ways, and
//! the "host" (the sandbox's side: its files, and its mount table) is checked
//! after the run. The container either works — when the link leads to a place
//! inside the rootfs that can be used, or when the chapter does not touch that
//! part — or stops with one line that names the file.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{Sandbox, marker, root_or_skip};

/// The parts of a rootfs a runtime resolves, and the first chapter that does.
const PARTS: [(&str, &[&str], &str); 3] = [
    ("proc", &["proc"], "ch02"),
    ("dev", &["dev"], "ch03"),
    ("etc files", &["etc/hosts", "etc/hostname", "etc/resolv.conf"], "ch06"),
];

/// Where a hostile link points.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// An absolute path of the host that exists.
    HostExisting,
    /// An absolute path of the host that does not exist.
    HostDangling,
    /// Up and out with `..`, to the host's existing file.
    ClimbingExisting,
    /// Up and out with `..`, to nothing.
    ClimbingDangling,
    /// An absolute path that exists both on the host and in the rootfs (`/sys`,
    /// a mount point on the host; `/mnt`; `/tmp/...`): inside the container, it
    /// is the rootfs's. This one works.
    Inside,
}

const TARGETS: [Target; 5] = [
    Target::HostExisting,
    Target::HostDangling,
    Target::ClimbingExisting,
    Target::ClimbingDangling,
    Target::Inside,
];

fn check(chapter: &str) {
    for (part, links, first_chapter) in PARTS {
        for target in TARGETS {
            let works = target == Target::Inside || chapter < first_chapter;
            run_hostile(chapter, part, links, target, works);
        }
    }
}

fn run_hostile(chapter: &str, part: &str, links: &[&str], target: Target, works: bool) {
    let sandbox = Sandbox::new();
    let host = sandbox.dir().join("host");
    std::fs::create_dir_all(host.join("dev")).unwrap();
    std::fs::create_dir_all(host.join("mnt")).unwrap();
    let mut host_files = Vec::new();
    let mut must_not_exist = Vec::new();
    for link in links {
        let name = Path::new(link).file_name().unwrap().to_string_lossy().into_owned();
        let (existing, missing) = (host.join(&name), host.join(format!("missing-{name}")));
        let is_dir = matches!(name.as_str(), "proc" | "dev");
        let existing = if name == "proc" { host.join("mnt") } else { existing };
        if !is_dir {
            std::fs::write(&existing, "the host's own\n").unwrap();
            host_files.push(existing.clone());
        }
        must_not_exist.push(missing.clone());
        // From ROOTFS/etc/hosts, `../..` is the sandbox's directory; from ROOTFS/proc, `..` is.
        let up = "../".repeat(link.matches('/').count() + 1);
        let inside = match name.as_str() {
            "proc" => "/sys".to_owned(),
            "dev" => "/mnt".to_owned(),
            _ => format!("/tmp/{}-{name}", marker("hostile")),
        };
        if !is_dir {
            // The file exists in the rootfs, at the path the link names: inside,
            // that is the one it leads to. On the host, it must not appear.
            let in_rootfs = sandbox.rootfs().join(inside.trim_start_matches('/'));
            std::fs::write(&in_rootfs, "the rootfs's own\n").unwrap();
            must_not_exist.push(inside.clone().into());
        }
        let points_to = match target {
            Target::HostExisting => existing.display().to_string(),
            Target::HostDangling => missing.display().to_string(),
            Target::ClimbingExisting => {
                format!("{up}host/{}", existing.file_name().unwrap().to_string_lossy())
            }
            Target::ClimbingDangling => format!("{up}host/missing-{name}"),
            Target::Inside => inside,
        };
        let at = sandbox.rootfs().join(link);
        let _ = std::fs::remove_file(&at);
        let _ = std::fs::remove_dir(&at);
        symlink(&points_to, &at).unwrap();
    }
    // The sandbox's "host" has a mount of its own at host/mnt, which `proc` may
    // point to: the host's mount table before and after must be the same.
    let table = "cut -d' ' -f5,9 /proc/self/mountinfo";
    let mounts_before = sandbox.dir().join("mounts-before");
    let sandbox = sandbox
        .before(format!("mount -t tmpfs host-mnt {}", host.join("mnt").display()))
        .before(format!("{table} > {}", mounts_before.display()))
        .after(table);
    let run = sandbox.run(chapter, &["true"]);
    let what = format!("{chapter}, {part} linked {target:?}");
    let before = std::fs::read_to_string(mounts_before).unwrap();
    assert_eq!(run.after, before, "{what}: the host's mount table changed: {run:?}");
    for file in &host_files {
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "the host's own\n",
            "{what}: {} was written",
            file.display()
        );
    }
    for path in &must_not_exist {
        let made = path.exists();
        let _ = std::fs::remove_file(path);
        assert!(!made, "{what}: {} was created on the host", path.display());
    }
    if works {
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{what}: {run:?}");
    } else {
        assert_eq!(run.code, 125, "{what}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{what}: one line: {run:?}");
        let named = links.iter().any(|link| run.stderr.contains(&format!("/{link}")));
        assert!(named, "{what}: the error names the file: {run:?}");
    }
}

macro_rules! chapter {
    ($chapter:ident) => {
        #[test]
        fn $chapter() {
            if root_or_skip(module_path!()) {
                check(stringify!($chapter));
            }
        }
    };
}

chapter!(ch00);
chapter!(ch01);
chapter!(ch02);
chapter!(ch03);
chapter!(ch04);
chapter!(ch05);
chapter!(ch06);
chapter!(ch07);
chapter!(ch08);
