//! Talking to the kernel's network configuration over netlink, from the runtime,
//! *inside* the container's network namespace.
//!
//! `ip link set lo up` is a message over a netlink socket, and a netlink socket
//! speaks to the network namespace it was *created* in. So to configure the
//! container's interfaces from outside, the runtime opens a socket in the
//! container's namespace. `setns(2)` moves only the *calling thread* into a
//! network namespace, so we do it on a short-lived thread that opens the socket
//! there and ends: the runtime's own thread never leaves its namespace, whatever
//! fails. The socket stays bound to the container's namespace. (`man 7 netlink`,
//! `man 7 rtnetlink`, `man 2 setns`.) We use the `rtnetlink` crate rather than
//! running `ip`.

use std::fs::File;
use std::future::Future;

use ch00_process::{Doing, StepError};
use futures_util::TryStreamExt;
use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;
use rtnetlink::Handle;
use rtnetlink::packet_route::link::LinkMessage;

/// Run `work` with a netlink handle bound to the network namespace of `pid`.
pub fn in_namespace_of<T, F, Fut>(pid: Pid, what: &str, work: F) -> Result<T, StepError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    let theirs = File::open(format!("/proc/{pid}/ns/net"))
        .doing(|| "open the container's network namespace".to_owned())?;
    run(Some(theirs), what, work)
}

/// Run `work` with a netlink handle bound to the runtime's own network namespace.
pub fn here<T, F, Fut>(what: &str, work: F) -> Result<T, StepError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    run(None, what, work)
}

fn run<T, F, Fut>(namespace: Option<File>, what: &str, work: F) -> Result<T, StepError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    // One thread, no reactor threads: the runtime stays as simple as a process.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .doing(|| "start the netlink event loop".to_owned())?;
    let reactor = runtime.handle().clone();
    let entering = namespace.is_some();
    let open = move || {
        let _reactor = reactor.enter(); // the socket registers with our event loop
        if let Some(theirs) = &namespace {
            setns(theirs, CloneFlags::CLONE_NEWNET)
                .doing(|| "enter the container's network namespace".to_owned())?;
        }
        rtnetlink::new_connection().doing(|| "open a netlink socket".to_owned())
    };
    let opened = if entering {
        std::thread::scope(|s| s.spawn(open).join())
    } else {
        Ok(open()) // our own namespace: no thread needed
    };
    let (connection, handle, _) =
        opened.unwrap_or_else(|_| Err(StepError::new("open a netlink socket", Errno::EIO)))?;
    runtime.block_on(async {
        tokio::spawn(connection);
        work(handle).await.map_err(|e| StepError::new(what, errno_of(&e)))
    })
}

/// The index of the link called `name`, if there is one.
pub async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, rtnetlink::Error> {
    Ok(link_named(handle, name).await?.map(|l| l.header.index))
}

/// The link called `name`, if there is one.
pub async fn link_named(
    handle: &Handle,
    name: &str,
) -> Result<Option<LinkMessage>, rtnetlink::Error> {
    match handle.link().get().match_name(name.to_owned()).execute().try_next().await {
        Err(e) if errno_of(&e) == Errno::ENODEV => Ok(None),
        found => found,
    }
}

/// The errno a netlink request failed with (EIO when the failure was not the
/// kernel's answer but, say, a malformed reply).
pub fn errno_of(error: &rtnetlink::Error) -> Errno {
    match error {
        rtnetlink::Error::NetlinkError(message) => Errno::from_raw(-message.raw_code()),
        _ => Errno::EIO,
    }
}
