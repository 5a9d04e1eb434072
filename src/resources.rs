//! `linux.resources`: chapter 7's limits and chapter 10's devices, as a
//! config asks for them. A field with no chapter behind it is refused by
//! name.

use ch07_cgroups::{CgroupOptions, MemorySwap};
use ch10_harden::devices::{Access, Kind, Rule};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// Fill `options` with the limits `resources` asks for; the device rules, if
/// it lists any. `Err` names the field tincan cannot honour.
pub fn read(
    resources: &LinuxResources,
    options: &mut CgroupOptions,
) -> Result<Option<Vec<Rule>>, String> {
    let field = |name: &str| format!("linux.resources.{name}");
    if let Some(memory) = resources.memory() {
        options.memory = memory.limit().filter(|l| *l > 0).map(|l| l as u64);
        options.memory_swap = match memory.swap() {
            Some(-1) => Some(MemorySwap::Unlimited),
            Some(n) if n > 0 => Some(MemorySwap::Bytes(n as u64)),
            _ => None,
        };
        let others = [
            ("memory.reservation", memory.reservation().is_some()),
            ("memory.kernel", memory.kernel().is_some()),
            ("memory.kernelTCP", memory.kernel_tcp().is_some()),
            ("memory.swappiness", memory.swappiness().is_some()),
            ("memory.disableOOMKiller", memory.disable_oom_killer() == Some(true)),
        ];
        if let Some((name, _)) = others.iter().find(|(_, set)| *set) {
            return Err(field(name));
        }
    }
    if let Some(cpu) = resources.cpu() {
        // Chapter 7 takes v2's weight, and turns it into v1's shares only
        // approximately: only v1's default share (nothing to write) is taken
        // as it is. (0, as for runc, is no setting.)
        match cpu.shares() {
            None | Some(0) | Some(1024) => {}
            Some(_) => return Err(field("cpu.shares other than 1024")),
        }
        // Chapter 7 writes a quota over the default period, 100 ms.
        match (cpu.quota(), cpu.period()) {
            (Some(quota), None | Some(100_000)) if quota > 0 => {
                options.cpus = Some(quota as f64 / 100_000.0);
            }
            (None | Some(-1), None) => {}
            _ => return Err(field("cpu.period other than 100000")),
        }
        let others = [
            ("cpu.realtimeRuntime", cpu.realtime_runtime().is_some()),
            ("cpu.realtimePeriod", cpu.realtime_period().is_some()),
            ("cpu.cpus", cpu.cpus().is_some()),
            ("cpu.mems", cpu.mems().is_some()),
            ("cpu.idle", cpu.idle().is_some()),
            ("cpu.burst", cpu.burst().is_some()),
        ];
        if let Some((name, _)) = others.iter().find(|(_, set)| *set) {
            return Err(field(name));
        }
    }
    if let Some(pids) = resources.pids() {
        options.pids_limit = (pids.limit() > 0).then_some(pids.limit() as u64);
    }
    if let Some(io) = resources.block_io() {
        // v1's 10–1000, onto v2's 1–10000, which chapter 7 takes.
        // (0, as for runc, is no setting.)
        options.io_weight = io.weight().filter(|w| *w > 0).map(|w| {
            let w = u32::from(w.clamp(10, 1000));
            (1 + (w - 10) * 9999 / 990) as u16
        });
        let devices = [
            ("blockIO.leafWeight", io.leaf_weight().is_some()),
            ("blockIO.weightDevice", io.weight_device().as_ref().is_some_and(|d| !d.is_empty())),
            (
                "blockIO.throttleReadBpsDevice",
                io.throttle_read_bps_device().as_ref().is_some_and(|d| !d.is_empty()),
            ),
            (
                "blockIO.throttleWriteBpsDevice",
                io.throttle_write_bps_device().as_ref().is_some_and(|d| !d.is_empty()),
            ),
            (
                "blockIO.throttleReadIOPSDevice",
                io.throttle_read_iops_device().as_ref().is_some_and(|d| !d.is_empty()),
            ),
            (
                "blockIO.throttleWriteIOPSDevice",
                io.throttle_write_iops_device().as_ref().is_some_and(|d| !d.is_empty()),
            ),
        ];
        if let Some((name, _)) = devices.iter().find(|(_, set)| *set) {
            return Err(field(name));
        }
    }
    let others = [
        ("hugepageLimits", resources.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())),
        ("network", resources.network().is_some()),
        ("rdma", resources.rdma().as_ref().is_some_and(|r| !r.is_empty())),
        ("unified", resources.unified().as_ref().is_some_and(|u| !u.is_empty())),
    ];
    if let Some((name, _)) = others.iter().find(|(_, set)| *set) {
        return Err(field(name));
    }
    match resources.devices() {
        Some(devices) if !devices.is_empty() => device_rules(devices).map(Some),
        _ => Ok(None),
    }
}

