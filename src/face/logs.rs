//! `tincan logs [-f] CONTAINER`: what the container printed, from the
//! supervisor's `log.json`, each line back on the stream it came on; with
//! `-f`, and in a foreground `run`, followed until the container ends.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use ch08_images::store::default_root;
use tincan_supervisor::exit::Exit;

use super::proxy::Proxy;
use super::store::Containers;
use crate::Failure;

/// How long a follower waits for the kernel to say the log grew before it
/// looks anyway (and checks that the supervisor is still there).
const PATIENCE: u16 = 200;

pub fn logs(name: &str, follow_it: bool) -> Result<(), Failure> {
    let containers = Containers::new(&default_root());
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    if follow_it {
        follow(&dir, None).map(drop)
    } else {
        let mut reader = Reader::open(&dir);
        reader.print_new()
    }
}

/// Print the log as it grows, until the container has ended and every line
/// is out; how it ended. With a `proxy`, pass on the signals it gets meanwhile.
pub fn follow(dir: &Path, proxy: Option<&Proxy>) -> Result<Exit, Failure> {
    let mut reader = Reader::open(dir);
    // Woken by inotify(7) when a file in the directory is written or
    // renamed into place (`exit.json`), not by a timer: a line reaches the
    // screen as soon as the supervisor has written it.
    let flags = InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC;
    let changes = Inotify::init(flags).map_err(|e| Failure::new(format!("inotify: {e}")))?;
    let what = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE;
    changes
        .add_watch(dir, what)
        .map_err(|e| Failure::new(format!("watch {}: {e}", dir.display())))?;
    loop {
        // Looked at before the last read: a line written before the record
        // is then read after it.
        let ended = Exit::read(dir).map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
        let supervised = tincan_supervisor::alive(dir);
        reader.print_new()?;
        if let Some(exit) = ended {
            return Ok(exit);
        }
        if !supervised {
            // It may have finished between the two looks.
            if let Ok(Some(exit)) = Exit::read(dir) {
                reader.print_new()?;
                return Ok(exit);
            }
            return Err(Failure::new(format!(
                "the supervisor of {} is gone, and did not record how the container ended ({} says why): `tincan rm -f` takes it down",
                dir.display(),
                dir.join(tincan_supervisor::OWN_LOG_FILE).display()
            )));
        }
        let mut fds = vec![PollFd::new(changes.as_fd(), PollFlags::POLLIN)];
        fds.extend(proxy.map(|proxy| PollFd::new(proxy.fd(), PollFlags::POLLIN)));
        let _ = poll(&mut fds, PollTimeout::from(PATIENCE));
        while changes.read_events().is_ok_and(|events| !events.is_empty()) {}
        if let Some(proxy) = proxy {
            proxy.pass_on();
        }
    }
}

/// The log file, read as far as its last whole line.
struct Reader {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
    /// The start of a line the supervisor is still writing.
    pending: Vec<u8>,
}

impl Reader {
    fn open(dir: &Path) -> Reader {
        Reader { file: None, path: dir.join(tincan_supervisor::LOG_FILE), pending: Vec::new() }
    }

    /// Print every whole line written since the last call.
    fn print_new(&mut self) -> Result<(), Failure> {
        if self.file.is_none() {
            // Made by the supervisor once the container is created; a
            // container that printed nothing yet may have none.
            match std::fs::File::open(&self.path) {
                Ok(file) => self.file = Some(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Failure::new(format!("{}: {e}", self.path.display()))),
            }
        }
        let file = self.file.as_mut().expect("opened");
        let mut more = Vec::new();
        file.read_to_end(&mut more)
            .map_err(|e| Failure::new(format!("{}: {e}", self.path.display())))?;
        self.pending.extend_from_slice(&more);
        let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') else { return Ok(()) };
        let whole: Vec<u8> = self.pending.drain(..=last).collect();
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        for line in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let record: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                Failure::new(format!("{}: a damaged line: {e}", self.path.display()))
            })?;
            let text = record["log"].as_str().unwrap_or_default().as_bytes();
            let written = match record["stream"].as_str() {
                Some("stderr") => err.write_all(text),
                _ => out.write_all(text),
            };
            // The reader went away (`logs | head`): nothing more to do.
            if written.is_err() {
                return Ok(());
            }
        }
        // The file keeps our place: the next call reads on from here.
        let _ = out.flush();
        Ok(())
    }
}
