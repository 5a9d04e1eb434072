//! The OCI runtime command line, differentially: each case runs against runc
//! and crun (Debian's packages), the references, and against tincan, and
//! tincan must answer as they do — the peers are the reference, not our
//! reading of the spec. Each case's table (a row a step, a column a runtime)
//! is a snapshot, which the book shows.
//!
//! What is compared is what engines rely on and both references agree on:
//! exit codes (0, or 1 with a line on stderr), silence on success, the status
//! `state` reports, and what is left on the host. Not the error texts: runc's
//! and crun's differ in every case.

use crate::support::oci::{
    ConsoleListener, Lab, REFERENCES, RUNTIMES, Said, is_pty_master, read_terminal,
};

use crate::support::{Terminal, root_or_skip, tools_or_skip};

/// One step of a case, and what the runtime did.
type Row = (String, String);

/// Run `case` against every runtime; assert they agree; the table.
fn differential(name: &str, case: fn(&Lab) -> Vec<Row>) -> Option<String> {
    let test = format!("oci_runtime::{name}");
    if !(root_or_skip(&test) && tools_or_skip(&test, &REFERENCES)) {
        return None;
    }
    let results: Vec<Vec<Row>> = RUNTIMES.iter().map(|r| case(&Lab::new(*r))).collect();
    let mut md = format!(
        "| step | {} |\n|---|{}\n",
        RUNTIMES.map(|r| r.name()).join(" | "),
        "---|".repeat(RUNTIMES.len())
    );
    // Each runtime's rows, side by side (a runtime with fewer rows — one that
    // printed less — shows nothing in the others').
    let longest = results.iter().max_by_key(|rows| rows.len()).expect("three runtimes");
    for (i, (step, _)) in longest.iter().enumerate() {
        let cells: Vec<&str> =
            results.iter().map(|rows| rows.get(i).map_or("—", |(_, cell)| cell.as_str())).collect();
        md.push_str(&format!("| {step} | {} |\n", cells.join(" | ")));
    }
    let (runc, crun, tincan) = (&results[0], &results[1], &results[2]);
    assert_eq!(runc, crun, "{name}: the references disagree; this case cannot judge:\n{md}");
    assert_eq!(tincan, runc, "{name}: tincan answers otherwise:\n{md}");
    Some(md)
}

/// What a command said, as a row.
fn row(step: &str, said: &Said) -> Row {
    (step.to_owned(), said.outcome())
}

/// A container's output, a row a line, then its exit status.
fn output_rows(said: &Said) -> Vec<Row> {
    let lines = said.stdout.lines().enumerate();
    let mut rows: Vec<Row> =
        lines.map(|(i, l)| (format!("output, line {}", i + 1), l.to_owned())).collect();
    rows.push(("exit".into(), said.code.to_string()));
    rows
}

/// The life of a container: created, started, killed, deleted; and what each
/// status refuses.
fn lifecycle(lab: &Lab) -> Vec<Row> {
    let id = lab.id("life");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    let pid_file = bundle.join("pid");
    let mut rows = Vec::new();
    let b = bundle.to_str().unwrap();
    rows.push(row(
        "`create`",
        &lab.run(&["create", "--bundle", b, "--pid-file", pid_file.to_str().unwrap(), &id]),
    ));
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let pid_ok = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    rows.push(("pid file: the PID, no newline".into(), pid_ok.to_string()));
    let state = lab.state(&id).unwrap_or_default();
    rows.push(("`state`".into(), state["status"].as_str().unwrap_or("?").to_owned()));
    let keys = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"];
    let has_keys = keys.iter().all(|k| state.get(k).is_some());
    rows.push(("`state` has the spec's keys and runc's".into(), has_keys.to_string()));
    rows.push((
        "`state`'s pid is the pid file's".into(),
        (state["pid"].as_i64().map(|p| p.to_string()) == Some(pid.clone())).to_string(),
    ));
    rows.push((
        "exec.fifo while created".into(),
        lab.container_dir(&id).join("exec.fifo").exists().to_string(),
    ));
    rows.push(row("`start`", &lab.run(&["start", &id])));
    rows.push(("`state`".into(), lab.status(&id)));
    rows.push((
        "exec.fifo once started".into(),
        lab.container_dir(&id).join("exec.fifo").exists().to_string(),
    ));
    let runs = lab.wait_for_exec(&id, &["sleep", "30"]);
    rows.push(("the pid runs the command".into(), runs.to_string()));
    rows.push(row("`start` again", &lab.run(&["start", &id])));
    rows.push(row("`kill KILL`", &lab.run(&["kill", &id, "KILL"])));
    rows.push(("`state`".into(), lab.wait_for(&id, "stopped")));
    rows.push(("`state`'s pid".into(), lab.state(&id).unwrap_or_default()["pid"].to_string()));
    rows.push(row("`start` when stopped", &lab.run(&["start", &id])));
    rows.push(row("`kill` when stopped", &lab.run(&["kill", &id, "KILL"])));
    rows.push(row("`delete`", &lab.run(&["delete", &id])));
    rows.push(("`state`".into(), lab.status(&id)));
    rows
}

/// What `delete` takes: a created or stopped container, or any with `--force`.
fn delete(lab: &Lab) -> Vec<Row> {
    let (created, running) = (lab.id("created"), lab.id("running"));
    let mut rows = Vec::new();
    for id in [&created, &running] {
        let bundle = lab.bundle(id, &["sleep", "30"], |_| {});
        let said = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        rows.push(row(&format!("`create` {}", &id[..id.find('-').unwrap()]), &said));
    }
    rows.push(row("`start` running", &lab.run(&["start", &running])));
    rows.push(row("`delete` created", &lab.run(&["delete", &created])));
    rows.push(("`state` of created".into(), lab.status(&created)));
    rows.push(row("`delete` running", &lab.run(&["delete", &running])));
    rows.push(("`state` of running".into(), lab.status(&running)));
    rows.push(row("`delete --force` running", &lab.run(&["delete", "--force", &running])));
    rows.push(("`state` of running".into(), lab.status(&running)));
    rows.push(row(
        "`delete --force` of no container",
        &lab.run(&["delete", "--force", "nothing-here"]),
    ));
    rows
}

/// Every command on an id that is not a container's.
fn unknown_id(lab: &Lab) -> Vec<Row> {
    let mut rows = Vec::new();
    for command in [&["state"][..], &["start"], &["kill"], &["kill", "KILL"], &["delete"]] {
        let mut args = command.to_vec();
        args.insert(1, "nothing-here");
        rows.push(row(&format!("`{}`", command.join(" ")), &lab.run(&args)));
    }
    rows
}

/// A second container with an id in use.
fn duplicate_id(lab: &Lab) -> Vec<Row> {
    let id = lab.id("twice");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    let b = bundle.to_str().unwrap();
    vec![
        row("`create`", &lab.run(&["create", "--bundle", b, &id])),
        row("`create` again", &lab.run(&["create", "--bundle", b, &id])),
        ("`state` of the first".into(), lab.status(&id)),
    ]
}

