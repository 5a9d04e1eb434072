//! qemu itself: the system's `qemu-system-x86_64` when there is one, otherwise a
//! private copy of Debian's, unpacked from its packages into the VM cache.
//!
//! Why a private copy? Installing must never remove anything, and on some
//! machines qemu cannot be installed without removing a package: Debian 12's
//! `qemu-system-common` 7.2 conflicts with the newer `qemu-utils` from backports.
//! apt-get can still *download* the packages that an installation would bring,
//! and `dpkg -x` unpacks each into any directory, without root and without
//! touching the system's package database (as [`crate::kernel`] does for the
//! kernel). Such a qemu only needs to be told where its pieces are:
//!
//! - its shared libraries: `LD_LIBRARY_PATH` (`man 8 ld.so`);
//! - its firmware: `-L DIR` (microvm starts from `bios-microvm.bin`);
//! - its loadable modules: `QEMU_MODULE_DIR` (Debian builds parts of qemu, such
//!   as the TCG accelerator's helpers, as modules).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The Debian package with `qemu-system-x86_64`.
pub const PACKAGE: &str = "qemu-system-x86";
const PROGRAM: &str = "qemu-system-x86_64";

/// Where Debian puts the pieces, relative to the unpacked packages (the harness
/// runs amd64 guests on amd64 hosts, so the multiarch directory is fixed).
const LIBRARIES: [&str; 2] = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"];
const FIRMWARE: &str = "usr/share/qemu";
const MODULES: &str = "usr/lib/x86_64-linux-gnu/qemu";

/// Why there is no qemu to run.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// A step of fetching the private copy failed; `detail` is the tool's own
    /// last words.
    #[error(
        "no {PROGRAM} on PATH, and fetching Debian's {PACKAGE} failed: {step}: {detail}. \
         Install {PACKAGE} (Debian, Ubuntu: apt-get install {PACKAGE}; elsewhere your \
         distribution's qemu for x86_64), or make `{step}` work"
    )]
    Fetch { step: String, detail: String },
    #[error("no {PROGRAM} on PATH, and the private copy could not be written to {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A qemu to start.
#[derive(Debug, Clone)]
pub struct Qemu {
    /// The executable.
    pub program: PathBuf,
    /// For a private copy, the directory its packages are unpacked in.
    pub unpacked: Option<PathBuf>,
}

impl Qemu {
    /// A `Command` that starts this qemu, with what a private copy needs to find
    /// its libraries, firmware and modules.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(dir) = &self.unpacked {
            let libraries = std::env::join_paths(LIBRARIES.iter().map(|l| dir.join(l)))
                .expect("paths without ':'");
            command
                .env("LD_LIBRARY_PATH", libraries)
                .env("QEMU_MODULE_DIR", dir.join(MODULES))
                .arg("-L")
                .arg(dir.join(FIRMWARE));
        }
        command
    }

    /// The private copy unpacked in `dir`.
    fn private(dir: &Path) -> Qemu {
        Qemu { program: dir.join("usr/bin").join(PROGRAM), unpacked: Some(dir.to_owned()) }
    }
}

/// The system's qemu, or the private copy in `cache/qemu` if it was fetched.
pub fn find_qemu(cache: &Path) -> Option<Qemu> {
    if let Some(program) = on_path(PROGRAM) {
        return Some(Qemu { program, unpacked: None });
    }
    let private = Qemu::private(&cache.join("qemu"));
    private.program.exists().then_some(private)
}

/// The system's qemu, or the private copy in `cache/qemu`, fetched on first use.
pub fn ensure_qemu(cache: &Path) -> Result<Qemu, QemuError> {
    if let Some(qemu) = find_qemu(cache) {
        return Ok(qemu);
    }
    let dir = cache.join("qemu");
    let private = Qemu::private(&dir);
    // Tests ask from several threads at once: one fetches, the others wait and
    // then find it. (Another process fetching at the same time is handled by
    // the rename in `fetch`.)
    static FETCHING: Mutex<()> = Mutex::new(());
    let _one = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
    if !private.program.exists() {
        fetch(&dir)?;
    }
    Ok(private)
}

