//! `cargo xtask quickstart`: from a fresh clone to a shell in your first container.
//!
//! On Debian or Ubuntu with Rust installed: install busybox-static if it is
//! missing, build the chapters, build `./rootfs`, and run `ch03 run ./rootfs`.
//! The steps that need root (apt-get, running the container) go through `sudo`
//! when you are not root; everything else runs as you.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{is_root, rootfs, workspace_root};

pub fn run() -> Result<()> {
    if rootfs::static_busybox().is_err() {
        eprintln!(
            "quickstart: installing {} (a static busybox for the rootfs)",
            rootfs::BUSYBOX_PACKAGE
        );
        let install = as_root(&["apt-get", "install", "-y", rootfs::BUSYBOX_PACKAGE]);
        if !install? {
            // A fresh machine may not have package lists yet.
            as_root(&["apt-get", "update"])?;
            if !as_root(&["apt-get", "install", "-y", rootfs::BUSYBOX_PACKAGE])? {
                bail!(
                    "could not install {}; install it by hand and run again",
                    rootfs::BUSYBOX_PACKAGE
                );
            }
        }
    }
    let root = workspace_root();
    let built = Command::new(env!("CARGO")).current_dir(&root).arg("build").status()?;
    if !built.success() {
        bail!("cargo build failed (see above)");
    }
    let rootfs = root.join("rootfs");
    if !rootfs.exists() {
        rootfs::build(&rootfs, false)?;
    }
    let ch03 = root.join("target/debug/ch03");
    eprintln!(
        "\nquickstart: starting a shell in a container (ch03: PID, mount namespaces, pivot_root).\n\
         Try `ps`, `mount`, `ls /`, `tincan-probe`; `exit` leaves. Next time, run it yourself:\n  \
         sudo {} run {} /bin/sh\n",
        ch03.display(),
        rootfs.display()
    );
    let (ch03, rootfs) = (ch03.display().to_string(), rootfs.display().to_string());
    let status = status_as_root(&[&ch03, "run", &rootfs, "/bin/sh"])?;
    std::process::exit(status);
}

/// Run a command as root (through sudo if needed); true if it succeeded.
fn as_root(argv: &[&str]) -> Result<bool> {
    Ok(status_as_root(argv)? == 0)
}

fn status_as_root(argv: &[&str]) -> Result<i32> {
    let mut cmd = if is_root() { Command::new(argv[0]) } else { Command::new("sudo") };
    if !is_root() {
        cmd.arg(argv[0]);
    }
    let status = cmd.args(&argv[1..]).status().with_context(|| format!("running {}", argv[0]))?;
    Ok(status.code().unwrap_or(125))
}