/// A bundle that cannot make a container fails at `create` (not at `start`),
/// and leaves nothing behind.
fn bad_bundles(lab: &Lab) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut attempt = |what: &str, args: &[&str], spoil: fn(&std::path::Path)| {
        let id = lab.id(&format!("bad{}", rows.len()));
        let bundle = lab.bundle(&id, args, |_| {});
        spoil(&bundle);
        let said = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        let left = lab.container_dir(&id).exists();
        rows.push((
            what.to_owned(),
            format!("{}{}", said.outcome(), if left { ", state left" } else { "" }),
        ));
    };
    attempt("no bundle directory", &["true"], |b| std::fs::remove_dir_all(b).unwrap());
    attempt("no config.json", &["true"], |b| std::fs::remove_file(b.join("config.json")).unwrap());
    attempt("config.json not JSON", &["true"], |b| {
        std::fs::write(b.join("config.json"), "{").unwrap()
    });
    attempt("no root file system", &["true"], |b| {
        std::fs::remove_dir_all(b.join("rootfs")).unwrap()
    });
    attempt("no such command (a path)", &["/no-such-command"], |_| {});
    attempt("no such command (in PATH)", &["no-such-command"], |_| {});
    rows
}

/// A working directory the rootfs lacks is made, as both references do.
fn missing_cwd(lab: &Lab) -> Vec<Row> {
    let id = lab.id("cwd");
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| c["process"]["cwd"] = "/made/here".into());
    vec![
        row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id])),
        row("`start`", &lab.run(&["start", &id])),
        ("the directory is there".into(), bundle.join("rootfs/made/here").is_dir().to_string()),
    ]
}

/// The spellings of a signal, and one that is none.
fn signals(lab: &Lab) -> Vec<Row> {
    let id = lab.id("signals");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    let mut rows =
        vec![row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]))];
    rows.push(row("`start`", &lab.run(&["start", &id])));
    // Signals for the command, not for the runtime's code before it.
    rows.push(("the command runs".into(), lab.wait_for_exec(&id, &["sleep", "30"]).to_string()));
    for signal in ["TERM", "SIGTERM", "term", "15", "0"] {
        rows.push(row(&format!("`kill {signal}`"), &lab.run(&["kill", &id, signal])));
    }
    // PID 1 of a namespace ignores a signal it has no handler for.
    rows.push(("`state`: sleep ignores TERM as PID 1".into(), lab.status(&id)));
    rows.push(row("`kill 99`", &lab.run(&["kill", &id, "99"])));
    rows
}

/// `run` passes the command's exit status through, and deletes the container.
fn run(lab: &Lab) -> Vec<Row> {
    let id = lab.id("run");
    let bundle = lab.bundle(&id, &["sh", "-c", "exit 3"], |_| {});
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    vec![
        ("`run` of `exit 3`".into(), format!("exit {}", said.code)),
        ("`state` after".into(), lab.status(&id)),
    ]
}

/// What the container's process holds: with no `process.capabilities`,
/// nothing (the spec's default); with some, exactly those.
fn capabilities(lab: &Lab) -> Vec<Row> {
    let mut rows = Vec::new();
    let show = ["sh", "-c", "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"];
    let none = lab.id("nocaps");
    let bundle = lab.bundle(&none, &show, |_| {});
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &none]);
    rows.push((
        "no `process.capabilities`".into(),
        said.stdout.trim().replace('\t', " ").replace('\n', ", "),
    ));
    let some = lab.id("caps");
    let bundle = lab.bundle(&some, &show, |c| {
        let caps = serde_json::json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": caps, "effective": caps, "permitted": caps
        });
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &some]);
    rows.push((
        "`runc spec`'s three".into(),
        said.stdout.trim().replace('\t', " ").replace('\n', ", "),
    ));
    rows
}

/// A process of another user: it starts, and is that user.
fn user(lab: &Lab) -> Vec<Row> {
    let id = lab.id("user");
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| {
        c["process"]["user"] =
            serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [100]});
    });
    let mut rows =
        vec![row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]))];
    rows.push(row("`start`", &lab.run(&["start", &id])));
    rows.push(("the command runs".into(), lab.wait_for_exec(&id, &["sleep", "30"]).to_string()));
    rows.push(("`state`".into(), lab.status(&id)));
    let pid = lab.state(&id).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let ids = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap_or("");
        line.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    };
    rows.push(("Uid".into(), ids("Uid:")));
    rows.push(("Gid".into(), ids("Gid:")));
    rows.push(("Groups".into(), ids("Groups:")));
    rows
}

/// A container killed before it starts: `start` fails, and does not hang.
fn killed_before_start(lab: &Lab) -> Vec<Row> {
    let id = lab.id("early");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    vec![
        row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id])),
        row("`kill KILL`", &lab.run(&["kill", &id, "KILL"])),
        ("`state`".into(), lab.wait_for(&id, "stopped")),
        row("`start`", &lab.run(&["start", &id])),
        row("`delete`", &lab.run(&["delete", &id])),
    ]
}

/// `--log F --log-format json`: an error is a JSON line in F, as
/// containerd's shim reads it, and still a line on stderr.
fn log(lab: &Lab) -> Vec<Row> {
    let file = tempfile::NamedTempFile::new().unwrap();
    let log = file.path().to_str().unwrap();
    let said = lab.run(&["--log", log, "--log-format", "json", "state", "nothing-here"]);
    let line = std::fs::read_to_string(file.path()).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
    vec![
        row("`state` of no container", &said),
        ("the log: one line".into(), (line.lines().count() == 1).to_string()),
        ("its `level`".into(), json["level"].as_str().unwrap_or("?").to_owned()),
        (
            "it has `msg` and `time`".into(),
            (json["msg"].is_string() && json["time"].is_string()).to_string(),
        ),
    ]
}

/// `list -q` and `list --format json`, with a created and a running container.
fn list(lab: &Lab) -> Vec<Row> {
    let (a, b) = (lab.id("lista"), lab.id("listb"));
    for id in [&a, &b] {
        let bundle = lab.bundle(id, &["sleep", "30"], |_| {});
        lab.run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    }
    lab.run(&["start", &b]);
    let quiet = lab.run(&["list", "-q"]);
    let json = lab.run(&["list", "--format", "json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap_or_default();
    // In order of id (crun lists them in its directory's order).
    let mut statuses: Vec<String> = listed
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                &s["id"].as_str().unwrap_or("?")[..5],
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    statuses.sort();
    let mut ids: Vec<&str> = quiet.stdout.lines().map(|l| &l[..5]).collect();
    ids.sort();
    vec![("`list -q`".into(), ids.join(", ")), ("`list --format json`".into(), statuses.join(", "))]
}

/// What a config sets on the process: limits, `no_new_privs`, the OOM
/// score, masked and read-only paths, namespaced kernel settings — and
/// what no runtime may set.
fn process_settings(lab: &Lab) -> Vec<Row> {
    let show = [
        "sh",
        "-c",
        "grep 'Max open files' /proc/self/limits | tr -s ' '; grep NoNewPrivs /proc/self/status; \
         cat /proc/self/oom_score_adj; [ -s /proc/kcore ] && echo kcore has bytes || echo kcore is empty; \
         (echo x > /proc/sys/kernel/hostname) 2> /dev/null && echo wrote || echo refused; \
         cat /proc/sys/net/ipv4/ping_group_range",
    ];
    let id = lab.id("settings");
    let bundle = lab.bundle(&id, &show, |c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1001}]);
        c["process"]["noNewPrivileges"] = true.into();
        c["process"]["oomScoreAdj"] = 500.into();
        c["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore", "/proc/keys"]);
        c["linux"]["readonlyPaths"] = serde_json::json!(["/proc/sys"]);
        c["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ping_group_range": "0 1000"});
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let labels = [
        "`rlimits`: RLIMIT_NOFILE 1000:1001",
        "`noNewPrivileges`",
        "`oomScoreAdj` 500",
        "`maskedPaths`: /proc/kcore",
        "`readonlyPaths`: write /proc/sys",
        "`sysctl` net.ipv4.ping_group_range",
    ];
    let lines = said.stdout.lines().map(|l| l.replace('\t', " ").trim().to_owned());
    let mut rows: Vec<Row> = labels.iter().map(|l| l.to_string()).zip(lines).collect();
    rows.push(("exit".into(), said.code.to_string()));
    let host = lab.id("hostsysctl");
    let bundle = lab.bundle(&host, &["true"], |c| {
        c["linux"]["sysctl"] = serde_json::json!({"kernel.core_pattern": "|/tmp/x"});
    });
    rows.push(row(
        "a host setting (`kernel.core_pattern`)",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &host]),
    ));
    let high = lab.id("highlimit");
    let bundle = lab.bundle(&high, &["true"], |c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1 << 30, "hard": 1 << 30}]);
    });
    rows.push(row(
        "a limit above the runtime's own",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &high]),
    ));
    rows
}

