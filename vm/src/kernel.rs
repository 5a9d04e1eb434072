//! The guest's kernel: Debian's own, unpacked from its package without installing
//! it, and uncompressed so that qemu can start it at its PVH entry point.
//!
//! The package's `/boot/vmlinuz-*` is a *bzImage*: a small real-mode setup
//! program, then the compressed kernel. qemu's `microvm` machine boots the plain
//! ELF kernel (`vmlinux`) directly, which skips the BIOS, the setup program and
//! the in-guest decompression: under software emulation that is ~2.5 s instead of
//! ~6 s. The setup header says where the compressed kernel lies (the x86 boot
//! protocol, `Documentation/arch/x86/boot.rst`: `payload_offset`, `payload_length`).
//!
//! The package's modules (`/lib/modules/RELEASE`) are kept beside it: much of
//! what a container runtime needs (bridges, veth pairs, nftables, overlayfs, loop
//! devices) is a module in Debian's kernel, and the guest loads the ones a run
//! asks for (`modules.rs`).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The uncompressed ELF kernel.
    pub vmlinux: PathBuf,
    /// Its release, as `uname -r` prints it inside: `6.1.0-56-amd64`.
    pub release: String,
    /// Its modules: the package's `/lib/modules/RELEASE`.
    pub modules: PathBuf,
}

/// The kernel in `cache`, fetched and unpacked on first use: the package that
/// Debian's `linux-image-amd64` points to, or `$TINCAN_VM_KERNEL_PACKAGE`.
pub fn ensure_kernel(cache: &Path) -> Result<Kernel> {
    let dir = cache.join("kernel");
    let (vmlinux, release_file) = (dir.join("vmlinux"), dir.join("release"));
    let modules = dir.join("modules");
    // A cache from before the modules were kept has no modules/: fetch again.
    if let (true, true, Ok(release)) =
        (vmlinux.exists(), modules.exists(), fs::read_to_string(&release_file))
    {
        return Ok(Kernel { vmlinux, release: release.trim().to_owned(), modules });
    }
    fs::create_dir_all(&dir)?;
    let package = match std::env::var("TINCAN_VM_KERNEL_PACKAGE") {
        Ok(package) => package,
        Err(_) => current_kernel_package()?,
    };
    // To the real stderr, past a test harness's capture: a test that fetches
    // says so too.
    let _ =
        writeln!(std::io::stderr(), "vm: fetching {package} (once; cached in {})", dir.display());
    let work = tempfile::tempdir_in(&dir)?;
    run(Command::new("apt-get").args(["download", "-q", &package]).current_dir(work.path()))?;
    let deb = fs::read_dir(work.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let unpacked = work.path().join("unpacked");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    let bzimage = fs::read_dir(unpacked.join("boot"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .context("the package has no /boot/vmlinuz-*")?;
    let release = bzimage.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_owned();
    let elf = uncompress_bzimage(&fs::read(&bzimage)?)
        .with_context(|| format!("uncompress {}", bzimage.display()))?;
    // Write, then rename: a run killed half-way leaves no half a kernel.
    let partial = work.path().join("vmlinux");
    fs::write(&partial, elf)?;
    fs::rename(&partial, &vmlinux)?;
    let _ = fs::remove_dir_all(&modules);
    fs::rename(unpacked.join("lib/modules").join(&release), &modules)
        .context("the package has no /lib/modules/RELEASE")?;
    fs::write(&release_file, format!("{release}\n"))?;
    Ok(Kernel { vmlinux, release, modules })
}

/// `apt-cache depends linux-image-amd64` names the current kernel package.
fn current_kernel_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", "linux-image-amd64"])
        .output()
        .context("run apt-cache (the VM harness fetches Debian's kernel package)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
        .map(|rest| format!("linux-image-{rest}"))
        .context("apt-cache depends linux-image-amd64 names no kernel package (apt-get update?)")
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("run {command:?}"))?;
    ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

/// The ELF kernel inside a bzImage.
pub fn uncompress_bzimage(image: &[u8]) -> Result<Vec<u8>> {
    let u32_at =
        |at: usize| image.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    ensure!(image.get(0x202..0x206) == Some(b"HdrS"), "not a bzImage (no HdrS magic)");
    // setup_sects: 512-byte sectors of setup code after the boot sector (0 means 4).
    let setup_sects = match image.get(0x1f1) {
        Some(0) => 4,
        Some(n) => usize::from(*n),
        None => bail!("truncated bzImage"),
    };
    let (offset, length) = (u32_at(0x248), u32_at(0x24c));
    let (Some(offset), Some(length)) = (offset, length) else { bail!("truncated bzImage") };
    let start = (setup_sects + 1) * 512 + offset as usize;
    let payload =
        image.get(start..start + length as usize).context("the payload lies outside the file")?;
    let mut elf = Vec::new();
    match payload {
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            liblzma::read::XzDecoder::new(payload).read_to_end(&mut elf)?;
        }
        [0x1f, 0x8b, ..] => {
            flate2::read::GzDecoder::new(payload).read_to_end(&mut elf)?;
        }
        other => bail!(
            "the kernel is compressed with a format we do not unpack (magic {:02x?}); xz and gzip are",
            &other[..other.len().min(4)]
        ),
    }
    ensure!(elf.starts_with(b"\x7fELF"), "the uncompressed kernel is not an ELF file");
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_bzimage_is_refused() {
        let err = uncompress_bzimage(&[0; 4096]).unwrap_err();
        assert!(err.to_string().contains("not a bzImage"), "{err}");
    }

    #[test]
    fn a_gzip_payload_is_found_through_the_setup_header() {
        use std::io::Write;
        let elf = b"\x7fELF and the rest of a kernel";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(elf).unwrap();
        let payload = gz.finish().unwrap();
        // One setup sector after the boot sector; the payload 16 bytes further on.
        let mut image = vec![0u8; 1024 + 16];
        image[0x1f1] = 1;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        image.extend_from_slice(&payload);
        assert_eq!(uncompress_bzimage(&image).unwrap(), elf);
    }
}
