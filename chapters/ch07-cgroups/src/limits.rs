//! The limits a user asks for, and the files that set them in each cgroup version.
//!
//! A limit is a number written into a file of the container's cgroup. The two
//! versions of cgroups name the files (and sometimes the units) differently:
//!
//! | option          | cgroup v2                 | cgroup v1                                   |
//! |-----------------|---------------------------|---------------------------------------------|
//! | `--memory`      | `memory.max`              | `memory.limit_in_bytes`                     |
//! | `--memory-swap` | `memory.swap.max` (swap only) | `memory.memsw.limit_in_bytes` (memory + swap) |
//! | `--cpus`        | `cpu.max` ("QUOTA PERIOD") | `cpu.cfs_quota_us`, `cpu.cfs_period_us`    |
//! | `--cpu-weight`  | `cpu.weight` (1–10000)    | `cpu.shares` (2–262144)                     |
//! | `--pids-limit`  | `pids.max`                | `pids.max`                                  |
//! | `--io-weight`   | `io.weight` (1–10000)     | `blkio.bfq.weight` or `blkio.weight` (1–1000) |
//!
//! The weights are given on v2's scale. For v1, the CPU weight is converted with
//! the inverse of the formula runc and crun use to turn `cpu.shares` into
//! `cpu.weight`, and the IO weight is scaled onto v1's 10–1000. Both keep the
//! ends of the ranges, not the defaults: v2's default weight, 100, is not v1's
//! default `cpu.shares` of 1024.

use std::fmt;

use crate::hierarchy::Version;

/// The CPU time a `--cpus` quota is counted over: 100 ms, the kernel's default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The shortest quota the kernel accepts per period (1 ms).
const MIN_QUOTA_US: u64 = 1_000;

/// The kinds of resources a limit belongs to. Each is a cgroup *controller*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
    Io,
}

impl Controller {
    /// The controllers every container's cgroup is made in (where the host has
    /// them): limited or not, the counters tell what the container used.
    pub const ALL: [Controller; 4] =
        [Controller::Memory, Controller::Cpu, Controller::Pids, Controller::Io];

    /// The controller's name in `version`: v2 renamed `blkio` to `io`.
    pub fn name(self, version: Version) -> &'static str {
        match (self, version) {
            (Controller::Memory, _) => "memory",
            (Controller::Cpu, _) => "cpu",
            (Controller::Pids, _) => "pids",
            (Controller::Io, Version::V1) => "blkio",
            (Controller::Io, Version::V2) => "io",
        }
    }
}

/// `--memory-swap`: memory plus swap, as Docker counts it, or no limit on swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySwap {
    Bytes(u64),
    Unlimited,
}

/// What the user asked for, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_swap: Option<MemorySwap>,
    pub cpus: Option<f64>,
    pub cpu_weight: Option<u16>,
    pub pids: Option<u64>,
    pub io_weight: Option<u16>,
}

/// One write into a cgroup file. `files` lists the names the file may have, the
/// first existing one wins (v1's IO weight is `blkio.bfq.weight` with the BFQ
/// scheduler, `blkio.weight` with the old CFQ one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub controller: Controller,
    pub files: &'static [&'static str],
    pub value: String,
}

/// Limits that contradict each other or the kernel's ranges.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitsError {
    #[error("--memory-swap needs --memory: it counts memory and swap together")]
    SwapWithoutMemory,
    #[error(
        "--memory-swap ({}) is less than --memory ({}): it counts memory and swap together; give at least --memory, or -1 for unlimited swap",
        Bytes(*.swap), Bytes(*.memory)
    )]
    SwapBelowMemory { memory: u64, swap: u64 },
    #[error("--cpus {0} is too small: the kernel needs a quota of at least 1 ms per 100 ms (0.01)")]
    CpusTooSmall(f64),
}

impl Limits {
    /// Check that the limits make sense together.
    pub fn check(&self) -> Result<(), LimitsError> {
        match (self.memory, self.memory_swap) {
            (None, Some(_)) => return Err(LimitsError::SwapWithoutMemory),
            (Some(memory), Some(MemorySwap::Bytes(swap))) if swap < memory => {
                return Err(LimitsError::SwapBelowMemory { memory, swap });
            }
            _ => {}
        }
        match self.cpus {
            Some(cpus) if cpu_quota_us(cpus) < MIN_QUOTA_US => Err(LimitsError::CpusTooSmall(cpus)),
            _ => Ok(()),
        }
    }

