//! A proxy in front of a server, to see and shape what passes: it counts the
//! bytes of the answers that reached the client (how much of a 256 MiB
//! manifest a pull really read), and can make them trickle at a few MB/s (so
//! that two pulls started together download the same layer at the same time:
//! on loopback, a layer would arrive before the second pull asked for it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A proxy on 127.0.0.1, stopped when dropped (its connections end with their
/// clients).
pub struct Proxy {
    host: String,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    accepting: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Forward every connection to `upstream` (`HOST:PORT`); with `slow`,
    /// answers go 4 KiB a millisecond at most.
    pub fn start(upstream: &str, slow: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("an address").port());
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (stopping, counter, upstream) = (stop.clone(), answered.clone(), upstream.to_owned());
        let accepting = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let (Ok(client), Ok(server)) = (client, TcpStream::connect(&upstream)) {
                    forward(client, server, counter.clone(), slow);
                }
            }
        });
        Proxy { host, stop, answered, accepting: Some(accepting) }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The bytes of answers written to clients so far (what they read, and
    /// what their sockets' buffers took).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host); // wakes the accept
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

/// Requests go through as they come, answers counted (and paced); each
/// side's end closes the other's.
fn forward(client: TcpStream, server: TcpStream, answered: Arc<AtomicU64>, slow: bool) {
    let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(Shutdown::Both);
    });
    let (mut from_server, mut to_client) = (server, client);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = from_server.read(&mut chunk) {
            if to_client.write_all(&chunk[..n]).is_err() {
                break;
            }
            answered.fetch_add(n as u64, Ordering::SeqCst);
            if slow {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
        let _ = from_server.shutdown(Shutdown::Both);
    });
}
