//! containerd drives tincan: the engine under Docker, k3s and most
//! Kubernetes nodes, through its runc shim with tincan in runc's place
//! (`ctr run --runc-binary`). Each step runs with runc too, the reference;
//! tincan must answer as it does. The table is a snapshot the book shows.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::containerd::{CONTAINERD_TOOLS, Containerd};
use crate::support::{root_or_skip, tools_or_skip};

/// The rows for one runtime: (step, what happened).
fn steps(containerd: &Containerd, runtime: &Path, name: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let id = format!("fg-{name}");
    let script = "echo hello; hostname; exit 3";
    let said = containerd.run(runtime, &["--rm"], &id, &["sh", "-c", script]);
    let host = nix::unistd::gethostname().unwrap_or_default().to_string_lossy().into_owned();
    let out: Vec<&str> = said.stdout.lines().collect();
    let first = out.first().copied().unwrap_or("").to_owned();
    rows.push((format!("`ctr run --rm ... sh -c '{script}'`"), first));
    // ctr asks for no hostname: the new UTS namespace keeps the host's.
    rows.push((
        "its hostname is the host's".into(),
        (out.get(1) == Some(&host.as_str())).to_string(),
    ));
    rows.push(("its exit status".into(), said.code.to_string()));
    let id = format!("bg-{name}");
    let said = containerd.run(runtime, &["-d"], &id, &["sleep", "30"]);
    rows.push(("`ctr run -d ... sleep 30`".into(), said.code.to_string()));
    rows.push(("`ctr task ls`".into(), status(containerd, &id)));
    let exec = containerd.exec(&id, "e1", &["sh", "-c", "echo from exec; exit 4"]);
    rows.push((
        "`ctr task exec ... sh -c 'echo from exec; exit 4'`".into(),
        exec.stdout.trim().to_owned(),
    ));
    rows.push(("its exit status".into(), exec.code.to_string()));
    let ps = containerd.ctr(&["task", "ps", &id]);
    rows.push(("`ctr task ps`: one process".into(), (ps.stdout.lines().count() == 2).to_string()));
    let kill = containerd.ctr(&["task", "kill", "--signal", "SIGKILL", &id]);
    rows.push(("`ctr task kill --signal SIGKILL`".into(), kill.code.to_string()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(containerd, &id) != "STOPPED" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    rows.push(("`ctr task ls`".into(), status(containerd, &id)));
    rows.push((
        "`ctr task delete`".into(),
        containerd.ctr(&["task", "delete", &id]).code.to_string(),
    ));
    rows.push((
        "`ctr container delete`".into(),
        containerd.ctr(&["container", "delete", &id]).code.to_string(),
    ));
    rows.push(("cgroups left".into(), containerd.cgroups_left().len().to_string()));
    rows
}

/// The task's status in `ctr task ls`, or "none".
fn status(containerd: &Containerd, id: &str) -> String {
    let ls = containerd.ctr(&["task", "ls"]);
    let line = ls.stdout.lines().find(|l| l.split_whitespace().next() == Some(id));
    line.and_then(|l| l.split_whitespace().nth(2)).unwrap_or("none").to_owned()
}

#[test]
fn containerd_runs_tincan_as_it_runs_runc() {
    let test = "containerd::containerd_runs_tincan_as_it_runs_runc";
    let tools = [CONTAINERD_TOOLS.as_slice(), &[("runc", "runc")]].concat();
    if !(root_or_skip(test) && tools_or_skip(test, &tools)) {
        return;
    }
    let containerd = Containerd::start();
    let runc = crate::support::which("runc");
    let tincan = Path::new(env!("CARGO_BIN_EXE_tincan"));
    let reference = steps(&containerd, &runc, "runc");
    let ours = steps(&containerd, tincan, "tincan");
    let mut md = "| step | runc | tincan |\n|---|---|---|\n".to_owned();
    for ((step, theirs), (_, mine)) in reference.iter().zip(&ours) {
        md.push_str(&format!("| {step} | {theirs} | {mine} |\n"));
    }
    assert_eq!(ours, reference, "tincan answers otherwise:\n{md}");
    insta::assert_snapshot!(md);
}