    /// The controllers these limits need, each with the option that needs it.
    pub fn controllers(&self) -> Vec<(Controller, &'static str)> {
        let mut needed = Vec::new();
        if self.memory.is_some() {
            needed.push((Controller::Memory, "--memory"));
        }
        if self.cpus.is_some() {
            needed.push((Controller::Cpu, "--cpus"));
        }
        if self.cpu_weight.is_some() {
            needed.push((Controller::Cpu, "--cpu-weight"));
        }
        if self.pids.is_some() {
            needed.push((Controller::Pids, "--pids-limit"));
        }
        if self.io_weight.is_some() {
            needed.push((Controller::Io, "--io-weight"));
        }
        needed
    }

    // ANCHOR: settings
    /// The writes that set these limits in a cgroup of `version`, in the order
    /// they must happen (v1 refuses a memory+swap limit below the memory limit).
    pub fn settings(&self, version: Version) -> Vec<Setting> {
        use Controller::{Cpu, Io, Memory, Pids};
        let set = |controller, files, value: String| Setting { controller, files, value };
        let mut settings = Vec::new();
        match version {
            Version::V2 => {
                if let Some(bytes) = self.memory {
                    settings.push(set(Memory, &["memory.max"], bytes.to_string()));
                    // v2 limits swap on its own; Docker's option counts memory too.
                    if let Some(swap) = self.memory_swap {
                        let value = match swap {
                            MemorySwap::Bytes(total) => (total - bytes).to_string(),
                            MemorySwap::Unlimited => "max".to_owned(),
                        };
                        settings.push(set(Memory, &["memory.swap.max"], value));
                    }
                }
                if let Some(cpus) = self.cpus {
                    let value = format!("{} {CPU_PERIOD_US}", cpu_quota_us(cpus));
                    settings.push(set(Cpu, &["cpu.max"], value));
                }
                if let Some(weight) = self.cpu_weight {
                    settings.push(set(Cpu, &["cpu.weight"], weight.to_string()));
                }
                if let Some(pids) = self.pids {
                    settings.push(set(Pids, &["pids.max"], pids.to_string()));
                }
                if let Some(weight) = self.io_weight {
                    settings.push(set(Io, &["io.weight"], format!("default {weight}")));
                }
            }
            Version::V1 => {
                if let Some(bytes) = self.memory {
                    settings.push(set(Memory, &["memory.limit_in_bytes"], bytes.to_string()));
                    if let Some(swap) = self.memory_swap {
                        let value = match swap {
                            MemorySwap::Bytes(total) => total.to_string(),
                            MemorySwap::Unlimited => "-1".to_owned(),
                        };
                        settings.push(set(Memory, &["memory.memsw.limit_in_bytes"], value));
                    }
                }
                if let Some(cpus) = self.cpus {
                    settings.push(set(Cpu, &["cpu.cfs_period_us"], CPU_PERIOD_US.to_string()));
                    settings.push(set(Cpu, &["cpu.cfs_quota_us"], cpu_quota_us(cpus).to_string()));
                }
                if let Some(weight) = self.cpu_weight {
                    settings.push(set(Cpu, &["cpu.shares"], cpu_shares(weight).to_string()));
                }
                if let Some(pids) = self.pids {
                    settings.push(set(Pids, &["pids.max"], pids.to_string()));
                }
                if let Some(weight) = self.io_weight {
                    let files = &["blkio.bfq.weight", "blkio.weight"];
                    settings.push(set(Io, files, blkio_weight(weight).to_string()));
                }
            }
        }
        settings
    }
    // ANCHOR_END: settings
}

/// `--cpus 0.5` is 50 ms of CPU time in every 100 ms period.
fn cpu_quota_us(cpus: f64) -> u64 {
    (cpus * CPU_PERIOD_US as f64).round() as u64
}

/// v2's `cpu.weight` (1–10000, default 100) as v1's `cpu.shares` (2–262144, default
/// 1024): the inverse of the conversion runc and crun use for the other direction.
fn cpu_shares(weight: u16) -> u64 {
    2 + (u64::from(weight) - 1) * 262_142 / 9_999
}

