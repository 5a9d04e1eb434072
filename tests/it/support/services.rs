//! Processes and services on the sandbox's "host" side, for attacks to find.

use std::process::Command;
use std::time::{Duration, Instant};

/// A process on the host for attacks to find and kill. Its command line carries a
/// random marker; it is killed when dropped.
pub struct Sleeper {
    child: std::process::Child,
    pub marker: String,
}

impl Sleeper {
    pub fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let marker = super::marker("sleeper");
        let child = Command::new("sleep").arg0(&marker).arg("600").spawn().expect("start sleep");
        Sleeper { child, marker }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Has it died (and been reaped) within `patience`? Checked at least once.
    pub fn dies_within(&mut self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service on the host's 127.0.0.1 that counts its clients and tells each a
/// secret, for the escape lab to reach. It stops when dropped.
pub struct LoopbackService {
    pub port: u16,
    clients: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackService {
    pub fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let secret = super::marker("loopback");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stopped, counted) = (stop.clone(), clients.clone());
        let server = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut client, _)) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let _ = std::io::Write::write_all(&mut client, secret.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        LoopbackService { port, clients, stop, server: Some(server) }
    }

    /// How many clients have connected so far.
    pub fn clients(&self) -> usize {
        self.clients.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for LoopbackService {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}