/// The config's own mounts: a tmpfs (containerd's `/run`), a host file bound
/// read-only (an engine's `/etc/hosts`), a host directory (a volume) — each
/// where the config says, with its flags.
fn mounts(lab: &Lab) -> Vec<Row> {
    let id = lab.id("mounts");
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hosts"), "192.0.2.1 from-the-host\n").unwrap();
    std::fs::create_dir(host.path().join("volume")).unwrap();
    std::fs::write(host.path().join("volume/data"), "volume data\n").unwrap();
    let show = [
        "sh",
        "-c",
        "for m in /run /etc/hosts /srv/volume /new/dir/hosts; do \
           grep \" $m \" /proc/self/mountinfo | cut -d' ' -f5,6 | sed 's/,relatime//'; done; \
         cat /etc/hosts /srv/volume/data; (echo x > /etc/hosts) 2> /dev/null || echo hosts read-only",
    ];
    let (hosts, volume) = (host.path().join("hosts"), host.path().join("volume"));
    let bundle = lab.bundle(&id, &show, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}));
        mounts
            .push(serde_json::json!({"destination": "/etc/hosts", "type": "bind", "source": hosts,
            "options": ["rbind", "ro", "nosuid", "nodev"]}));
        mounts.push(
            serde_json::json!({"destination": "/srv/volume", "type": "bind", "source": volume,
            "options": ["rbind", "rw"]}),
        );
        // A file's place, two directories the rootfs lacks; an access-time option.
        mounts.push(serde_json::json!({"destination": "/new/dir/hosts", "type": "bind",
            "source": hosts, "options": ["rbind", "ro", "noatime"]}));
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    output_rows(&said)
}

/// `linux.resources.devices`, as containerd writes it: every device denied,
/// then the usual ones allowed. With `CAP_MKNOD`, a node for another device
/// is made, and cannot be opened.
fn devices(lab: &Lab) -> Vec<Row> {
    let id = lab.id("devices");
    let show = [
        "sh",
        "-c",
        "head -c 1 /dev/zero | wc -c; mknod /tmp/kmsg c 1 11 && echo made; \
         (head -c 1 /tmp/kmsg > /dev/null) 2> /dev/null && echo opened || echo not opened; \
         grep ' /dev/pts ' /proc/self/mountinfo | grep -o 'gid=[0-9]*'",
    ];
    let bundle = lab.bundle(&id, &show, |c| {
        let caps = serde_json::json!(["CAP_MKNOD"]);
        c["process"]["capabilities"] =
            serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps});
        let allow = |major: i64, minor: Option<i64>| {
            let mut rule =
                serde_json::json!({"allow": true, "type": "c", "major": major, "access": "rwm"});
            if let Some(minor) = minor {
                rule["minor"] = minor.into();
            }
            rule
        };
        let mut devices = vec![serde_json::json!({"allow": false, "access": "rwm"})];
        for (major, minor) in
            [(1, Some(3)), (1, Some(8)), (1, Some(7)), (5, Some(0)), (1, Some(5)), (1, Some(9))]
        {
            devices.push(allow(major, minor));
        }
        devices.extend([allow(5, Some(1)), allow(136, None), allow(5, Some(2))]);
        c["linux"]["resources"] = serde_json::json!({"devices": devices, "cpu": {"shares": 1024}});
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let labels = ["read /dev/zero", "mknod c 1:11 (/dev/kmsg)", "open it", "/dev/pts's group"];
    let mut rows: Vec<Row> =
        labels.iter().map(|l| l.to_string()).zip(said.stdout.lines().map(str::to_owned)).collect();
    rows.push(("exit".into(), said.code.to_string()));
    rows
}

/// `pause` and `resume`: the cgroup freezer, and what a paused container
/// still allows.
fn pause(lab: &Lab) -> Vec<Row> {
    let id = lab.id("pause");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    let mut rows =
        vec![row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]))];
    rows.push(row("`start`", &lab.run(&["start", &id])));
    rows.push(("the command runs".into(), lab.wait_for_exec(&id, &["sleep", "30"]).to_string()));
    rows.push(row("`pause`", &lab.run(&["pause", &id])));
    rows.push(("`state`".into(), lab.status(&id)));
    let pid = lab.state(&id).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    // A frozen task sleeps uninterruptibly, in the freezer: `D`.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let state = stat.lines().find_map(|l| l.strip_prefix("State:")).unwrap_or("").trim();
    rows.push(("its process's state".into(), state.chars().next().unwrap_or('?').to_string()));
    rows.push(row("`delete` paused", &lab.run(&["delete", &id])));
    rows.push(row("`resume`", &lab.run(&["resume", &id])));
    rows.push(("`state`".into(), lab.status(&id)));
    // (`resume` again: an error for runc, not for crun.)
    rows.push(row("`pause` again", &lab.run(&["pause", &id])));
    rows.push(row("`delete --force` paused", &lab.run(&["delete", "--force", &id])));
    rows.push(("`state`".into(), lab.status(&id)));
    rows
}

/// `linux.resources` as the cgroup files show it from the host, and a
/// device list that only denies (the runtimes' own defaults still allowed).
fn resources(lab: &Lab) -> Vec<Row> {
    let id = lab.id("resources");
    let bundle =
        lab.bundle(&id, &["sh", "-c", "head -c 1 /dev/zero | wc -c; exec sleep 30"], |c| {
            c["linux"]["resources"] = serde_json::json!({
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 67_108_864},
                "pids": {"limit": 64},
                "cpu": {"shares": 1024, "quota": 50_000, "period": 100_000}
            });
        });
    let out = bundle.join("out");
    let said = lab.run_to(&["create", "--bundle", bundle.to_str().unwrap(), &id], &out);
    let mut rows = vec![row("`create`", &said)];
    rows.push(row("`start`", &lab.run(&["start", &id])));
    lab.wait_for_exec(&id, &["sleep", "30"]);
    let zero = std::fs::read_to_string(&out).unwrap_or_default().trim().to_owned();
    rows.push(("deny-all list: read /dev/zero".into(), zero));
    for (controller, file) in [
        ("memory", "memory.limit_in_bytes"),
        ("pids", "pids.max"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.shares"),
    ] {
        let path = format!("/sys/fs/cgroup/{controller}/{}/{id}/{file}", lab.cgroup_parent);
        let value =
            std::fs::read_to_string(&path).map_or("none".to_owned(), |v| v.trim().to_owned());
        rows.push((format!("`{file}`"), value));
    }
    rows.push(row("`delete --force`", &lab.run(&["delete", "--force", &id])));
    rows
}

