//! A container's own directory in the store: gone with it, kept with
//! `--keep`, and taken down by `ch08 cleanup` after its runtime was killed.

use std::path::PathBuf;

use super::{can_run, listing, pulled_three};
use crate::support::{Run, Sandbox, cgroups_named, chapter_bin};

/// `ch08 run --net none OPTIONS IMAGE ARGS...` in `sandbox`.
fn run_with(sandbox: &Sandbox, options: &[&str], image: &str, args: &[&str]) -> Run {
    let mut words = vec![chapter_bin("ch08").display().to_string(), "run".into()];
    words.extend(["--net", "none"].iter().chain(options).map(|w| w.to_string()));
    words.push(image.to_owned());
    words.extend(args.iter().map(|w| w.to_string()));
    let quoted: Vec<String> =
        words.iter().map(|w| format!("'{}'", w.replace('\'', r"'\''"))).collect();
    sandbox.script(&format!("exec {}", quoted.join(" ")))
}

/// A container's own directory goes with it; with `--keep` it stays, and its
/// `upper/` holds what the container changed.
#[test]
fn keep_leaves_the_containers_changes_in_upper_and_without_it_nothing_is_left() {
    if !can_run(module_path!()) {
        return;
    }
    let (sandbox, name) = pulled_three();
    let change = "echo changed > /tmp/change";

    let run = run_with(&sandbox, &[], &name, &[change]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(listing(&sandbox, "containers"), Vec::<String>::new());

    let run = run_with(&sandbox, &["--keep"], &name, &[change]);
    assert_eq!(run.code, 0, "{run:?}");
    let kept = listing(&sandbox, "containers");
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dir = sandbox.store_dir().join("containers").join(&kept[0]);
    assert_eq!(run.stderr, format!("ch08: kept {}\n", dir.display()));
    let upper = dir.join("upper");
    assert_eq!(std::fs::read_to_string(upper.join("tmp/change")).unwrap(), "changed\n");
    let mut changed: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&upper).unwrap() {
        changed.push(entry.unwrap().file_name().into());
    }
    assert_eq!(changed, [PathBuf::from("tmp")], "the change, and nothing else");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A runtime killed with SIGKILL while its container runs leaves the
/// container's directory in the store; `ch08 cleanup` removes it with the
/// rest (state, cgroup), and nothing is left.
#[test]
fn cleanup_removes_the_store_directory_a_killed_runtime_left() {
    if !can_run(module_path!()) {
        return;
    }
    let (sandbox, name) = pulled_three();
    let ch08 = chapter_bin("ch08").display().to_string();
    let dir = sandbox.dir().display().to_string();
    let script = format!(
        "TINCAN_TEST_PAUSE_AFTER=start {ch08} run --net none {name} 'sleep 30' 2> {dir}/err & runtime=$!\n\
         n=0; until grep -qs 'paused after' {dir}/err || ! kill -0 $runtime 2>/dev/null || [ $n -ge 250 ]; do sleep 0.02; n=$((n+1)); done\n\
         cat {dir}/err; echo containers: $(ls $TINCAN_ROOT/containers | wc -l)\n\
         kill -KILL $runtime; {{ wait $runtime; }} 2> /dev/null; echo killed $?\n\
         {ch08} cleanup; echo cleanup $?\n\
         echo containers: $(ls -A $TINCAN_ROOT/containers); echo state: $(ls -A $TINCAN_STATE_DIR/containers)"
    );
    let run = sandbox.script(&script);
    assert_eq!(
        run.stdout,
        "paused after start\ncontainers: 1\nkilled 137\ncleanup 0\ncontainers:\nstate:\n",
        "{run:?}"
    );
    assert_eq!(run.stderr, "ch08: cleaned up after 1 container whose runtime had died\n");
    assert_eq!(cgroups_named(&sandbox.cgroup_parent()), Vec::<PathBuf>::new());
}
