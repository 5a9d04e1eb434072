//! Which accelerator runs the guest: KVM where it can work, qemu's software
//! emulation (TCG) otherwise.
//!
//! KVM runs the guest's instructions on the CPU itself, so the CPU must offer
//! hardware virtualisation, and the kernel must give us `/dev/kvm`. Where either
//! is missing we know at once and go straight to TCG; an attempt that fails can
//! take long (a guest that never boots is only noticed on a timeout).

/// How qemu runs the guest's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation: the guest runs on the CPU, at nearly native speed.
    Kvm,
    /// qemu's software emulation (the Tiny Code Generator): every guest
    /// instruction translated; slower, but works everywhere.
    Tcg,
}

/// Which accelerator to use: KVM when it works, TCG otherwise, or one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// Why KVM cannot work here, if that shows without trying: `/proc/cpuinfo` (its
/// `cpuinfo`) lists no `vmx` (Intel VT-x) or `svm` (AMD-V) flag, or `/dev/kvm`
/// does not open. (A `/dev/kvm` without those flags is not the KVM qemu
/// expects: on some cloud machines it is a paravirtualised one that only
/// special guest kernels can use.)
pub(crate) fn kvm_unusable(cpuinfo: &str, dev_kvm: std::io::Result<()>) -> Option<String> {
    let flags = cpuinfo.lines().filter_map(|l| Some(l.strip_prefix("flags")?.split_once(':')?.1));
    let virtualisation = flags.flat_map(str::split_whitespace).any(|f| f == "vmx" || f == "svm");
    if !virtualisation {
        return Some("the CPU has no vmx or svm flag (no hardware virtualisation)".to_owned());
    }
    dev_kvm.err().map(|e| format!("/dev/kvm cannot be opened: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: &str =
        "processor\t: 0\nflags\t\t: fpu vme svm lm\n\nprocessor\t: 1\nflags\t\t: fpu vme svm lm\n";

    #[test]
    fn without_vmx_or_svm_kvm_is_not_tried() {
        let cloud = "processor\t: 0\nflags\t\t: fpu vme hypervisor lm\n";
        assert_eq!(
            kvm_unusable(cloud, Ok(())).as_deref(),
            Some("the CPU has no vmx or svm flag (no hardware virtualisation)")
        );
    }

    #[test]
    fn with_the_flag_kvm_needs_dev_kvm() {
        assert_eq!(kvm_unusable(AMD, Ok(())), None);
        let missing = std::io::Error::from_raw_os_error(nix::libc::ENOENT);
        assert_eq!(
            kvm_unusable(AMD, Err(missing)).as_deref(),
            Some("/dev/kvm cannot be opened: No such file or directory (os error 2)")
        );
    }
}