/// `exec`: another process in a running container, in its namespaces;
/// with a whole `process` from a file, as containerd's shim writes it;
/// detached.
fn exec(lab: &Lab) -> Vec<Row> {
    let id = lab.id("exec");
    let bundle = lab.bundle(&id, &["sleep", "30"], |_| {});
    let mut rows =
        vec![row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]))];
    rows.push(row("`start`", &lab.run(&["start", &id])));
    let said = lab.run(&["exec", &id, "sh", "-c", "hostname; exit 5"]);
    rows.push((
        "`exec ID sh -c 'hostname; exit 5'`".into(),
        format!("{} / exit {}", said.stdout.trim(), said.code),
    ));
    // (A session of its own: runc gives the exec'd process one, and so does
    // tincan; crun does not.)
    let process = bundle.join("process.json");
    let json = serde_json::json!({"args": ["sh", "-c", "echo $FOO; pwd"], "env": ["FOO=bar", "PATH=/bin:/usr/bin"],
        "cwd": "/tmp", "user": {"uid": 0, "gid": 0}});
    std::fs::write(&process, json.to_string()).unwrap();
    let said = lab.run(&["exec", "--process", process.to_str().unwrap(), &id]);
    rows.push((
        "`exec --process F` (`echo $FOO; pwd`)".into(),
        said.stdout.trim().replace('\n', ", "),
    ));
    let pid_file = bundle.join("exec.pid");
    let said = lab.run(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "20",
    ]);
    rows.push(row("`exec --detach --pid-file P ID sleep 20`", &said));
    let exec_pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let init = lab.state(&id).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let ns = |pid: &str, name: &str| std::fs::read_link(format!("/proc/{pid}/ns/{name}")).ok();
    let shared = ["pid", "mnt", "net", "ipc", "uts"]
        .iter()
        .all(|n| ns(&exec_pid, n).is_some() && ns(&exec_pid, n) == ns(&init.to_string(), n));
    rows.push(("its namespaces are the container's".into(), shared.to_string()));
    let ps = lab.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).unwrap_or_default();
    rows.push(("`ps --format json`: processes".into(), pids.len().to_string()));
    rows.push(row("`kill KILL`", &lab.run(&["kill", &id, "KILL"])));
    rows.push(("`state`".into(), lab.wait_for(&id, "stopped")));
    // (`exec` when stopped: runc exits 255, crun 1; tincan too says no, with 1.)
    rows.push(row("`delete`", &lab.run(&["delete", &id])));
    rows
}

/// `process.terminal`: the terminal's master goes to the engine, through
/// `--console-socket`; the container's process has the other side.
fn terminal(lab: &Lab) -> Vec<Row> {
    let id = lab.id("tty");
    let bundle =
        lab.bundle(&id, &["sh", "-c", "tty; [ -t 0 ] && echo its stdin is a terminal; [ \"$(cut -d' ' -f7 /proc/self/stat)\" != 0 ] && echo its controlling terminal"], |c| {
            c["process"]["terminal"] = true.into()
        });
    let mut rows = Vec::new();
    let alone = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    rows.push(row("`create` with no `--console-socket`", &alone));
    let console = ConsoleListener::new();
    let socket = console.path.to_str().unwrap().to_owned();
    let said = lab.run(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--console-socket",
        &socket,
        &id,
    ]);
    rows.push(row("`create --console-socket S`", &said));
    let master = console.receive();
    rows.push((
        "S received a terminal's master".into(),
        master.as_ref().is_some_and(is_pty_master).to_string(),
    ));
    rows.push(row("`start`", &lab.run(&["start", &id])));
    let printed = master.map(read_terminal).unwrap_or_default();
    rows.push(("the process's output, on the terminal".into(), printed.trim().replace('\n', ", ")));
    lab.wait_for(&id, "stopped");
    rows.push(row("`delete`", &lab.run(&["delete", &id])));
    rows
}

/// `run` with `process.terminal` and no engine's socket: the runtime
/// relays the container's terminal to its own, a real pseudo-terminal here,
/// as a person's shell would give it.
fn run_terminal(lab: &Lab) -> Vec<Row> {
    let id = lab.id("run-tty");
    let bundle = lab.bundle(&id, &["sh"], |c| c["process"]["terminal"] = true.into());
    let mut terminal =
        Terminal::start_command(lab.command(&["run", "--bundle", bundle.to_str().unwrap(), &id]));
    terminal.type_keys("tty; echo $((6 * 7))\r");
    terminal.expect("42");
    terminal.type_keys("exit 5\r");
    let (code, screen) = terminal.wait();
    let tty = screen.lines().any(|l| l.trim() == "/dev/pts/0");
    vec![
        ("`tty` is /dev/pts/0".into(), tty.to_string()),
        (
            "typed `echo $((6 * 7))`: 42".into(),
            screen.lines().any(|l| l.trim() == "42").to_string(),
        ),
        ("exit".into(), code.to_string()),
    ]
}

/// What podman's configs ask beyond `runc spec`'s: a network namespace
/// the engine made, joined by its path; a seccomp filter (with no
/// `noNewPrivileges`); a umask; `noexec` on `/dev`; a cgroup named other
/// than the container (`libpod-ID`).
fn engine_fields(lab: &Lab) -> Vec<Row> {
    let netns = NetnsHolder::new();
    let id = lab.id("engine");
    let show = [
        "sh",
        "-c",
        "ls /sys/class/net | tr '\\n' ' '; echo; umask; \
         grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6; \
         grep Seccomp: /proc/self/status | tr -s '\\t' ' '; \
         mkdir /tmp/made 2> /dev/null && echo made || echo mkdir refused",
    ];
    let netns_path = netns.path();
    let edit = |c: &mut serde_json::Value| {
        c["linux"]["namespaces"][1] = serde_json::json!({"type": "network", "path": netns_path});
        c["process"]["user"]["umask"] = 0o077.into();
        c["mounts"][1]["options"] =
            serde_json::json!(["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]);
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    };
    let bundle = lab.bundle(&id, &show, edit);
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let labels = [
        "network joined by path: its interfaces",
        "`user.umask` 0077",
        "`/dev` with `noexec`: its mount options",
        "`seccomp` without `noNewPrivileges`",
        "`seccomp`: mkdir",
    ];
    let lines = said.stdout.lines().map(|l| l.trim().to_owned());
    let mut rows: Vec<Row> = labels.iter().map(|l| l.to_string()).zip(lines).collect();
    rows.push(("exit".into(), said.code.to_string()));
    // The cgroup, as the host sees it: named as the config says.
    let named = lab.id("named");
    let cgroup = format!("/{}/libpod-{named}", lab.cgroup_parent);
    let bundle =
        lab.bundle(&named, &["sleep", "30"], |c| c["linux"]["cgroupsPath"] = cgroup.clone().into());
    rows.push(row(
        "`create` with cgroupsPath PARENT/libpod-ID",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &named]),
    ));
    let pid = lab.state(&named).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let freezer =
        cgroups.lines().find_map(|l| l.split_once(":freezer:")).map(|(_, path)| path == cgroup);
    rows.push((
        "its freezer cgroup is PARENT/libpod-ID".into(),
        freezer.map_or("none".into(), |same| same.to_string()),
    ));
    rows.push(row("`delete --force`", &lab.run(&["delete", "--force", &named])));
    rows
}

