//! # Chapter 5: an IPC namespace
//!
//! Processes on one machine can talk through kernel objects that are found by a
//! *name* rather than through a file descriptor they were handed:
//!
//! - **System V IPC** (1983): shared memory segments, semaphore sets and message
//!   queues, named by an integer *key*. Any process that knows (or guesses) the key
//!   and passes the permission check can attach the memory, take the semaphore,
//!   read the queue. `ipcs` lists them all.
//! - **POSIX message queues**: named `/name`, listed in the `mqueue` file system
//!   (usually mounted at `/dev/mqueue`).
//!
//! Databases use SysV shared memory for their buffers (PostgreSQL did for decades),
//! and a surprising amount of older software uses semaphores. Without an IPC
//! namespace, a container sees, attaches to and can destroy the host's objects, and
//! the host sees the container's: a root process could read another program's
//! shared buffers by attaching them.
//!
//! `CLONE_NEWIPC` gives the child an empty set of both kinds. The objects it creates
//! live and die with its namespace. The `mqueue` file system shows the queues of the
//! IPC namespace of whoever *mounted* it — like procfs and PIDs — so the container
//! gets a fresh one at `/dev/mqueue`.
//!
//! Builds on chapter 4 ([`ch04_uts::plan()`]): one more namespace, one more mount.
//!
//! Man pages: `man 7 ipc_namespaces`, `man 7 sysvipc`, `man 7 mq_overview`.

use ch00_process::{Context, Doing, Plan, Step, StepError};
use ch04_uts::UtsOptions;
use nix::mount::{MsFlags, mount};
use nix::sched::CloneFlags;

/// One line describing this chapter, for `--help` and `tincan chapters`.
pub const ABOUT: &str = "IPC namespace: its own SysV IPC objects and POSIX message queues";

// ANCHOR: plan
/// Chapter 5's plan: chapter 4's, in a new IPC namespace, with its own `/dev/mqueue`.
/// (No options of its own: it takes chapter 4's.)
pub fn plan(options: &UtsOptions) -> Plan {
    ch04_uts::plan(options).with_namespace(CloneFlags::CLONE_NEWIPC).then(MountMqueue)
}
// ANCHOR_END: plan

/// Mount the container's own POSIX message queue file system at `/dev/mqueue`.
pub struct MountMqueue;

// ANCHOR: mount_mqueue
impl Step for MountMqueue {
    fn name(&self) -> &'static str {
        "mount /dev/mqueue"
    }

    fn in_child(&self, _cx: &Context) -> Result<(), StepError> {
        // /dev is the container's own tmpfs (chapter 3), so this changes nothing
        // on the host's disk.
        std::fs::create_dir_all("/dev/mqueue").doing(|| "create /dev/mqueue".to_owned())?;
        // EXERCISE(ch05-ipc): mount an mqueue file system at /dev/mqueue.
        // hint: like /proc in chapter 2: source and type "mqueue", flags MS_NOSUID,
        // MS_NODEV and MS_NOEXEC. It shows the queues of *this* IPC namespace.
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("mqueue"), "/dev/mqueue", Some("mqueue"), flags, None::<&str>)
            .doing(|| "mount mqueue on /dev/mqueue".to_owned())
        // END EXERCISE
    }
}
// ANCHOR_END: mount_mqueue

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqueue_is_mounted_in_a_new_ipc_namespace() {
        let plan = plan(&UtsOptions::default());
        assert_eq!(plan.step_names().last(), Some(&"mount /dev/mqueue"));
        assert!(plan.namespaces.contains(CloneFlags::CLONE_NEWIPC));
    }
}
