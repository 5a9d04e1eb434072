//! # Chapter 4: a UTS namespace, its own hostname
//!
//! UTS stands for "UNIX Time-sharing System": the `struct utsname` that `uname(2)`
//! returns holds the kernel's name and version, the machine type — and the
//! *hostname* and NIS *domain name*. Those last two are what a UTS namespace makes
//! private. Nothing else about the kernel changes: `uname -r` inside shows the
//! host's kernel, because there is only one.
//!
//! Why it matters to software: programs use the hostname to name themselves — in
//! logs, in cluster membership (a database node, a queue consumer), in lock files,
//! in the prompt you type at. A container should have a name of its own that it may
//! change, without renaming the host under every other program (`hostname x` as
//! root in chapter 3 renames the whole machine).
//!
//! Docker names a container's host after the start of its id; so do we, unless
//! `--hostname` says otherwise.
//!
//! Builds on chapter 3 ([`ch03_mount::plan()`]): one more namespace, one more step.
//!
//! Man pages: `man 7 uts_namespaces`, `man 2 sethostname`, `man 2 uname`.

use ch00_process::{Context, Doing, Plan, Step, StepError};
use ch02_pid::PidOptions;
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "UTS namespace: its own hostname";

/// Chapter 4's command-line options: chapter 2's, and the hostname.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct UtsOptions {
    #[command(flatten)]
    pub pid: PidOptions,

    /// The container's hostname (default: the first 12 digits of its id, as Docker).
    #[arg(long, value_name = "NAME", value_parser = parse_hostname)]
    pub hostname: Option<String>,
}

// ANCHOR: plan
/// Chapter 4's plan: chapter 3's, in a new UTS namespace, with the hostname set.
pub fn plan(options: &UtsOptions) -> Plan {
    ch03_mount::plan(&options.pid)
        .with_namespace(CloneFlags::CLONE_NEWUTS)
        .then(SetHostname { name: options.hostname.clone() })
}
// ANCHOR_END: plan

/// A host name as the kernel takes it (at most 64 bytes, `HOST_NAME_MAX`) and as
/// other machines can use it (RFC 1123): labels of letters, digits and `-`, 1 to
/// 63 characters, not starting or ending with `-`, separated by dots. Checked
/// before anything is made, so a typo costs nothing.
fn parse_hostname(name: &str) -> Result<String, String> {
    if name.len() > 64 {
        return Err(format!("{} characters; a host name has at most 64", name.len()));
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        Ok(name.to_owned())
    } else {
        Err("use letters, digits and '-' (not first or last), in labels separated by dots, such as web-1 or db.internal".to_owned())
    }
}

/// The container's hostname: the one asked for, or the first 12 digits of its id.
pub fn hostname<'a>(asked: Option<&'a str>, container: &'a ch00_process::Container) -> &'a str {
    asked.unwrap_or(container.short_id())
}

/// Give the container its hostname.
pub struct SetHostname {
    /// `None`: derive it from the container's id.
    pub name: Option<String>,
}

// ANCHOR: set_hostname
impl Step for SetHostname {
    fn name(&self) -> &'static str {
        "set hostname"
    }

    fn in_child(&self, cx: &Context) -> Result<(), StepError> {
        let name = hostname(self.name.as_deref(), cx.container);
        // EXERCISE(ch04-uts): set the container's hostname to `name`.
        // hint: nix::unistd::sethostname. It is safe now: CLONE_NEWUTS gave this
        // process a copy of the host's names, and this changes only the copy.
        nix::unistd::sethostname(name).doing(|| format!("set the hostname to {name:?}"))
        // END EXERCISE
    }
}
// ANCHOR_END: set_hostname

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_checked_before_anything_is_made() {
        for good in ["web-1", "db.internal", "a", &"x".repeat(63)] {
            assert_eq!(parse_hostname(good).as_deref(), Ok(good));
        }
        for bad in ["", "-web", "web-", "a..b", "under_score", "spa ce", "ü"] {
            assert!(parse_hostname(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.{}", "a".repeat(40), "b".repeat(30));
        assert_eq!(parse_hostname(&long).unwrap_err(), "71 characters; a host name has at most 64");
    }

    #[test]
    fn the_hostname_is_set_last_in_a_uts_namespace() {
        let plan = plan(&UtsOptions::default());
        assert_eq!(plan.step_names().last(), Some(&"set hostname"));
        assert!(plan.namespaces.contains(CloneFlags::CLONE_NEWUTS));
    }
}