/// `linux.uidMappings` and `gidMappings`: the container's root is 100000
/// outside. The bundle's root file system belongs to the mapped IDs (an
/// engine's work, with any runtime).
fn user_namespace(lab: &Lab) -> Vec<Row> {
    let show = [
        "sh",
        "-c",
        "id; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; \
         echo x > /tmp/made && echo made /tmp/made; echo y > /dev/null && echo wrote /dev/null; \
         (echo 1 > /proc/sys/kernel/hostname) 2> /dev/null && echo /proc/sys written || echo /proc/sys refused",
    ];
    let id = lab.id("userns");
    let bundle = userns_bundle(lab, &id, &show, |_| {});
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let mut rows = output_rows(&said);
    let made = bundle.join("rootfs/tmp/made");
    let owner = std::fs::metadata(&made).map(|m| {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", m.uid(), m.gid())
    });
    rows.push(("/tmp/made's owner on the host".into(), owner.unwrap_or_else(|e| e.to_string())));
    // A process `exec` adds is in the same user namespace: root inside, not
    // the host's root.
    let running = lab.id("userns-exec");
    let bundle = userns_bundle(lab, &running, &["sleep", "30"], |_| {});
    rows.push(row(
        "`create`",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &running]),
    ));
    rows.push(row("`start`", &lab.run(&["start", &running])));
    lab.wait_for_exec(&running, &["sleep", "30"]);
    let map = "cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'";
    let said = lab.run(&["exec", &running, "sh", "-c", map]);
    rows.push((
        "`exec`: its uid map".into(),
        format!("{} (exit {})", said.stdout.trim(), said.code),
    ));
    rows.push(row("`delete --force`", &lab.run(&["delete", "--force", &running])));
    rows
}

/// A PID namespace joined by path (a pod that shares its processes): the
/// other container's process is PID 1 there; once the joining container's
/// first process ends, what it left running is killed, and the other
/// container's is not.
fn shared_pid(lab: &Lab) -> Vec<Row> {
    let first = lab.id("pid-owner");
    let bundle = lab.bundle(&first, &["sleep", "30"], |_| {});
    let mut rows = vec![row(
        "`create` A",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &first]),
    )];
    rows.push(row("`start` A", &lab.run(&["start", &first])));
    let pid = lab.state(&first).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let joining = lab.id("pid-joiner");
    // A shell that waits for a `sleep`, named for B (`$0`) so that the
    // host's process list tells it.
    let left = format!("left-by-{joining}");
    let show = format!(
        "ps -o pid,args | grep -q '^ *1 sleep 30$' && echo A is PID 1; sh -c 'sleep 29; :' {left} &"
    );
    let bundle = lab.bundle(&joining, &["sh", "-c", &show], |c| {
        join_namespaces_of(c, pid, &["pid"]);
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &joining]);
    rows.extend(
        output_rows(&said)
            .into_iter()
            .map(|(step, cell)| (format!("`run` B, in A's PID namespace: {step}"), cell)),
    );
    rows.push((
        "what B left running, after `run`".into(),
        if alive(&left) { "alive" } else { "killed" }.into(),
    ));
    // C, created and started in A's namespace, leaves a process beside its
    // first: each container's `ps` lists its own, and `delete` of C kills
    // what C left, not A.
    let third = lab.id("pid-third");
    let left = format!("left-by-{third}");
    // One process beside the first, not two: the shell waits in open(2),
    // on a FIFO nobody writes.
    let start = format!("mkfifo /tmp/f; sh -c 'read x < /tmp/f; :' {left} & exec sleep 30");
    let bundle = lab.bundle(&third, &["sh", "-c", &start], |c| {
        join_namespaces_of(c, pid, &["pid"]);
    });
    rows.push(row(
        "`create` C, in A's",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &third]),
    ));
    rows.push(row("`start` C", &lab.run(&["start", &third])));
    lab.wait_for_exec(&third, &["sleep", "30"]);
    let count = |id: &str| {
        let listed = lab.run(&["ps", "--format", "json", id]);
        let pids: Vec<i64> = serde_json::from_str(&listed.stdout).unwrap_or_default();
        let first = lab.state(id).unwrap_or_default()["pid"].as_i64();
        format!("{} (its first listed first: {})", pids.len(), pids.first().copied() == first)
    };
    rows.push(("`ps` A: how many".into(), count(&first)));
    rows.push(("`ps` C: how many".into(), count(&third)));
    // (runc warns on stderr here, about the process it kills: the exit is compared.)
    let deleted = lab.run(&["delete", "--force", &third]);
    rows.push(("`delete --force` C: exit".into(), deleted.code.to_string()));
    rows.push((
        "what C left, after `delete`".into(),
        if alive(&left) { "alive" } else { "killed" }.into(),
    ));
    rows.push(("then A".into(), lab.status(&first)));
    rows.push(row("`delete --force` A", &lab.run(&["delete", "--force", &first])));
    rows
}

/// Is a process whose command line holds `mark` running on the host?
fn alive(mark: &str) -> bool {
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().expect("ps");
    String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.contains(mark))
}

/// A user namespace joined by path, with its maps given (podman's
/// `--userns container:NAME`): B's root is A's, 100000 outside, and B's
/// other namespaces are its own, made inside A's user namespace.
fn joined_user_namespace(lab: &Lab) -> Vec<Row> {
    let first = lab.id("userns-owner");
    let bundle = userns_bundle(lab, &first, &["sleep", "30"], |_| {});
    let mut rows = vec![row(
        "`create` A",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &first]),
    )];
    rows.push(row("`start` A", &lab.run(&["start", &first])));
    let pid = lab.state(&first).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap_or_default();
    let joining = lab.id("userns-joiner");
    let show = [
        "sh",
        "-c",
        "id; cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; readlink /proc/self/ns/user; \
         echo x > /tmp/made && echo made /tmp/made",
    ];
    let bundle = userns_bundle(lab, &joining, &show, |c| join_namespaces_of(c, pid, &["user"]));
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &joining]);
    let said = Said { stdout: said.stdout.replace(&theirs.display().to_string(), "A's"), ..said };
    rows.extend(output_rows(&said).into_iter().map(|(s, c)| (format!("`run` B: {s}"), c)));
    let owner = std::fs::metadata(bundle.join("rootfs/tmp/made")).map(|m| {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", m.uid(), m.gid())
    });
    rows.push(("/tmp/made's owner on the host".into(), owner.unwrap_or_else(|e| e.to_string())));
    // C joins A's PID namespace too (a pod that shares both).
    let both = lab.id("userns-pid-joiner");
    let show = ["sh", "-c", "id; ps -o pid,args | grep -q '^ *1 sleep 30$' && echo A is PID 1"];
    let bundle = userns_bundle(lab, &both, &show, |c| join_namespaces_of(c, pid, &["user", "pid"]));
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &both]);
    rows.extend(
        output_rows(&said)
            .into_iter()
            .map(|(s, c)| (format!("`run` C, A's PID namespace too: {s}"), c)),
    );
    rows.push(row("`delete --force` A", &lab.run(&["delete", "--force", &first])));
    rows
}

/// What no runtime does on this machine, and each refuses: joining another
/// container's mount namespace (its root is not the bundle's), and
/// `--systemd-cgroup` where no systemd runs.
fn refused_here(lab: &Lab) -> Vec<Row> {
    let first = lab.id("mnt-owner");
    let bundle = lab.bundle(&first, &["sleep", "30"], |_| {});
    let mut rows = vec![row(
        "`create` A",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &first]),
    )];
    let pid = lab.state(&first).unwrap_or_default()["pid"].as_i64().unwrap_or(0);
    let joining = lab.id("mnt-joiner");
    let bundle = lab.bundle(&joining, &["true"], |c| {
        join_namespaces_of(c, pid, &["mount"]);
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &joining]);
    rows.push((
        "`run` B in A's mount namespace".into(),
        if said.code == 0 { "ok" } else { "fails" }.into(),
    ));
    rows.push(("then `state` B".into(), lab.status(&joining)));
    let systemd = lab.id("systemd");
    let bundle = lab.bundle(&systemd, &["true"], |_| {});
    let said =
        lab.run(&["--systemd-cgroup", "run", "--bundle", bundle.to_str().unwrap(), &systemd]);
    rows.push((
        "`--systemd-cgroup run`, no systemd here".into(),
        if said.code == 0 { "ok" } else { "fails" }.into(),
    ));
    rows.push(("then `state`".into(), lab.status(&systemd)));
    rows.push(row("`delete --force` A", &lab.run(&["delete", "--force", &first])));
    rows
}