/// v2's `io.weight` (1–10000) as v1's blkio weight: scaled onto 1–1000 (BFQ's
/// range), and at least 10, the lowest the older CFQ scheduler's `blkio.weight`
/// accepts.
fn blkio_weight(weight: u16) -> u64 {
    (1 + (u64::from(weight) - 1) * 999 / 9_999).max(10)
}

/// A byte count for people: "64 MiB", "1.5 GiB", "512 B".
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if value.fract() == 0.0 {
            write!(f, "{value} {}", UNITS[unit])
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// Parse a size as Docker's options take it: `1048576`, `512k`, `64m`, `1g`, and
/// also `64MiB`; the units are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text)
        .map_err(|e| format!("{e} (try a number of bytes, or 512k, 64m, 1g)"))
}

/// Parse `--memory-swap`: a size, or `-1` for no limit on swap.
pub fn parse_memory_swap(text: &str) -> Result<MemorySwap, String> {
    if text == "-1" { Ok(MemorySwap::Unlimited) } else { parse_size(text).map(MemorySwap::Bytes) }
}

/// Parse `--cpus`: a positive number of CPUs, fractions allowed.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus > 0.0 => Ok(cpus),
        _ => Err("give a positive number of CPUs, such as 0.5 or 2".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_powers_of_1024() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_memory_swap("-1"), Ok(MemorySwap::Unlimited));
    }

    #[test]
    fn bytes_read_like_a_person_would_write_them() {
        assert_eq!(Bytes(64 << 20).to_string(), "64 MiB");
        assert_eq!(Bytes(1536 << 20).to_string(), "1.5 GiB");
        assert_eq!(Bytes(100).to_string(), "100 B");
    }

    #[test]
    fn swap_counts_memory_too_and_v2_wants_only_the_swap() {
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(MemorySwap::Bytes(96 << 20)),
            ..Limits::default()
        };
        assert_eq!(limits.check(), Ok(()));
        let v2: Vec<_> = limits.settings(Version::V2).into_iter().map(|s| s.value).collect();
        assert_eq!(v2, [(64u64 << 20).to_string(), (32u64 << 20).to_string()]);
        let v1 = limits.settings(Version::V1);
        assert_eq!(v1[0].files, ["memory.limit_in_bytes"]); // before memsw: v1 insists
        assert_eq!(v1[1].value, (96u64 << 20).to_string());
    }

    #[test]
    fn contradictions_are_refused() {
        let swap_only =
            Limits { memory_swap: Some(MemorySwap::Bytes(1 << 20)), ..Limits::default() };
        assert_eq!(swap_only.check(), Err(LimitsError::SwapWithoutMemory));
        let below = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(MemorySwap::Bytes(32 << 20)),
            ..Limits::default()
        };
        assert!(below.check().unwrap_err().to_string().contains("(32 MiB) is less than"));
        let tiny = Limits { cpus: Some(0.001), ..Limits::default() };
        assert_eq!(tiny.check(), Err(LimitsError::CpusTooSmall(0.001)));
    }

    #[test]
    fn a_cpu_fraction_is_a_quota_per_period() {
        let limits = Limits { cpus: Some(0.5), ..Limits::default() };
        assert_eq!(limits.settings(Version::V2)[0].value, "50000 100000");
        let v1 = limits.settings(Version::V1);
        assert_eq!((v1[0].files[0], v1[1].value.as_str()), ("cpu.cfs_period_us", "50000"));
    }

    #[test]
    fn weights_keep_their_ends_when_converted_for_v1() {
        assert_eq!((cpu_shares(1), cpu_shares(10_000)), (2, 262_144));
        assert_eq!((blkio_weight(1), blkio_weight(500), blkio_weight(10_000)), (10, 50, 1_000));
    }

    #[test]
    fn only_the_controllers_a_limit_needs_are_required() {
        let limits = Limits { pids: Some(10), cpu_weight: Some(50), ..Limits::default() };
        let needed = limits.controllers();
        assert_eq!(needed, [(Controller::Cpu, "--cpu-weight"), (Controller::Pids, "--pids-limit")]);
    }
}
