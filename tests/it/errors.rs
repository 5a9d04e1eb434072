//! Clear errors for what a new user hits with a root file system the project did
//! not build: a program whose dynamic loader or libraries are missing, a script
//! whose `#!` interpreter is missing, a dangling `/etc`.
//!
//! Chapter 0 runs on the host's own root, where all of these exist, so these
//! checks start at chapter 1.

use crate::support::{Sandbox, root_or_skip};

/// The host's `/bin/true`: a dynamically linked program (glibc), as nearly every
/// program in a Debian or Ubuntu image is.
const DYNAMIC_PROGRAM: &str = "/bin/true";

/// The loader a dynamically linked x86-64 glibc program names (`PT_INTERP`).
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

fn executable(path: &std::path::Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// "X: it needs Y to run, which is not in the container (...)".
fn needs(chapter: &str, command: &str, missing: &str) -> String {
    format!(
        "{chapter}: {command}: it needs {missing} to run, which is not in the container (a dynamic loader or a script's #! interpreter: add it to the root filesystem, or use a static program)\n"
    )
}

fn a_scripts_missing_interpreter_is_named(chapter: &str) {
    let sandbox = Sandbox::new();
    executable(&sandbox.rootfs().join("script"), "#!/bin/bash\necho hi\n");
    let run = sandbox.run(chapter, &["/script"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (127, needs(chapter, "/script", "/bin/bash").as_str()),
        "{run:?}"
    );
}

fn a_programs_missing_loader_is_named(chapter: &str) {
    let sandbox = Sandbox::new();
    std::fs::copy(DYNAMIC_PROGRAM, sandbox.rootfs().join("bin/dyn-true")).unwrap();
    let run = sandbox.run(chapter, &["dyn-true"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (127, needs(chapter, "dyn-true", LOADER).as_str()),
        "{run:?}"
    );
}

/// With its loader but without the C library, the program starts, and the loader
/// itself names the missing library: the runtime adds nothing misleading.
fn a_programs_missing_library_is_named_by_its_loader(chapter: &str) {
    let sandbox = Sandbox::new();
    let rootfs = sandbox.rootfs();
    std::fs::copy(DYNAMIC_PROGRAM, rootfs.join("bin/dyn-true")).unwrap();
    std::fs::create_dir_all(rootfs.join("lib64")).unwrap();
    // The loader itself is a static program: it runs alone.
    std::fs::copy(std::fs::canonicalize(LOADER).unwrap(), rootfs.join(&LOADER[1..])).unwrap();
    let run = sandbox.run(chapter, &["dyn-true"]);
    assert_eq!(run.code, 127, "{run:?}");
    assert!(
        run.stderr.contains(
            "error while loading shared libraries: libc.so.6: cannot open shared object file"
        ),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not found in the container"), "{run:?}");
}

macro_rules! chapter {
    ($chapter:ident) => {
        mod $chapter {
            use super::*;
            const CHAPTER: &str = stringify!($chapter);

            #[test]
            fn a_scripts_missing_interpreter_is_named() {
                if root_or_skip(module_path!()) {
                    super::a_scripts_missing_interpreter_is_named(CHAPTER);
                }
            }

            #[test]
            fn a_programs_missing_loader_is_named() {
                if root_or_skip(module_path!()) {
                    super::a_programs_missing_loader_is_named(CHAPTER);
                }
            }

            #[test]
            fn a_programs_missing_library_is_named_by_its_loader() {
                if root_or_skip(module_path!()) {
                    super::a_programs_missing_library_is_named_by_its_loader(CHAPTER);
                }
            }
        }
    };
}

chapter!(ch01);
chapter!(ch02);
chapter!(ch03);
chapter!(ch04);
chapter!(ch05);
chapter!(ch06);
chapter!(ch07);
chapter!(ch08);

/// Chapter 6 puts its `/etc` files in place: a rootfs whose `etc` is a link to
/// nowhere gets a message that names it.
#[test]
fn ch06_a_dangling_etc_is_named() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let rootfs = sandbox.rootfs();
    std::fs::rename(rootfs.join("etc"), rootfs.join("etc.real")).unwrap();
    std::os::unix::fs::symlink("/nowhere/etc", rootfs.join("etc")).unwrap();
    let run = sandbox.run("ch06", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "ch06: bind /etc files: open {}/etc: No such file or directory (it is a symbolic link to /nowhere/etc, resolved inside the root filesystem as the container would)\n",
            rootfs.display()
        )
    );
}

/// A FIFO where `/etc/hosts` should be would block the runtime's `open` for
/// ever (a device's `open` could do worse): only a regular file is used.
#[test]
fn ch06_an_etc_file_that_is_not_a_regular_file_is_refused() {
    if !root_or_skip(module_path!()) {
        return;
    }
    let sandbox = Sandbox::new();
    let hosts = sandbox.rootfs().join("etc/hosts");
    std::fs::remove_file(&hosts).unwrap();
    nix::unistd::mkfifo(&hosts, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let run = sandbox.run("ch06", &["true"]);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "ch06: bind /etc files: use {}: Invalid argument (it is not a regular file)\n",
            hosts.display()
        )
    );
}
