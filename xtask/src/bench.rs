//! `cargo xtask bench`: how long a container takes to start and end, against runc
//! and crun (Debian's packages) on the same bundle, in hyperfine runs of every command
//! in turn, as ratios.
//!
//! Measured: `/bin/true` in a busybox root file system, from the runtime's start
//! to its exit, with
//!
//! - runc, crun and tincan: `run` of an OCI bundle made by `runc spec` (PID,
//!   network, IPC, UTS and mount namespaces, and a cgroup namespace on a pure
//!   cgroup v2 host; cgroups below our own parent), their state on a tmpfs;
//! - the floor: `unshare(1)` making the same namespaces and executing
//!   `/bin/true`, what no runtime can go below;
//! - `ch07 run --net none`: chapter 7, every namespace, a cgroup;
//! - `ch07 run` (bridge) onto a bridge that another container already uses,
//!   as on a host where containers run: the veth pair, an address, routes;
//! - `ch07 run` (first on its bridge): it also makes the bridge, its NAT rules,
//!   and takes them down again;
//! - `ch08 run --net none`, of an image imported from the same root file
//!   system: chapter 7's container on an overlay of the image's layer, with its
//!   own upper directory made and removed, and the image config read.
//!
//! Everything runs in a mount and network namespace of the bench's own, so the
//! bridges and rules it makes never reach the host's network. Profile before you
//! guess: `tincan --debug-timings run` (or `TINCAN_DEBUG_TIMINGS=1 ch07 run`)
//! shows what each step costs.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::static_build::build as build_static;
use crate::{prerequisites, rootfs, workspace_root};

/// tincan's cgroup parent for everything the bench starts.
const CGROUP_PARENT: &str = "tincan-bench";

pub fn run(runs: usize, out: &Path) -> Result<()> {
    for tool in ["hyperfine", "runc", "crun"] {
        if !prerequisites::installed(tool) {
            bail!("the bench needs {tool}: sudo apt-get install {tool}");
        }
    }
    // Ours linked statically (see `static_build`); tincan also as Debian links
    // crun, to show what that costs.
    let bin = build_static(&["ch07", "ch08", "tincan"])?;
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--bin", "tincan"])
        .status()?;
    if !status.success() {
        bail!("building tincan failed");
    }
    let dir = workspace_root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    rootfs::build(&bundle.join("rootfs"), true)?;
    // `/bin/true`, its cgroups below ours.
    write_config(&bundle, &["/bin/true"], Some(&format!("/{CGROUP_PARENT}/reference")))?;
    let rounds = rounds(runs);
    let measured = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "--", "sh", "-c"])
        .arg(script(&bin, &dir, &bundle, runs.div_ceil(rounds), rounds))
        .env("TINCAN_STATE_DIR", dir.join("run/state"))
        .env("TINCAN_CGROUP_PARENT", format!("{CGROUP_PARENT}/ch07"))
        .status();
    let removed = remove_cgroups();
    if !measured?.success() {
        bail!("the bench failed (see above)");
    }
    removed?;
    let json = (1..=rounds)
        .map(|round| std::fs::read_to_string(dir.join(format!("round-{round}.json"))))
        .collect::<std::io::Result<Vec<_>>>()?;
    let table = table(&merge(&json)?, runs.div_ceil(rounds) * rounds, rounds)?;
    std::fs::write(out, &table).with_context(|| format!("write {}", out.display()))?;
    eprint!("{table}");
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

