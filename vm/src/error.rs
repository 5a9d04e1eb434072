//! Why a boot did not run the script to its end, in full for a person and in
//! one sentence for a table ([`BootError::summary`]).

use std::process::ExitStatus;
use std::time::Duration;

use crate::Accel;

/// Why a boot did not run the script to its end.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("run {program}: {source}")]
    Run { program: String, source: std::io::Error },
    #[error("the VM took longer than {limit:?}; its console ended:\n{console}{}", said(stderr))]
    Timeout { limit: Duration, console: String, stderr: String },
    #[error(
        "qemu ({accel:?}) ended ({status}) before the script did: {stderr}{}",
        on_console(console)
    )]
    Ended { accel: Accel, status: ExitStatus, stderr: String, console: String },
}

impl BootError {
    /// The failure in one sentence, for a table or a log line: qemu's own first
    /// error line if it gave one.
    pub fn summary(&self) -> String {
        match self {
            BootError::Run { .. } => self.to_string(),
            BootError::Timeout { limit, console, stderr } => {
                match (first_line(stderr), console.lines().last()) {
                    (Some(said), _) => format!("the guest did not boot within {limit:?}; {said}"),
                    (None, Some(last)) => format!(
                        "the guest did not boot within {limit:?} (its console's last line: {last:?})"
                    ),
                    (None, None) => format!("the guest printed nothing within {limit:?}"),
                }
            }
            BootError::Ended { status, stderr, .. } => match first_line(stderr) {
                Some(said) => said.to_owned(),
                None => format!("qemu ended ({status}) before the guest booted"),
            },
        }
    }
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

fn on_console(console: &str) -> String {
    if console.is_empty() { String::new() } else { format!("\nconsole:\n{console}") }
}

fn said(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!("\nqemu said:\n{stderr}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_boot_is_summed_up_in_one_line() {
        use std::os::unix::process::ExitStatusExt;
        let ended = BootError::Ended {
            accel: Accel::Kvm,
            status: ExitStatus::from_raw(6),
            stderr: "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nmore".to_owned(),
            console: "a\nb".to_owned(),
        };
        assert_eq!(ended.summary(), "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69");
        let hung = BootError::Timeout {
            limit: Duration::from_secs(20),
            console: "x\nUnable to calibrate".to_owned(),
            stderr: String::new(),
        };
        assert_eq!(
            hung.summary(),
            "the guest did not boot within 20s (its console's last line: \"Unable to calibrate\")"
        );
        let silent = BootError::Timeout {
            limit: Duration::from_secs(20),
            console: String::new(),
            stderr: String::new(),
        };
        assert_eq!(silent.summary(), "the guest printed nothing within 20s");
        // What qemu 7.2 says when this machine's /dev/kvm cannot run the guest.
        let stuck = BootError::Timeout {
            limit: Duration::from_secs(20),
            console: String::new(),
            stderr: "KVM internal error. Suberror: 1\nextra data[0]: 0x1".to_owned(),
        };
        assert_eq!(
            stuck.summary(),
            "the guest did not boot within 20s; KVM internal error. Suberror: 1"
        );
    }
}