/// A session keyring of the container's own (named `_ses.ID` by runc and
/// tincan, `ID` by crun), unless `--no-new-keyring`: then the runtime's.
fn keyring(lab: &Lab) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, flags) in [("keyring", &[][..]), ("nokeyring", &["--no-new-keyring"][..])] {
        let id = lab.id(name);
        let look =
            format!("grep -qE ' (_ses[.])?{id}: ' /proc/keys && echo its own || echo inherited");
        let bundle = lab.bundle(&id, &["sh", "-c", &look], |_| {});
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--bundle", bundle.to_str().unwrap(), &id]);
        let said = lab.run(&args);
        let step = format!("`run {}`: its session keyring", flags.join(" "));
        rows.push((
            step.replace("run `", "run`"),
            format!("{} (exit {})", said.stdout.trim(), said.code),
        ));
    }
    rows
}

/// `hooks`: each kind runs, in the order the container meets them, where
/// the spec says (the runtime's mount namespace, or the container's), with
/// the container's state on its stdin and only its own environment. One
/// that fails before the command fails `create` (and leaves no container),
/// as does one past its timeout; `startContainer` failing keeps the command
/// from running; `poststop` failing does not fail `delete`. (Not compared:
/// the status and pid in the state, on which runc 1.1 and crun 1.8 differ.)
fn hooks(lab: &Lab) -> Vec<Row> {
    let log = tempfile::NamedTempFile::new().expect("a hook log");
    // `$0` is the hook's kind; what it tells, one line a hook.
    let tell = |kind: &str, to: &str| {
        let script = format!(
            "echo \"$0 $(readlink /proc/self/ns/mnt) ${{HOME:-no-HOME}} FOO=$FOO $(cat)\" >> {to}"
        );
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script, kind], "env": ["FOO=bar"]})
    };
    let on_host = log.path().display().to_string();
    let id = lab.id("hooks");
    let kinds = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"];
    let bundle = lab.bundle(&id, &["readlink", "/proc/self/ns/mnt"], |c| {
        for kind in kinds {
            c["hooks"][kind] = serde_json::json!([tell(kind, &on_host)]);
        }
        // Run in the container: its path and its log are the container's.
        c["hooks"]["startContainer"] = serde_json::json!([tell("startContainer", "/hooks.log")]);
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let theirs = said.stdout.trim().to_owned();
    let mut rows = vec![row("`run`", &Said { stdout: String::new(), ..said })];
    // The runtime's log holds the hooks in the order they ran; the
    // container's, `startContainer`'s alone.
    let on_host = std::fs::read_to_string(log.path()).unwrap_or_default();
    let inside = std::fs::read_to_string(bundle.join("rootfs/hooks.log")).unwrap_or_default();
    let lines =
        on_host.lines().enumerate().map(|(i, l)| (format!("hook {}, on the host", i + 1), l));
    for (label, line) in
        lines.chain(inside.lines().map(|l| ("the hook in the container".into(), l)))
    {
        let (words, state) = line.split_at(line.find('{').unwrap_or(line.len()));
        let words: Vec<&str> = words.split(' ').collect();
        let state: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
        let mount_ns =
            if words.get(1) == Some(&theirs.as_str()) { "the container's" } else { "another" };
        let env = words.get(2..4).map(|w| w.join(", ")).unwrap_or_default();
        let its_id = if state["id"] == id.as_str() { "the container's" } else { "wrong" };
        rows.push((label, format!("{}: {mount_ns} mount namespace; {env}; id {its_id}", words[0])));
    }
    let failing = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo err >&2; exit 3"]});
    let slow =
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 10"], "timeout": 1});
    for (kind, hook) in [
        ("createRuntime", &failing),
        ("createContainer", &failing),
        ("createRuntime", &slow),
        ("startContainer", &failing),
    ] {
        let failed = lab.id(&format!("hook-{}", kind.to_lowercase()));
        let bundle = lab.bundle(&failed, &["echo", "the command ran"], |c| {
            c["hooks"][kind] = serde_json::json!([hook]);
        });
        let what = if hook == &slow { "past its timeout" } else { "failing" };
        let out = bundle.join("out");
        let created = lab.run_to(&["create", "--bundle", bundle.to_str().unwrap(), &failed], &out);
        let exit = if created.code == 0 { "ok".to_owned() } else { "fails".to_owned() };
        rows.push((format!("`create`, a {kind} hook {what}"), exit));
        if created.code == 0 {
            rows.push(row("`start`", &lab.run(&["start", &failed])));
            lab.wait_for(&failed, "stopped");
            let ran = std::fs::read_to_string(&out).unwrap_or_default().contains("the command ran");
            rows.push(("the command ran".into(), ran.to_string()));
        }
        rows.push(("then `state`".into(), lab.status(&failed)));
        let _ = lab.run(&["delete", "--force", &failed]);
    }
    let stopping = lab.id("hook-poststop");
    let marks = tempfile::tempdir().expect("a place for a mark");
    let ran = marks.path().join("ran");
    let mark = format!("touch {}; exit 3", ran.display());
    let bundle = lab.bundle(&stopping, &["true"], |c| {
        c["hooks"]["poststop"] =
            serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", mark]}]);
    });
    rows.push(row(
        "`create`",
        &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &stopping]),
    ));
    let deleted = lab.run(&["delete", "--force", &stopping]);
    rows.push((
        "`delete --force`, its poststop hook failing: exit".into(),
        deleted.code.to_string(),
    ));
    rows.push(("the hook ran".into(), ran.exists().to_string()));
    rows.push(("then `state`".into(), lab.status(&stopping)));
    rows
}

/// What a `createRuntime` hook is told when it asks the runtime about the
/// container being created: it does not exist yet, and it is said at once —
/// `create` waits for the hook, so a runtime that waited for `create` would
/// never answer. `delete` is not asked: runc and crun remove the state under
/// the running `create`, and tincan's `delete --force` waits for it instead.
fn while_creating(lab: &Lab) -> Vec<Row> {
    let id = lab.id("creating");
    let said = tempfile::tempdir().expect("a place for the hook's answers");
    let call = format!("{} --root '{}'", lab.program(), lab.root().display());
    let asks = [
        ("state", format!("state {id}")),
        ("list", "list -q".into()),
        ("kill", format!("kill {id} KILL")),
        ("start", format!("start {id}")),
        ("pause", format!("pause {id}")),
    ];
    let at = said.path().display();
    // A runtime that waited would hang `create` for good: `timeout` ends it.
    let script: String = asks
        .iter()
        .map(|(ask, args)| {
            format!(
                "timeout 10 {call} {args} > {at}/{ask} 2>/dev/null; echo $? > {at}/{ask}.exit\n"
            )
        })
        .collect();
    let bundle = lab.bundle(&id, &["true"], |c| {
        let hook = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
        c["hooks"]["createRuntime"] = serde_json::json!([hook]);
    });
    let mut rows =
        vec![row("`create`", &lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]))];
    for (ask, _) in &asks {
        let exit = std::fs::read_to_string(said.path().join(format!("{ask}.exit")));
        let exit = exit.map_or("not asked".to_owned(), |code| format!("exit {}", code.trim()));
        rows.push((format!("`{ask}`, from the hook"), exit));
    }
    let listed = std::fs::read_to_string(said.path().join("list")).unwrap_or_default();
    rows.push(("`list` names it".into(), listed.lines().any(|l| l == id).to_string()));
    rows.push(("then `state`".into(), lab.status(&id)));
    rows
}