/// `runc spec`'s bundle running `args`, without a terminal, with its cgroup
/// at `cgroups_path` if given (else the runtime's default). Also
/// `bench-idle`'s.
pub(crate) fn write_config(bundle: &Path, args: &[&str], cgroups_path: Option<&str>) -> Result<()> {
    let status = Command::new("runc").arg("spec").current_dir(bundle).status()?;
    if !status.success() {
        bail!("runc spec failed");
    }
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    config["process"]["args"] = serde_json::json!(args);
    config["process"]["terminal"] = Value::Bool(false);
    if let Some(cgroups_path) = cgroups_path {
        config["linux"]["cgroupsPath"] = Value::String(cgroups_path.to_owned());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// In how many rounds `runs` are measured. hyperfine runs one command's runs
/// back to back, then the next command's; on a shared machine whose speed
/// drifts over a minute, the command measured last would pay for the drift.
/// Rounds of every command, one after the other, spread it over all of them.
fn rounds(runs: usize) -> usize {
    if runs >= 8 { 4 } else { 1 }
}

/// hyperfine's results of several rounds (`--export-json`) as one: each
/// command's times together, and their median, min and max.
fn merge(rounds: &[String]) -> Result<String> {
    let mut merged: Vec<(String, Vec<f64>)> = Vec::new();
    for round in rounds {
        let round: Value = serde_json::from_str(round)?;
        for result in round["results"].as_array().context("hyperfine's results")? {
            let name = result["command"].as_str().context("a result's command")?;
            let times = result["times"].as_array().context("a result's times")?;
            let times = times.iter().filter_map(Value::as_f64);
            match merged.iter_mut().find(|(n, _)| n == name) {
                Some((_, all)) => all.extend(times),
                None => merged.push((name.to_owned(), times.collect())),
            }
        }
    }
    let results: Vec<Value> = merged
        .into_iter()
        .map(|(command, mut times)| {
            times.sort_by(f64::total_cmp);
            let n = times.len();
            let median = match n {
                0 => f64::NAN,
                _ if n % 2 == 1 => times[n / 2],
                _ => (times[n / 2 - 1] + times[n / 2]) / 2.0,
            };
            let (min, max) = (times.first().copied(), times.last().copied());
            serde_json::json!({ "command": command, "median": median, "min": min, "max": max })
        })
        .collect();
    Ok(serde_json::json!({ "results": results }).to_string())
}

/// The commands measured, in the table's order: (name, command line).
fn commands(bin: &Path, dir: &Path, bundle: &Path) -> Vec<(&'static str, String)> {
    let ch07 = bin.join("ch07").display().to_string();
    let ch08 = bin.join("ch08").display().to_string();
    let tincan = bin.join("tincan").display().to_string();
    let dynamic = workspace_root().join("target/release/tincan").display().to_string();
    let (dir, bundle) = (dir.display(), bundle.display());
    let rootfs = format!("{bundle}/rootfs");
    vec![
        ("runc", format!("runc --root {dir}/run/runc run --bundle {bundle} bench")),
        ("crun", format!("crun --root {dir}/run/crun run --bundle {bundle} bench")),
        ("tincan", format!("{tincan} --root {dir}/run/tincan run --bundle {bundle} bench")),
        (
            "tincan, dynamically linked",
            format!("{dynamic} --root {dir}/run/tincan run --bundle {bundle} bench"),
        ),
        (
            "floor: unshare + execve",
            format!("unshare --fork --pid --mount --uts --ipc --net {rootfs}/bin/true"),
        ),
        ("ch07 --net none", format!("{ch07} run --net none {rootfs} /bin/true")),
        (
            "ch08 --net none, image",
            format!("{ch08} --root {dir}/store run --net none bench /bin/true"),
        ),
        ("ch07, bridge", format!("{ch07} run {rootfs} /bin/true")),
        (
            "ch07, first on its bridge",
            format!("{ch07} run --bridge tincan-first --subnet 10.90.0.0/24 {rootfs} /bin/true"),
        ),
    ]
}

/// The shell script the bench runs in its own namespaces: `rounds` hyperfine
/// runs of `runs` each, into `dir/round-N.json`. Each round starts one
/// command further down the list, so that no command always follows the same
/// one (the first on its bridge leaves work for the kernel behind it).
fn script(bin: &Path, dir: &Path, bundle: &Path, runs: usize, rounds: usize) -> String {
    let mut commands = commands(bin, dir, bundle);
    let mut hyperfine = String::new();
    for round in 1..=rounds {
        hyperfine.push_str(&format!(
            "[ $code = 0 ] && {{ hyperfine --shell=none --warmup 5 --runs {runs} --export-json {}/round-{round}.json",
            dir.display()
        ));
        for (name, command) in &commands {
            hyperfine.push_str(&format!(" \\\n  -n '{name}' '{command}'"));
        }
        hyperfine.push_str(" || code=1; }\n");
        commands.rotate_left(1);
    }
    let ch07 = bin.join("ch07").display().to_string();
    let ch08 = bin.join("ch08").display().to_string();
    let (dir, bundle) = (dir.display(), bundle.display());
    let rootfs = format!("{bundle}/rootfs");
    format!(
        "set -e\nip link set lo up\n\
         # crun 1.8 refuses a hybrid host (v1 controllers and a v2 mount beside them);\n\
         # in our own mount namespace, the v2 mount can go: nothing here uses it.\n\
         if [ -d /sys/fs/cgroup/memory ] && mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi\n\
         # Every runtime's state on a tmpfs, as /run is where they keep it.\n\
         mkdir -p {dir}/run && mount -t tmpfs tmpfs {dir}/run\n\
         # The cgroups' parent in use by another container, as on a host where\n\
         # containers run: no runtime makes it or removes it in a run.\n\
         for h in /sys/fs/cgroup/*/; do mkdir -p ${{h}}{CGROUP_PARENT}/keeper; done\n\
         {ch07} run {rootfs} sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done' & keeper=$!\n\
         n=0; until [ -n \"$(ls $TINCAN_STATE_DIR/net/tincan0 2>/dev/null)\" ] || [ $n -ge 200 ]; do sleep 0.05; n=$((n+1)); done\n\
         tar -C {rootfs} -cf {dir}/rootfs.tar . && {ch08} --root {dir}/store import {dir}/rootfs.tar bench >/dev/null\n\
         set +e\n\
         code=0\n\
         {hyperfine}\
         kill $keeper; wait $keeper\nexit $code"
    )
}

/// The runtimes' cgroups below our parent, which runc and crun leave behind.
fn remove_cgroups() -> Result<()> {
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let parent = hierarchy.path().join(CGROUP_PARENT);
        if parent.is_dir() {
            remove_tree(&parent).with_context(|| format!("remove {}", parent.display()))?;
        }
    }
    Ok(())
}

/// `rmdir` a cgroup and its children, deepest first (a cgroup is removed with
/// `rmdir`, never by deleting its files).
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// hyperfine's results (`json`) as a markdown table: each command's median, in
/// ms with `decimals`, and its ratio to the median of `reference`.
pub(crate) fn ratio_table(
    json: &str,
    heading: &str,
    reference: &str,
    decimals: usize,
) -> Result<String> {
    let results: Value = serde_json::from_str(json)?;
    let results = results["results"].as_array().context("hyperfine's results")?;
    let median = |name: &str| {
        results.iter().find(|r| r["command"] == name).and_then(|r| r["median"].as_f64())
    };
    let base = median(reference).with_context(|| format!("{reference}'s median"))?;
    let mut md =
        format!("| {heading} | median | min | max | × {reference} |\n|---|---|---|---|---|\n");
    for result in results {
        let name = result["command"].as_str().unwrap_or("?");
        let ms = |field: &str| result[field].as_f64().unwrap_or(f64::NAN) * 1e3;
        let (median, min, max) = (ms("median"), ms("min"), ms("max"));
        md.push_str(&format!(
            "| {name} | {median:.decimals$} ms | {min:.decimals$} ms | {max:.decimals$} ms | {:.2} |\n",
            median / 1e3 / base
        ));
    }
    Ok(md)
}

/// The book's table: median times and ratios to crun.
fn table(json: &str, runs: usize, rounds: usize) -> Result<String> {
    let mut md = ratio_table(json, "runtime", "crun", 1)?;
    md.push_str(&format!(
        "\nMeasured by `cargo xtask bench` on {}: `/bin/true` in a busybox root file system, from the runtime's start to its exit, medians of {runs} runs in {}, 5 warm-up runs each (release build, ours linked statically; runc {} and crun {} from Debian, linked dynamically), every runtime's state on a tmpfs and the cgroups' parent already there. \"tincan\": `tincan run` of the same bundle; \"dynamically linked\": the same, linked as Debian links crun; \"floor\": `unshare` of the same five namespaces, executing `/bin/true`; \"bridge\": onto a bridge another container already uses; \"first on its bridge\": it also makes the bridge and its NAT rules, and removes them; \"ch08 --net none, image\": an image imported from the same root file system, on an overlay with its own upper directory, made and removed.\n",
        crate::measure::machine_description(&kernel()),
        match rounds {
            1 => "one hyperfine run".to_owned(),
            n => format!("{n} hyperfine runs of every command, each starting one command further down"),
        },
        version("runc"),
        version("crun"),
    ));
    Ok(md)
}

pub(crate) fn kernel() -> String {
    nix::sys::utsname::uname().map_or("?".into(), |u| u.release().to_string_lossy().into_owned())
}

/// "1.1.5" from `runc --version`'s first line.
fn version(tool: &str) -> String {
    let out = Command::new(tool).arg("--version").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines().next().and_then(|l| l.split_whitespace().nth(2)).unwrap_or("?").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_starts_one_command_further_down() {
        let script = script(Path::new("/b"), Path::new("/d"), Path::new("/u"), 25, 4);
        let firsts: Vec<&str> = script
            .split("hyperfine --shell=none")
            .skip(1)
            .map(|round| round.split("-n '").nth(1).unwrap().split('\'').next().unwrap())
            .collect();
        assert_eq!(firsts, ["runc", "crun", "tincan", "tincan, dynamically linked"]);
        assert!(script.contains("--runs 25 --export-json /d/round-4.json"));
    }

    #[test]
    fn rounds_merge_into_one_median_min_and_max_per_command() {
        let round = |a: &[f64], b: &[f64]| {
            serde_json::json!({ "results": [
                { "command": "a", "times": a, "median": 0.0 },
                { "command": "b", "times": b, "median": 0.0 },
            ]})
            .to_string()
        };
        let merged = merge(&[round(&[5.0, 1.0], &[2.0]), round(&[3.0, 4.0], &[6.0])]).unwrap();
        let merged: Value = serde_json::from_str(&merged).unwrap();
        let results = merged["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["command"], "a");
        // 1, 3, 4, 5: an even count, so the mean of the middle two.
        assert_eq!(results[0]["median"], 3.5);
        assert_eq!(
            (results[0]["min"].as_f64(), results[0]["max"].as_f64()),
            (Some(1.0), Some(5.0))
        );
        assert_eq!(results[1]["median"], 4.0);
    }
}
