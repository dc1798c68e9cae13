//! The kernel and the machine: `kernel.version`, `host.resources`.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::FactError;

const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

fn parse_release(text: &str) -> Option<(u32, u32)> {
    let mut it = text.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

pub(super) fn version(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let text = ctx.host.read(OSRELEASE)?;
    let release = text.trim();
    let seen = format!("{OSRELEASE}: {release}");
    let Some(v) = parse_release(release) else {
        return Err(FactError::malformed(
            OSRELEASE,
            1,
            format!("{release:?} is not MAJOR.MINOR..."),
        ));
    };
    let upgrade = "upgrade the kernel (e.g. sudo apt-get install -y linux-image-amd64) and reboot";
    Ok(if v < (4, 18) {
        Verdict::fail(format!("kernel {release} is older than 4.18: fuse-overlayfs and rootless networking do not work"))
            .evidence(seen)
            .remedy(upgrade)
    } else if v < (5, 2) {
        Verdict::warn(format!(
            "kernel {release} is older than the recommended 5.2"
        ))
        .evidence(seen)
        .remedy(upgrade)
    } else {
        Verdict::pass(format!("kernel {release}")).evidence(seen)
    })
}

/// `0-3,6` → 5; None when the text is not a CPU list (empty included:
/// the kernel always lists at least the boot CPU).
fn count_cpus(list: &str) -> Option<u64> {
    let list = list.trim();
    if list.is_empty() {
        return None;
    }
    list.split(',').try_fold(0u64, |n, r| {
        let (a, b) = match r.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let c = r.parse::<u32>().ok()?;
                (c, c)
            }
        };
        // u64: `0-4294967295` counts 2^32 CPUs without overflowing.
        (a <= b).then(|| n + u64::from(b - a) + 1)
    })
}

pub(super) fn resources(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    let meminfo = host.read("/proc/meminfo")?;
    let (n, line) = meminfo
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("MemTotal:"))
        .ok_or_else(|| FactError::malformed("/proc/meminfo", 1, "no MemTotal line"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| FactError::malformed("/proc/meminfo", n + 1, format!("{line:?}")))?;
    let mib = kib / 1024;
    f.observe(format!("/proc/meminfo:{}: {line}", n + 1));
    if mib < ctx.params.min_memory_mib {
        f.find(
            Status::Fail,
            format!(
                "{mib} MiB of memory, fewer than {} MiB",
                ctx.params.min_memory_mib
            ),
        );
        f.remedy(
            "give the machine more memory (k3s's server needs about 512 MiB, more with workloads)",
        );
    }
    const ONLINE: &str = "/sys/devices/system/cpu/online";
    let online = host.read(ONLINE)?;
    let cpus = count_cpus(&online).ok_or_else(|| {
        FactError::malformed(
            ONLINE,
            1,
            format!("{:?} is not a CPU list such as 0-3,6", online.trim()),
        )
    })?;
    f.observe(format!("/sys/devices/system/cpu/online: {}", online.trim()));
    if cpus < u64::from(ctx.params.min_cpus) {
        f.find(
            Status::Fail,
            format!("{cpus} CPUs online, fewer than {}", ctx.params.min_cpus),
        );
        f.remedy("give the machine more CPUs");
    }
    Ok(f.finish(format!("{mib} MiB of memory, {cpus} CPUs")))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const version: &str = "\
Verifies that the running kernel (/proc/sys/kernel/osrelease) is 4.18 or newer (required) and 5.2 or newer (recommended).

Why: fuse-overlayfs needs FUSE in user namespaces (4.18): k3s otherwise fails with \"fuse-overlayfs not functional, make sure running with kernel >= 4.18\". Newer kernels (5.2+) bring the cgroup v2 freezer and the delegation support that rootless k3s relies on in practice. Kernel modules cannot be loaded from inside the rootless namespace either (\"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\"), so an old kernel cannot be patched up at run time.

Fix: install a newer kernel from the distribution (Debian: `sudo apt-get install -y linux-image-amd64`) and reboot.";

    pub(crate) const resources: &str = "\
Verifies that the host has at least 512 MiB of memory (/proc/meminfo MemTotal) and 1 online CPU (/sys/devices/system/cpu/online). Advisory; a suite can raise the minimums (min_memory_mib, min_cpus).

Why: the k3s server (API server, controller manager, scheduler, kine/SQLite, containerd, coredns, traefik, metrics-server) needs about 512 MiB before any workload; with less, pods are evicted or the API server is OOM-killed and the acceptance suite times out.

Fix: give the machine more memory or CPUs.";
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_release_and_cpu_lists() {
        assert_eq!(super::parse_release("6.18.44-fc-v657\n"), Some((6, 18)));
        assert_eq!(super::parse_release("4.9"), Some((4, 9)));
        assert_eq!(super::count_cpus("0-1\n"), Some(2));
        assert_eq!(super::count_cpus("0-3,6"), Some(5));
        assert_eq!(super::count_cpus("0-4294967295"), Some(1 << 32));
        for bad in ["", "\n", "x", "3-1", "0-", "0,,1", "18446744073709551615"] {
            assert_eq!(super::count_cpus(bad), None, "{bad:?}");
        }
    }
}