/// The executable `name` in a directory of `$PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Download what installing qemu would bring, unpack it all into one directory
/// next to `dir`, check that the qemu in it starts, and rename it to `dir`: a
/// fetch that fails or is interrupted leaves no half a qemu under that name.
fn fetch(dir: &Path) -> Result<(), QemuError> {
    let cache = dir.parent().expect("the cache holds the qemu directory");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| QemuError::Io { path, source }
    };
    let packages = packages_to_fetch()?;
    // To the real stderr, past a test harness's capture: a test that fetches
    // says so too.
    let _ = writeln!(
        std::io::stderr(),
        "vm: no {PROGRAM} on PATH; fetching Debian's {PACKAGE} and the {} packages it needs \
         that are not installed, unpacked without installing them (once; cached in {})",
        packages.len() - 1,
        dir.display()
    );
    fs::create_dir_all(cache).map_err(io(cache))?;
    let work = tempfile::Builder::new().prefix(".qemu-").tempdir_in(cache).map_err(io(cache))?;
    let mut download = Command::new("apt-get");
    download.args(["download", "-q"]).args(&packages).current_dir(work.path());
    run(&mut download, "apt-get download")?;
    let unpacked = work.path().join("unpacked");
    for entry in fs::read_dir(work.path()).map_err(io(work.path()))? {
        let deb = entry.map_err(io(work.path()))?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked), "dpkg -x")?;
        }
    }
    let candidate = Qemu::private(&unpacked);
    let mut version = candidate.command();
    version.arg("--version");
    run(&mut version, &format!("{PROGRAM} --version (the unpacked copy)"))?;
    match fs::rename(&unpacked, dir) {
        Ok(()) => Ok(()),
        // Another process was quicker: use its copy (ours goes with `work`).
        Err(_) if Qemu::private(dir).program.exists() => Ok(()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// `name=version` of each package that `apt-get install` of qemu would install:
/// apt's simulation (`-s`, which needs no root) lists them as `Inst` lines.
/// An error says why qemu cannot be fetched here.
pub fn packages_to_fetch() -> Result<Vec<String>, QemuError> {
    let mut simulate = Command::new("apt-get");
    simulate.args(["install", "-s", "--no-install-recommends", PACKAGE]);
    let step = format!("apt-get install -s {PACKAGE}");
    let output = run(&mut simulate, &step)?;
    let packages = to_install(&output);
    if !packages.iter().any(|p| p.starts_with(&format!("{PACKAGE}="))) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        return Err(QemuError::Fetch {
            step,
            detail: format!(
                "it would not install {PACKAGE} (already installed? then {PROGRAM} is not on \
                 PATH={})",
                path.to_string_lossy()
            ),
        });
    }
    Ok(packages)
}

/// The `Inst` lines of an apt simulation, as `name=version`:
/// `Inst seabios (1.16.2-1 Debian:12.15/oldstable [all])` → `seabios=1.16.2-1`.
/// (An upgrade reads `Inst name [old] (new ...)`.)
fn to_install(simulation: &str) -> Vec<String> {
    simulation
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?;
            let version = rest.split_once('(')?.1.split_whitespace().next()?;
            Some(format!("{name}={version}"))
        })
        .collect()
}

/// Run `command`; its standard output if it succeeds. Its output is shown only
/// in the error, so that a working fetch says one line, not apt's fifty.
fn run(command: &mut Command, step: &str) -> Result<String, QemuError> {
    let failed = |detail: String| QemuError::Fetch { step: step.to_owned(), detail };
    let output = command.output().map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(failed(format!("{} ({last})", output.status)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packages_are_the_inst_lines_with_their_versions() {
        let simulation = "NOTE: This is only a simulation!\n\
            Remv qemu-utils [1:10.0.2+ds-2]\n\
            Inst ipxe-qemu (1.0.0+git-20190125.36a4c85-5.1 Debian:12.15/oldstable [all])\n\
            Inst libglib2.0-0 [2.74.6-2] (2.74.6-2+deb12u7 Debian-Security:12 [amd64])\n\
            Inst qemu-system-x86 (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])\n\
            Conf qemu-system-x86 (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])\n";
        assert_eq!(
            to_install(simulation),
            [
                "ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1",
                "libglib2.0-0=2.74.6-2+deb12u7",
                "qemu-system-x86=1:7.2+dfsg-7+deb12u18+b3"
            ]
        );
    }

    #[test]
    fn a_private_copy_is_told_where_its_pieces_are() {
        let qemu = Qemu::private(Path::new("/cache/qemu"));
        let command = qemu.command();
        assert_eq!(command.get_program(), "/cache/qemu/usr/bin/qemu-system-x86_64");
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["-L", "/cache/qemu/usr/share/qemu"]);
        let envs: Vec<_> = command.get_envs().map(|(k, v)| (k, v.unwrap())).collect();
        assert!(envs.contains(&(
            "LD_LIBRARY_PATH".as_ref(),
            "/cache/qemu/usr/lib/x86_64-linux-gnu:/cache/qemu/lib/x86_64-linux-gnu".as_ref()
        )));
        assert!(envs.contains(&(
            "QEMU_MODULE_DIR".as_ref(),
            "/cache/qemu/usr/lib/x86_64-linux-gnu/qemu".as_ref()
        )));
    }

    #[test]
    fn a_failing_step_names_the_package_to_install() {
        let err = run(&mut Command::new("/nonexistent/apt-get"), "apt-get download").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("apt-get install qemu-system-x86"), "{text}");
        assert!(text.contains("apt-get download: No such file"), "{text}");
    }
}
