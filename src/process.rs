//! A config's `process`: what the container's command is — its working
//! directory, user and groups, capabilities, limits — as steps that end a
//! plan. `create` ends the container's plan with them, `exec` the plan of a
//! process it starts in a running container.

use ch00_process::Plan;
use ch08_images::user::{Ids, SwitchUser};
use ch08_images::workdir::WorkDir;
use ch10_harden::capabilities::{BoundingSet, Capabilities, SetCapabilities};
use ch10_harden::no_new_privs::NoNewPrivs;
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};

use crate::bundle::BundleError;
use crate::process_steps::{Chdir, OomScoreAdj, Rlimits, Umask};

/// The fields of `process` tincan does not honour yet.
pub fn refuse_unsupported(process: &Process) -> Result<(), BundleError> {
    let fields = [
        ("process.apparmorProfile", process.apparmor_profile().is_some()),
        ("process.selinuxLabel", process.selinux_label().is_some()),
    ];
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(BundleError::Unsupported((*field).to_owned())),
        None => Ok(()),
    }
}

/// A missing working directory: a container's is made (runc and crun do);
/// an exec'd process's is an error (runc's).
pub enum Cwd {
    MadeIfMissing,
    MustExist,
}

/// `plan`, ended with the process's steps: the working directory, then the
/// user switch with chapter 10's capability steps around it, and the limits
/// and OOM score just before, while every capability is still held; last,
/// `no_new_privs`.
pub fn steps(plan: Plan, process: &Process, cwd: Cwd) -> Result<Plan, BundleError> {
    let user = process.user();
    let ids = Ids {
        uid: user.uid(),
        gid: user.gid(),
        // Exactly the groups the config lists: runc and crun add not even the
        // primary one.
        groups: user.additional_gids().clone().unwrap_or_default(),
        home: None,
    };
    // The sets the config asks for (none, if it asks for none: the spec's default).
    let caps = capabilities(process.capabilities().as_ref())?;
    let bounding = BoundingSet::new(&caps).map_err(BundleError::Host)?;
    let plan = match cwd {
        Cwd::MadeIfMissing => plan.then(WorkDir::new(process.cwd().clone())),
        Cwd::MustExist => plan.then(Chdir(process.cwd().clone())),
    };
    let mut plan = plan
        .then(SwitchUser::new(ids))
        .insert_before("user", bounding)
        .insert_after("user", SetCapabilities::new(caps));
    let rlimits = process.rlimits().clone().unwrap_or_default();
    if !rlimits.is_empty() {
        let rlimits =
            rlimits.iter().map(|r| (r.typ().to_string(), resource(r.typ()), r.soft(), r.hard()));
        plan = plan.insert_before("working directory", Rlimits(rlimits.collect()));
    }
    if let Some(umask) = user.umask() {
        plan = plan.insert_before("user", Umask(umask));
    }
    if let Some(score) = process.oom_score_adj() {
        plan = plan.insert_before("working directory", OomScoreAdj(score));
    }
    if process.no_new_privileges() == Some(true) {
        plan = plan.then(NoNewPrivs);
    }
    Ok(plan)
}

/// The `RLIMIT_*` number of a resource.
fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match typ {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// The five capability sets of `process.capabilities`, for chapter 10's steps.
fn capabilities(asked: Option<&LinuxCapabilities>) -> Result<Capabilities, BundleError> {
    let Some(asked) = asked else { return Ok(Capabilities::default()) };
    let set = |field: &str, set: &Option<oci_spec::runtime::Capabilities>| {
        set.iter()
            .flatten()
            .map(|cap| {
                format!("CAP_{cap}").parse::<caps::Capability>().map_err(|_| {
                    BundleError::Unsupported(format!("process.capabilities.{field}: CAP_{cap}"))
                })
            })
            .collect::<Result<caps::CapsHashSet, _>>()
    };
    let (permitted, inheritable) =
        (set("permitted", asked.permitted())?, set("inheritable", asked.inheritable())?);
    // The kernel takes an ambient capability only if it is permitted and
    // inheritable; `runc spec` asks for three that are not inheritable, and
    // runc and crun leave out what the kernel refuses. So does tincan.
    let ambient = set("ambient", asked.ambient())?
        .into_iter()
        .filter(|cap| permitted.contains(cap) && inheritable.contains(cap))
        .collect();
    Ok(Capabilities {
        bounding: set("bounding", asked.bounding())?,
        effective: set("effective", asked.effective())?,
        permitted,
        inheritable,
        ambient,
    })
}

/// The engine's socket for the process's terminal, if it asked for one
/// (`process.terminal`): both or neither, as runc has it.
pub fn console(
    process: &Process,
    socket: Option<&std::path::Path>,
) -> Result<Option<ch00_process::console::ConsoleSocket>, String> {
    match (process.terminal() == Some(true), socket) {
        (false, None) => Ok(None),
        (true, Some(path)) => ch00_process::console::ConsoleSocket::to_engine(path)
            .map(Some)
            .map_err(|e| format!("connect to the console socket {}: {e}", path.display())),
        (true, None) => Err("process.terminal asks for a terminal: give --console-socket, where the engine takes it".into()),
        (false, Some(_)) => Err("--console-socket, but process.terminal asks for no terminal".into()),
    }
}
