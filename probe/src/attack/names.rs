//! The host's names and IPC objects: what the UTS and IPC namespaces give a
//! container its own copy of (`man 7 uts_namespaces`, `man 7 ipc_namespaces`).

/// Rename "the machine". Whether the host's name changed is for the host to check.
pub fn rename_host(name: &str) -> String {
    match nix::unistd::sethostname(name) {
        Ok(()) => format!("RENAMED: hostname set to {name}"),
        Err(e) => format!("BLOCKED: sethostname: {e}"),
    }
}

/// Attach a SysV shared memory segment by its id, as a process that found it in
/// `ipcs` would. The host sees who attached last (`lpid` in /proc/sysvipc/shm).
pub fn attach_host_shm(id: libc::c_int) -> String {
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
pub fn leak_ipc(key: libc::key_t) -> String {
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
