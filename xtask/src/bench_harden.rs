//! `cargo xtask bench-harden`: what each layer of defence costs at start-up,
//! chapter 7 to chapter 10 on the same root file system, in one hyperfine run.
//!
//! Measured: `/bin/true` with `--net none`, from the runtime's start to its exit:
//!
//! - `ch07`: every namespace and a cgroup, on the directory itself;
//! - `ch08`: the same directory as a one-layer image: an overlay with its own
//!   upper directory, made and removed;
//! - `ch09 --uidmap 0:100000:65536`: in a user namespace, its layer idmapped
//!   into the range;
//! - `ch10, seccomp=unconfined`: capabilities reduced, no_new_privs, masked and
//!   read-only paths, the device allow-list;
//! - `ch10`: all that and Docker's seccomp profile, read, compiled and loaded;
//! - `ch10 --uidmap ...`: everything.
//!
//! As in `cargo xtask bench`, everything runs in a mount and network namespace
//! of the bench's own.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::ratio_table;
use crate::{prerequisites, rootfs, workspace_root};

/// Chapter 9's map, given as root: `--userns` would need a `tincan` range in
/// /etc/subuid.
const USERNS: &str = "--uidmap 0:100000:65536";

/// The commands, by the names the table shows.
fn commands(rootfs: &Path) -> Vec<(&'static str, String)> {
    let bin = |name: &str| workspace_root().join("target/release").join(name).display().to_string();
    let (ch07, ch08, ch09, ch10) = (bin("ch07"), bin("ch08"), bin("ch09"), bin("ch10"));
    let rootfs = rootfs.display();
    vec![
        ("ch07", format!("{ch07} run --net none {rootfs} /bin/true")),
        ("ch08", format!("{ch08} run --net none {rootfs} /bin/true")),
        ("ch09 --uidmap", format!("{ch09} run --net none {USERNS} {rootfs} /bin/true")),
        (
            "ch10, seccomp=unconfined",
            format!("{ch10} run --net none --security-opt seccomp=unconfined {rootfs} /bin/true"),
        ),
        ("ch10", format!("{ch10} run --net none {rootfs} /bin/true")),
        ("ch10 --uidmap", format!("{ch10} run --net none {USERNS} {rootfs} /bin/true")),
    ]
}

pub fn run(runs: usize, out: &Path) -> Result<()> {
    if !prerequisites::installed("hyperfine") {
        bail!("the bench needs hyperfine: sudo apt-get install hyperfine");
    }
    let mut build = Command::new(env!("CARGO"));
    build.current_dir(workspace_root()).args(["build", "--quiet", "--release"]);
    for chapter in ["ch07", "ch08", "ch09", "ch10"] {
        build.args(["--bin", chapter]);
    }
    if !build.status()?.success() {
        bail!("building ch07 to ch10 failed");
    }
    let dir = workspace_root().join("target/bench-harden");
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    rootfs::build(&rootfs, true)?;
    let json = dir.join("results.json");
    let mut hyperfine = format!(
        "ip link set lo up && exec hyperfine --shell=none --warmup 5 --runs {runs} --export-json {}",
        json.display()
    );
    for (name, command) in commands(&rootfs) {
        hyperfine.push_str(&format!(" -n '{name}' '{command}'"));
    }
    let measured = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "--", "sh", "-c", &hyperfine])
        .env("TINCAN_STATE_DIR", dir.join("state"))
        .env("TINCAN_ROOT", dir.join("store"))
        .env("TINCAN_CGROUP_PARENT", "tincan-bench-harden")
        .status()?;
    if !measured.success() {
        bail!("the bench failed (see above)");
    }
    let mut table = ratio_table(&std::fs::read_to_string(&json)?, "stage", "ch07", 2)?;
    table.push_str(&format!(
        "\nMeasured by `cargo xtask bench-harden` on {}: `/bin/true` with `--net none` in a busybox root file system, from the runtime's start to its exit, medians of {runs} runs after 5 warm-up runs, all in one hyperfine run (release build). From chapter 8 on, the directory is the one lower layer of an overlay.\n",
        crate::measure::machine_description(&crate::bench::kernel()),
    ));
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("bench-harden: wrote {}", out.display());
    Ok(())
}