/// A bundle in a user namespace whose root is 100000 outside, its root file
/// system belonging to the mapped IDs (an engine's work, with any runtime).
fn userns_bundle(
    lab: &Lab,
    id: &str,
    args: &[&str],
    edit: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    let maps = serde_json::json!([{"containerID": 0, "hostID": 100_000, "size": 65_536}]);
    let bundle = lab.bundle(id, args, |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] = maps.clone();
        c["linux"]["gidMappings"] = maps.clone();
        edit(c);
    });
    let chowned = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(bundle.join("rootfs"))
        .status()
        .expect("chown");
    assert!(chowned.success(), "chown the rootfs to the mapped root");
    bundle
}

/// Make `config` join the namespaces of `pid` of `kinds` (their OCI names)
/// by path.
fn join_namespaces_of(config: &mut serde_json::Value, pid: i64, kinds: &[&str]) {
    for ns in config["linux"]["namespaces"].as_array_mut().expect("namespaces") {
        let Some(kind) = ns["type"].as_str().filter(|kind| kinds.contains(kind)) else { continue };
        let file = match kind {
            "mount" => "mnt",
            "network" => "net",
            other => other,
        };
        ns["path"] = format!("/proc/{pid}/ns/{file}").into();
    }
}

/// A network namespace an engine made: held by a `sleep` (killed by its PID
/// when dropped), with a veth pair to tell it by (this kernel has no
/// `dummy` module), which goes with it.
struct NetnsHolder(std::process::Child);

impl NetnsHolder {
    fn new() -> NetnsHolder {
        let child = std::process::Command::new("unshare")
            .args(["--net", "sleep", "60"])
            .spawn()
            .expect("unshare --net");
        let holder = NetnsHolder(child);
        let ours = std::fs::read_link("/proc/self/ns/net").expect("our netns");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_link(holder.path()).ok().is_none_or(|ns| ns == ours) {
            assert!(std::time::Instant::now() < deadline, "unshare --net made no namespace");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let net = format!("--net={}", holder.path());
        let added = std::process::Command::new("nsenter")
            .args([
                net.as_str(),
                "ip",
                "link",
                "add",
                "probe0",
                "type",
                "veth",
                "peer",
                "name",
                "probe1",
            ])
            .status()
            .expect("nsenter ip link add");
        assert!(added.success(), "a veth pair in the namespace");
        holder
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `cgroupsPath` naming a cgroup that exists — another container's, with
/// a process in it — is refused, and that cgroup is left as it was: its
/// process alive, its device list and its directories untouched. (Not a
/// differential case: runc takes an existing cgroup if it is empty.)
#[test]
fn another_containers_cgroup_is_refused_and_left_alone() {
    let test = "oci_runtime::another_containers_cgroup_is_refused_and_left_alone";
    if !root_or_skip(test) {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/devices").is_dir() {
        crate::support::skip(
            test,
            "needs the cgroup v1 devices hierarchy (this is about v1's lists)",
        );
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let mut theirs = Theirs::new(&format!("{}/theirs", lab.cgroup_parent));
    let list_before = theirs.devices_list();
    let id = lab.id("clash");
    let bundle = lab.bundle(&id, &["true"], |c| {
        c["linux"]["cgroupsPath"] = format!("/{}", theirs.path).into();
        c["linux"]["resources"] =
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    let said = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(said.code, 1, "{said:?}");
    assert!(said.stderr.contains("exists already"), "{said:?}");
    assert!(theirs.alive(), "their process was killed");
    assert!(theirs.dirs.iter().all(|d| d.is_dir()), "their cgroups were removed");
    assert_eq!(theirs.devices_list(), list_before, "their device list changed");
    assert_eq!(lab.status(&id), "error", "a refused container leaves no state");
}

/// `tincan state` of a created container, as engines read it: the spec's
/// state, with what runc adds (`created`, `owner`). What changes from run to
/// run — the PID, the paths, the time — is replaced by its name.
#[test]
fn the_state_of_a_created_container() {
    let test = "oci_runtime::the_state_of_a_created_container";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let id = lab.id("stated");
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| {
        c["annotations"] = serde_json::json!({"org.example.role": "test"});
    });
    let created = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(created.code, 0, "{created:?}");
    let mut state = lab.state(&id).expect("its state");
    let deleted = lab.run(&["delete", "--force", &id]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(state["pid"].as_i64().is_some_and(|pid| pid > 1), "{state}");
    let created_at = state["created"].as_str().unwrap_or_default();
    assert!(humantime::parse_rfc3339(created_at).is_ok(), "{created_at}");
    state["pid"] = "PID".into();
    state["created"] = "CREATED".into();
    let shown = serde_json::to_string_pretty(&state).unwrap();
    let bundle = bundle.display().to_string();
    insta::assert_snapshot!(shown.replace(&bundle, "BUNDLE"));
}

/// `delete --force` of a container still being created ends the `create`
/// — here one whose hook never returns and has no `timeout`, which would
/// hold the container for good — and takes down what it made, the hook
/// included. Not a differential case: runc and crun remove the state under
/// the running `create` and leave it, and its hook, to fail later.
#[test]
fn a_forced_delete_ends_a_create_stuck_in_a_hook() {
    let test = "oci_runtime::a_forced_delete_ends_a_create_stuck_in_a_hook";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let id = lab.id("stuck");
    let marks = tempfile::tempdir().expect("a place for a mark");
    let hooked = marks.path().join("hooked");
    // A sleep no other process has: whether the hook is left is seen by it.
    let forever = "299.4321";
    let stuck = format!("touch {}; exec sleep {forever}", hooked.display());
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| {
        c["hooks"]["createRuntime"] =
            serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", stuck]}]);
    });
    let mut create = lab
        .command(&["create", "--bundle", bundle.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start create");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !hooked.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(hooked.exists(), "the hook never ran");
    let asked = lab.run(&["state", &id]);
    let said = "tincan: container stuck-tincan does not exist: it is being created, or deleted";
    assert_eq!((asked.code, asked.stderr.trim()), (1, said), "while create runs");
    let deleted = lab.run(&["delete", "--force", &id]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    let created = create.wait().expect("create ends");
    assert!(!created.success(), "create was ended: {created:?}");
    assert_eq!(lab.status(&id), "error", "gone after the delete");
    assert!(!lab.container_dir(&id).exists());
    let hook_left = || {
        std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|p| {
            std::fs::read(p.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(forever))
        })
    };
    // The kernel signals it as its parent exits, a moment after the lock goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while hook_left() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!hook_left(), "the hook outlived its create");
}

/// A `poststart` hook that fails is a warning, in the log too, and the
/// container runs on (the spec's rule). Not a differential case: runc 1.1
/// runs `poststart` hooks at `create` and fails it, a bug fixed in 1.2;
/// crun says nothing.
#[test]
fn a_failing_poststart_hook_is_a_warning() {
    let test = "oci_runtime::a_failing_poststart_hook_is_a_warning";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let id = lab.id("poststart");
    let failing =
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo why >&2; exit 3"]});
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| {
        c["hooks"]["poststart"] = serde_json::json!([failing]);
    });
    let created = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(created.code, 0, "{created:?}");
    let log = bundle.join("log.json");
    let log_arg = log.to_str().unwrap();
    let started = lab.run(&["--log", log_arg, "--log-format", "json", "start", &id]);
    assert_eq!(started.code, 0, "{started:?}");
    let warning = "poststart hook #0 (/bin/sh): exit status: 3, stderr: why";
    assert_eq!(started.stderr.trim(), format!("tincan: warning: {warning}"), "{started:?}");
    let logged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).expect("the log")).expect("JSON");
    assert_eq!(
        (logged["level"].as_str(), logged["msg"].as_str()),
        (Some("warning"), Some(warning))
    );
    assert_eq!(lab.status(&id), "running");
    let deleted = lab.run(&["delete", "--force", &id]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
}

/// A `create` that a hook fails goes on to `poststop`, as the spec's
/// lifecycle does after any failed create, and as runc does (crun 1.8 does
/// not: not a differential case).
#[test]
fn a_failed_create_still_runs_the_poststop_hooks() {
    let test = "oci_runtime::a_failed_create_still_runs_the_poststop_hooks";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let marks = tempfile::tempdir().expect("a place for a mark");
    let ran = marks.path().join("ran");
    let mark = format!("cat > {}", ran.display());
    let id = lab.id("failed-create");
    let bundle = lab.bundle(&id, &["true"], |c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
            "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", mark]}],
        });
    });
    let created = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(created.code, 1, "{created:?}");
    let told: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ran).expect("poststop ran")).expect("JSON");
    assert_eq!(
        (told["id"].as_str(), told["status"].as_str()),
        (Some(id.as_str()), Some("stopped"))
    );
    assert_eq!(lab.status(&id), "error", "a failed create leaves no state");
}