/// The device list as every engine writes it: deny everything, then allow
/// devices one by one — which chapter 10's step does. Any other order of
/// allows and denies is refused.
fn device_rules(devices: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, String> {
    let denies_all = |d: &LinuxDeviceCgroup| {
        !d.allow()
            && matches!(d.typ(), None | Some(LinuxDeviceType::A))
            && d.major().is_none()
            && d.minor().is_none()
            && d.access()
                .as_deref()
                .is_none_or(|a| a.chars().all(|c| "rwm".contains(c)) && a.len() == 3)
    };
    let Some((first, allows)) = devices.split_first().filter(|(first, _)| denies_all(first)) else {
        return Err("linux.resources.devices that does not start by denying every device".into());
    };
    let _ = first;
    // runc and crun add their default devices to every list: any node may be
    // made, and /dev's own devices opened (chapter 10's list, runc's).
    let defaults = ch10_harden::devices::DEFAULT_RULES.iter().copied().map(Ok);
    defaults
        .chain(allows.iter().enumerate().map(|(i, d)| {
            let at = || format!("linux.resources.devices[{}]", i + 1);
            let kind = match d.typ() {
                Some(LinuxDeviceType::C | LinuxDeviceType::U) => Kind::Char,
                Some(LinuxDeviceType::B) => Kind::Block,
                _ if !d.allow() => return Err(format!("{} (a deny after the first)", at())),
                Some(LinuxDeviceType::P) => return Err(format!("{} (a FIFO)", at())),
                _ => return Err(format!("{} (every device of every kind)", at())),
            };
            if !d.allow() {
                return Err(format!("{} (a deny after the first)", at()));
            }
            let number = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as u32);
            let access = Access::from_letters(d.access().as_deref().unwrap_or("rwm"))
                .filter(|a| a.bits() != 0)
                .ok_or_else(|| format!("{} (access {:?})", at(), d.access()))?;
            Ok(Rule { kind, major: number(d.major()), minor: number(d.minor()), access })
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// containerd's default: deny all, allow the usual devices; the default share.
    #[test]
    fn containerd_s_default_is_taken() {
        let r = resources(
            r#"{"devices": [{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"}],
                "cpu": {"shares": 1024}}"#,
        );
        let mut options = CgroupOptions::default();
        let rules = read(&r, &mut options).unwrap().unwrap();
        let lines: Vec<String> = rules.iter().map(Rule::v1_line).collect();
        let defaults = ch10_harden::devices::DEFAULT_RULES.len();
        assert_eq!(lines[..2], ["c *:* m", "b *:* m"]);
        assert_eq!(lines[defaults..], ["c 1:3 rwm", "c 136:* rwm"]);
        assert_eq!(options.cpu_weight, None, "1024 is the default share");
    }

    #[test]
    fn limits_become_chapter_7_s() {
        let r = resources(
            r#"{"memory": {"limit": 67108864, "swap": -1}, "pids": {"limit": 64},
            "cpu": {"quota": 50000, "period": 100000, "shares": 1024}, "blockIO": {"weight": 500}}"#,
        );
        let mut options = CgroupOptions::default();
        assert_eq!(read(&r, &mut options).unwrap(), None);
        assert_eq!(
            (options.memory, options.memory_swap),
            (Some(64 << 20), Some(MemorySwap::Unlimited))
        );
        assert_eq!((options.pids_limit, options.cpus), (Some(64), Some(0.5)));
        // 500 on v1's 10-1000 is about the middle of v2's 1-10000.
        assert_eq!((options.cpu_weight, options.io_weight), (None, Some(4950)));
    }

    #[test]
    fn what_no_chapter_does_is_named() {
        let mut options = CgroupOptions::default();
        let cpuset = resources(r#"{"cpu": {"cpus": "0-1"}}"#);
        assert_eq!(read(&cpuset, &mut options).unwrap_err(), "linux.resources.cpu.cpus");
        let allow_first = resources(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#);
        assert!(
            read(&allow_first, &mut options).unwrap_err().contains("does not start by denying")
        );
        let shares = resources(r#"{"cpu": {"shares": 512}}"#);
        let error = read(&shares, &mut options).unwrap_err();
        assert_eq!(error, "linux.resources.cpu.shares other than 1024");
        let period = resources(r#"{"cpu": {"quota": 25000, "period": 50000}}"#);
        let error = read(&period, &mut options).unwrap_err();
        assert_eq!(error, "linux.resources.cpu.period other than 100000");
    }
}