/// A user namespace joined by path whose maps are not the config's: refused,
/// saying both, and nothing left.
#[test]
fn a_joined_user_namespace_with_other_maps_is_refused() {
    let test = "oci_runtime::a_joined_user_namespace_with_other_maps_is_refused";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let first = lab.id("maps-owner");
    let bundle = userns_bundle(&lab, &first, &["sleep", "30"], |_| {});
    let created = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &first]);
    assert_eq!(created.code, 0, "{created:?}");
    let pid = lab.state(&first).expect("its state")["pid"].as_i64().unwrap();
    let joining = lab.id("maps-joiner");
    let other = serde_json::json!([{"containerID": 0, "hostID": 200_000, "size": 65_536}]);
    let bundle = lab.bundle(&joining, &["true"], |c| {
        let user = serde_json::json!({"type": "user", "path": format!("/proc/{pid}/ns/user")});
        c["linux"]["namespaces"].as_array_mut().unwrap().push(user);
        c["linux"]["uidMappings"] = other.clone();
        c["linux"]["gidMappings"] = other.clone();
    });
    let said = lab.run(&["run", "--bundle", bundle.to_str().unwrap(), &joining]);
    assert_eq!(said.code, 1, "{said:?}");
    assert!(
        said.stderr.contains("maps 0 100000 65536, the config asks for 0 200000 65536"),
        "{said:?}"
    );
    assert_eq!(lab.status(&joining), "error", "a refused container leaves no state");
    assert_eq!(lab.run(&["delete", "--force", &first]).code, 0);
}

/// What each hook is told, where the references differ and tincan says
/// what the spec does: `creating` until `start` (the runtime's PID, or the
/// container's own inside it), `created` to `startContainer`, `running` to
/// `poststart`, `stopped` and no PID to `poststop`.
#[test]
fn what_each_hook_is_told() {
    let test = "oci_runtime::what_each_hook_is_told";
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::new(crate::support::oci::Runtime::Tincan);
    let log = tempfile::NamedTempFile::new().expect("a hook log");
    let tell = |kind: &str, to: &str| {
        let script = format!("echo \"$0 $(cat)\" >> {to}");
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script, kind]})
    };
    let on_host = log.path().display().to_string();
    let id = lab.id("told");
    let bundle = lab.bundle(&id, &["sleep", "30"], |c| {
        for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
            c["hooks"][kind] = serde_json::json!([tell(kind, &on_host)]);
        }
        c["hooks"]["startContainer"] = serde_json::json!([tell("startContainer", "/hooks.log")]);
    });
    let created = lab.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(created.code, 0, "{created:?}");
    let pid = lab.state(&id).expect("its state")["pid"].as_i64();
    assert_eq!(lab.run(&["start", &id]).code, 0);
    // `start` returns once the process is released; its startContainer hook
    // runs after, in the container, before the command.
    assert!(lab.wait_for_exec(&id, &["sleep", "30"]), "the command did not start");
    assert_eq!(lab.run(&["delete", "--force", &id]).code, 0);
    let told = std::fs::read_to_string(log.path()).unwrap_or_default()
        + &std::fs::read_to_string(bundle.join("rootfs/hooks.log")).unwrap_or_default();
    let seen: Vec<(String, String, Option<i64>)> = told
        .lines()
        .map(|line| {
            let (kind, state) = line.split_once(' ').expect("KIND STATE");
            let state: serde_json::Value = serde_json::from_str(state).expect("the state");
            assert_eq!(state["bundle"], bundle.to_str().unwrap(), "{line}");
            (
                kind.to_owned(),
                state["status"].as_str().unwrap_or("?").to_owned(),
                state["pid"].as_i64(),
            )
        })
        .collect();
    let expected = [
        ("prestart", "creating", pid),
        ("createRuntime", "creating", pid),
        ("createContainer", "creating", Some(1)),
        ("poststart", "running", pid),
        ("poststop", "stopped", None),
        ("startContainer", "created", Some(1)),
    ];
    let expected: Vec<_> =
        expected.iter().map(|(k, s, p)| (k.to_string(), s.to_string(), *p)).collect();
    assert_eq!(seen, expected, "{told}");
}

/// Another container's cgroup, in several hierarchies, with a process in it:
/// the process killed and the directories removed when dropped.
struct Theirs {
    path: String,
    dirs: Vec<std::path::PathBuf>,
    process: std::process::Child,
}

impl Theirs {
    fn new(path: &str) -> Theirs {
        let process = std::process::Command::new("sleep")
            .arg("30")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sleep");
        let mut theirs = Theirs { path: path.to_owned(), dirs: Vec::new(), process };
        for hierarchy in ["memory", "devices", "freezer", "pids"] {
            let root = std::path::Path::new("/sys/fs/cgroup").join(hierarchy);
            if root.is_dir() {
                let dir = root.join(path);
                std::fs::create_dir_all(&dir).expect("their cgroup");
                theirs.dirs.push(dir.clone());
                std::fs::write(dir.join("cgroup.procs"), theirs.process.id().to_string())
                    .expect("join it");
            }
        }
        theirs
    }

    fn devices_list(&self) -> String {
        let dir = self.dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/devices"));
        std::fs::read_to_string(dir.expect("a devices cgroup").join("devices.list"))
            .unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.process.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Theirs {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

macro_rules! cases {
    ($($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                if let Some(table) = differential(stringify!($case), super::$case) {
                    insta::assert_snapshot!(table);
                }
            }
        )*
    };
}

mod case {
    use super::differential;
    cases!(
        lifecycle,
        delete,
        unknown_id,
        duplicate_id,
        bad_bundles,
        missing_cwd,
        signals,
        run,
        capabilities,
        user,
        killed_before_start,
        log,
        list,
        process_settings,
        mounts,
        devices,
        pause,
        resources,
        exec,
        terminal,
        engine_fields,
        user_namespace,
        keyring,
        hooks,
        while_creating,
        shared_pid,
        run_terminal,
        joined_user_namespace,
        refused_here
    );
}
