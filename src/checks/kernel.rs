//! The kernel and the machine: `kernel.version`, `kernel.modules`,
//! `host.resources`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::kernel::KernelFacts;
use crate::host::{FactError, Host};

const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

fn parse_release(text: &str) -> Option<(u32, u32)> {
    let mut it = text.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

pub(crate) const VERSION: Check = Check {
    id: "kernel.version",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the kernel is new enough",
    fixed_by: None,
    run: version,
    explain: "\
Verifies that the running kernel (/proc/sys/kernel/osrelease) is 4.18 or newer (required) and 5.2 or newer (recommended).

Why: fuse-overlayfs needs FUSE in user namespaces (4.18): k3s otherwise fails with \"fuse-overlayfs not functional, make sure running with kernel >= 4.18\". Newer kernels (5.2+) bring the cgroup v2 freezer and the delegation support that rootless k3s relies on in practice. Kernel modules cannot be loaded from inside the rootless namespace either (\"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\"), so an old kernel cannot be patched up at run time.

Fix: install a newer kernel from the distribution (Debian: `sudo apt-get install -y linux-image-amd64`) and reboot.",
};

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

/// The file krc's `kernel-modules` installer step writes.
pub(crate) use crate::layout::MODULES_LOAD_FILE;

/// One module with the config symbol that builds it.
struct Module {
    name: &'static str,
    config: &'static str,
}

const fn m(name: &'static str, config: &'static str) -> Module {
    Module { name, config }
}

/// How bad a feature's absence is, and whether the kernel loads its module
/// by itself when k3s first uses it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// k3s fails without it; the module must be loaded before k3s starts.
    Required,
    /// k3s fails without it, but the kernel loads the module on first use
    /// (a device node's `char-major-*` alias, a link type's `rtnl-link-*`
    /// alias), which works from inside the rootless namespace.
    OnDemand,
    /// k3s starts without it and logs "Failed to load kernel module".
    Recommended,
}

struct Feature {
    what: &'static str,
    /// Any one complete alternative provides the feature.
    alternatives: &'static [&'static [Module]],
    need: Need,
}

/// What rootless k3s needs from the kernel. The module list is the one
/// k3s itself tries to modprobe (k3s-io/k3s:pkg/agent/syssetup/setup.go:
/// overlay, nf_conntrack, br_netfilter, iptable_nat, iptable_filter and
/// the nftables NAT chain), plus what RootlessKit, slirp4netns, flannel and
/// the fuse-overlayfs snapshotter use inside the namespace.
const FEATURES: &[Feature] = &[
    Feature {
        what: "iptables/nftables NAT and filter",
        alternatives: &[
            &[
                m("ip_tables", "IP_NF_IPTABLES"),
                m("iptable_nat", "IP_NF_NAT"),
                m("iptable_filter", "IP_NF_FILTER"),
            ],
            &[m("nf_tables", "NF_TABLES"), m("nft_chain_nat", "NFT_NAT")],
        ],
        need: Need::Required,
    },
    Feature {
        what: "bridge netfilter",
        alternatives: &[&[m("br_netfilter", "BRIDGE_NETFILTER")]],
        need: Need::Recommended,
    },
    Feature {
        what: "VXLAN (flannel)",
        alternatives: &[&[m("vxlan", "VXLAN")]],
        need: Need::OnDemand,
    },
    Feature {
        what: "overlayfs",
        alternatives: &[&[m("overlay", "OVERLAY_FS")]],
        need: Need::Recommended,
    },
    Feature {
        what: "TUN/TAP (slirp4netns)",
        alternatives: &[&[m("tun", "TUN")]],
        need: Need::OnDemand,
    },
    Feature {
        what: "FUSE (fuse-overlayfs)",
        alternatives: &[&[m("fuse", "FUSE_FS")]],
        need: Need::OnDemand,
    },
    Feature {
        what: "veth pairs (pod network)",
        alternatives: &[&[m("veth", "VETH")]],
        need: Need::OnDemand,
    },
    Feature {
        what: "Linux bridge (cni0)",
        alternatives: &[&[m("bridge", "BRIDGE")]],
        need: Need::OnDemand,
    },
];

/// Namespaces are config options, never modules.
const NAMESPACES: &[(&str, &str)] = &[
    ("user namespaces", "USER_NS"),
    ("network namespaces", "NET_NS"),
];

/// The config symbols the judgments below look up: all krc reads of the
/// kernel's config.
pub(crate) fn config_symbols() -> Vec<&'static str> {
    let modules = FEATURES
        .iter()
        .flat_map(|f| f.alternatives.iter().flat_map(|alt| alt.iter()))
        .map(|m| m.config);
    modules
        .chain(NAMESPACES.iter().map(|(_, sym)| *sym))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    BuiltIn(String),
    Loaded,
    Available(String),
    Missing(String),
    Unknown,
}

impl State {
    fn usable_now(&self) -> bool {
        matches!(self, State::BuiltIn(_) | State::Loaded)
    }
}

fn module_state(k: &KernelFacts, module: &Module) -> State {
    let cfg = k
        .config
        .as_ref()
        .and_then(|(path, c)| c.get(module.config).map(|v| (path, v)));
    if let Some((path, v)) = cfg
        && v.value == "y"
    {
        return State::BuiltIn(format!("{path}:{}: CONFIG_{}=y", v.line, module.config));
    }
    if let Some((path, list)) = &k.builtin
        && list.contains(module.name)
    {
        return State::BuiltIn(format!("{path} lists {}", module.name));
    }
    if k.loaded.as_ref().is_some_and(|l| l.contains(module.name)) {
        return State::Loaded;
    }
    if let Some((path, v)) = cfg
        && v.value == "m"
    {
        // Built as a module; if modules.dep is there, the file must be too.
        return match &k.installed {
            Some((dep, list)) if !list.contains(module.name) => State::Missing(format!(
                "{path}:{}: CONFIG_{}=m, but {dep} does not list it (the kernel's modules package is not installed?)",
                v.line, module.config
            )),
            _ => State::Available(format!("{path}:{}: CONFIG_{}=m", v.line, module.config)),
        };
    }
    // The config, when there is one, has the last word: a stale
    // modules.dep entry does not make a module the kernel lacks.
    if k.config.is_none()
        && let Some((path, list)) = &k.installed
        && list.contains(module.name)
    {
        return State::Available(format!("{path} lists {}", module.name));
    }
    match cfg {
        Some((path, v)) => State::Missing(format!(
            "{path}:{}: CONFIG_{}={}",
            v.line, module.config, v.value
        )),
        None => match &k.config {
            Some((path, _)) => State::Missing(format!("{path}: no CONFIG_{}", module.config)),
            // Without a config, a complete picture of modules still tells
            // "missing": not built in, not loaded, not installed.
            None if k.builtin.is_some() && k.installed.is_some() => State::Missing(format!(
                "not in {}, {} or {}",
                crate::host::kernel::PROC_MODULES,
                k.builtin.as_ref().map_or("", |b| b.0.as_str()),
                k.installed.as_ref().map_or("", |b| b.0.as_str())
            )),
            None => State::Unknown,
        },
    }
}

fn describe(name: &str, s: &State, need: Need) -> String {
    match s {
        State::BuiltIn(why) => format!("{name}: built in ({why})"),
        State::Loaded => format!("{name}: loaded ({})", crate::host::kernel::PROC_MODULES),
        State::Available(why) if need == Need::OnDemand => format!(
            "{name}: available as module, loaded by the kernel on first use ({why}); to have it at boot anyway, list it in {MODULES_LOAD_FILE}"
        ),
        // How to load it is the remedy's; the evidence says what was seen.
        State::Available(why) => format!("{name}: available as module, not loaded ({why})"),
        State::Missing(why) => format!("{name}: missing ({why})"),
        State::Unknown => format!("{name}: unknown (no kernel config and no module lists to tell)"),
    }
}

/// The modules rootless k3s uses that are available but not loaded:
/// what the `kernel-modules` installer step writes to
/// [`MODULES_LOAD_FILE`] and loads with `modprobe`. For the packet
/// filter, the modules of both backends are listed (k3s's bundled
/// iptables picks one at run time; k3s itself tries both).
pub(crate) fn modules_to_load(host: &Host) -> Result<Vec<String>, FactError> {
    let k = KernelFacts::load(host, &config_symbols())?;
    let mut out: Vec<String> = Vec::new();
    for f in FEATURES {
        for alt in f.alternatives {
            for module in alt.iter() {
                if matches!(module_state(&k, module), State::Available(_))
                    && !out.iter().any(|o| o == module.name)
                {
                    out.push(module.name.to_string());
                }
            }
        }
    }
    Ok(out)
}

pub(crate) const MODULES: Check = Check {
    id: "kernel.modules",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the kernel has the features rootless k3s needs, built in or loaded",
    fixed_by: Some("kernel-modules"),
    run: modules,
    explain: "\
Verifies that the kernel has what rootless k3s uses, and says for each feature whether it is built in, loaded, available as module, or missing: iptables or nftables NAT and filter (ip_tables, iptable_nat, iptable_filter, or nf_tables and nft_chain_nat), br_netfilter, vxlan, overlay, tun, fuse, veth, bridge, and user and network namespaces. It reads /proc/modules (loaded), /lib/modules/RELEASE/modules.builtin (built in), /lib/modules/RELEASE/modules.dep (installed modules) and the kernel config (/proc/config.gz, else /boot/config-RELEASE), with RELEASE from /proc/sys/kernel/osrelease.

Why: k3s tries to load the modules it needs itself (k3s-io/k3s:pkg/agent/syssetup/setup.go: loadKernelModule runs `modprobe` for overlay, nf_conntrack, br_netfilter, iptable_nat, iptable_filter and the nftables NAT chain unless /sys/module/NAME exists, and only warns \"Failed to load kernel module\" when that fails). Inside the rootless namespace modprobe always fails, and the packet filter is then missing: \"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\" (k3s-io/k3s issue 2942). A filter module that is available but not loaded is therefore a failure; br_netfilter and overlay not loaded are warnings (k3s starts; services between pods on one node and the native overlay snapshotter suffer). tun, fuse, veth, bridge and vxlan modules the kernel loads by itself on first use (device node and link-type aliases), so available is enough for them. A feature the kernel was built without cannot be loaded at all.

Fix: `printf '%s\\n' MODULE... | sudo tee /etc/modules-load.d/krc-rootless.conf && sudo modprobe -a MODULE...` for the modules listed as available (krc install does this in its kernel-modules step, which systemd-modules-load repeats at every boot); for a missing feature, boot a kernel built with it (on Debian/Ubuntu cloud images also install linux-modules-extra-$(uname -r)).",
};

pub(super) fn modules(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let k = KernelFacts::load(ctx.host, &config_symbols())?;
    if k.is_blind() {
        return Ok(Verdict::skip(format!(
            "kernel {}: no /proc/modules, no modules.builtin or modules.dep under /lib/modules/{0}, no /proc/config.gz or /boot/config-{0}: nothing to judge by",
            k.release
        ))
        .evidence(format!("{}: {}", crate::host::kernel::OSRELEASE, k.release)));
    }
    let mut j = Modules::default();
    j.f.observe(format!("{}: {}", crate::host::kernel::OSRELEASE, k.release));
    for feat in FEATURES {
        j.feature(&k, feat);
    }
    j.namespaces(&k);
    j.remedies();
    Ok(j.f.finish(format!(
        "kernel {} has every feature rootless k3s needs, built in or loaded",
        k.release
    )))
}

/// `kernel.modules` as it goes: the findings, the modules to load, and
/// whether something is missing outright. Features that need nothing are
/// named in one line each way; only a feature with a finding gets its
/// modules' evidence line.
#[derive(Default)]
struct Modules<'a> {
    f: Findings,
    to_load: Vec<&'static str>,
    missing: bool,
    usable_now: Vec<&'a str>,
    on_demand: Vec<&'a str>,
}

impl<'a> Modules<'a> {
    /// One feature: usable now, loadable (then loaded by krc, or by the
    /// kernel on first use), or missing.
    fn feature(&mut self, k: &KernelFacts, feat: &'a Feature) {
        let states: Vec<Vec<(&str, State)>> = feat
            .alternatives
            .iter()
            .map(|alt| alt.iter().map(|m| (m.name, module_state(k, m))).collect())
            .collect();
        let usable = states
            .iter()
            .any(|alt| alt.iter().all(|(_, s)| s.usable_now()));
        let loadable = states.iter().any(|alt| {
            alt.iter()
                .all(|(_, s)| s.usable_now() || matches!(s, State::Available(_)))
        });
        let unknown = states
            .iter()
            .any(|alt| alt.iter().any(|(_, s)| *s == State::Unknown));
        // Evidence: the alternative that decides, or all when none does.
        let shown: Vec<&Vec<(&str, State)>> = match states
            .iter()
            .find(|alt| alt.iter().all(|(_, s)| s.usable_now()))
        {
            Some(alt) => vec![alt],
            None => states.iter().collect(),
        };
        if usable {
            self.usable_now.push(feat.what);
            return;
        }
        if loadable && matches!(feat.need, Need::OnDemand) {
            self.on_demand.push(feat.what);
        } else {
            let lines: Vec<String> = shown
                .iter()
                .flat_map(|alt| alt.iter().map(|(n, s)| describe(n, s, feat.need)))
                .collect();
            self.f
                .observe(format!("{}: {}", feat.what, lines.join("; ")));
        }
        for alt in &states {
            for (n, s) in alt {
                if matches!(s, State::Available(_)) && !self.to_load.contains(n) {
                    self.to_load.push(*n);
                }
            }
        }
        match (loadable, feat.need) {
            (true, Need::Required) => self.f.find(
                Status::Fail,
                format!(
                    "{} is available as module but not loaded: rootless k3s cannot load it (\"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\")",
                    feat.what
                ),
            ),
            (true, Need::Recommended) => self.f.find(
                Status::Warn,
                format!(
                    "{} is available as module but not loaded: k3s cannot load it from the rootless namespace",
                    feat.what
                ),
            ),
            (true, Need::OnDemand) => {}
            (false, _) if unknown => self.f.find(
                Status::Warn,
                format!("could not tell whether the kernel has {}", feat.what),
            ),
            (false, Need::Recommended) => {
                self.missing = true;
                self.f.find(Status::Warn, format!("the kernel has no {}", feat.what))
            }
            (false, _) => {
                self.missing = true;
                self.f.find(Status::Fail, format!("the kernel has no {}", feat.what))
            }
        }
    }

    /// The namespaces rootless k3s creates, from the kernel config.
    fn namespaces(&mut self, k: &KernelFacts) {
        for (what, sym) in NAMESPACES {
            match k.config.as_ref().map(|(p, c)| (p, c.get(*sym))) {
                Some((_, Some(v))) if v.value == "y" => self.usable_now.push(what),
                Some((p, v)) => {
                    let seen = v.map_or(format!("{p}: no CONFIG_{sym}"), |v| {
                        format!("{p}:{}: CONFIG_{sym}={}", v.line, v.value)
                    });
                    self.f.observe(format!("{what}: missing ({seen})"));
                    self.missing = true;
                    self.f
                        .find(Status::Fail, format!("the kernel has no {what}"));
                }
                None => self
                    .f
                    .observe(format!("{what}: not judged here (no kernel config)")),
            }
        }
    }

    /// The summary lines and what to do: load the loadable, boot a kernel
    /// with the missing.
    fn remedies(&mut self) {
        if !self.usable_now.is_empty() {
            self.f.observe(format!(
                "usable now (built in or loaded): {}",
                self.usable_now.join(", ")
            ));
        }
        if !self.on_demand.is_empty() {
            self.f.observe(format!(
                "available as modules the kernel loads on first use: {}",
                self.on_demand.join(", ")
            ));
        }
        if !self.to_load.is_empty() {
            self.f.remedy(format!(
                "printf '%s\\n' {} | sudo tee {MODULES_LOAD_FILE}\nsudo modprobe -a {}\n(krc install does this in its kernel-modules step)",
                self.to_load.join(" "),
                self.to_load.join(" ")
            ));
        }
        if self.missing {
            self.f.remedy("for what is missing: boot a kernel built with it (the distribution's standard kernel, e.g. sudo apt-get install -y linux-image-amd64; on Debian/Ubuntu cloud kernels also linux-modules-extra-$(uname -r)) and reboot");
        }
    }
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

pub(crate) const HOST_RESOURCES: Check = Check {
    id: "host.resources",
    phase: Phase::Preflight,
    severity: Severity::Advisory,
    title: "the host has the memory and CPUs k3s needs",
    fixed_by: None,
    run: resources,
    explain: "\
Verifies that the host has at least 512 MiB of memory (/proc/meminfo MemTotal) and 1 online CPU (/sys/devices/system/cpu/online). Advisory; a suite can raise the minimums (min_memory_mib, min_cpus).

Why: the k3s server (API server, controller manager, scheduler, kine/SQLite, containerd, coredns, traefik, metrics-server) needs about 512 MiB before any workload; with less, pods are evicted or the API server is OOM-killed and the acceptance suite times out.

Fix: give the machine more memory or CPUs.",
};

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

#[cfg(test)]
mod tests {
    use crate::checks::{Ctx, Params, Status};
    use crate::host::Host;

    fn fixture(name: &str) -> Host {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts")
            .join(name);
        Host::open(&dir, None).unwrap()
    }

    fn judge(host: &Host) -> crate::checks::Verdict {
        let params = Params::default();
        super::modules(&Ctx {
            host,
            params: &params,
        })
        .unwrap()
    }

    #[test]
    fn modules_to_load_lists_available_but_not_loaded() {
        // Fresh Debian 12: everything is a module, nothing of it loaded.
        let fresh = fixture("debian12-default-delegation");
        let want = super::modules_to_load(&fresh).unwrap();
        assert_eq!(
            want,
            [
                "ip_tables",
                "iptable_nat",
                "iptable_filter",
                "nf_tables",
                "nft_chain_nat",
                "br_netfilter",
                "vxlan",
                "overlay",
                "tun",
                "fuse",
                "veth",
                "bridge"
            ]
        );
        let v = judge(&fresh);
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(
            v.remedy
                .as_deref()
                .unwrap()
                .contains("sudo modprobe -a ip_tables"),
            "{v:?}"
        );
        assert!(
            !v.remedy.as_deref().unwrap().contains("boot a kernel"),
            "nothing is missing: {v:?}"
        );
        // After install: the filter modules are loaded; only the ones the
        // kernel loads on first use remain, and the check passes.
        let ready = fixture("ready-v2");
        assert_eq!(
            super::modules_to_load(&ready).unwrap(),
            ["vxlan", "tun", "fuse", "veth"]
        );
        assert_eq!(judge(&ready).status, Status::Pass);
        // Everything built in (config.gz only, no module support).
        let hybrid = fixture("hybrid");
        assert!(super::modules_to_load(&hybrid).unwrap().is_empty());
        assert_eq!(judge(&hybrid).status, Status::Pass);
    }

    #[test]
    fn a_kernel_without_netfilter_fails_and_lists_no_module_for_it() {
        let h = fixture("custom-kernel-no-netfilter");
        let v = judge(&h);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.summary.contains("no iptables/nftables NAT and filter"),
            "{v:?}"
        );
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("CONFIG_IP_NF_IPTABLES=n")),
            "{v:?}"
        );
        let load = super::modules_to_load(&h).unwrap();
        assert!(
            !load.iter().any(|m| m.contains("ip") || m.contains("nf")),
            "{load:?}"
        );
        assert!(
            v.remedy
                .as_deref()
                .unwrap()
                .contains("boot a kernel built with it")
        );
    }

    #[test]
    fn without_config_the_module_lists_decide_or_it_warns() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n");
        w("etc/group", "alice:x:1000:\n");
        w("proc/sys/kernel/osrelease", "6.8.0-1\n");
        let host = || Host::open(d.path(), Some("alice")).unwrap();
        assert_eq!(judge(&host()).status, Status::Skip, "nothing to judge by");
        // Only /proc/modules: what is not loaded cannot be told.
        w("proc/modules", "ip_tables 32768 0 - Live 0x0\n");
        let v = judge(&host());
        assert_eq!(v.status, Status::Warn, "{v:?}");
        assert!(v.summary.contains("could not tell"), "{v:?}");
        // Complete module lists without a config: absent means missing.
        w(
            "lib/modules/6.8.0-1/modules.builtin",
            "kernel/fs/fuse/fuse.ko\n",
        );
        w(
            "usr/lib/modules/6.8.0-1/modules.dep",
            "kernel/net/ipv4/netfilter/iptable_nat.ko.zst:\nkernel/net/ipv4/netfilter/iptable_filter.ko.zst:\n",
        );
        let v = judge(&host());
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(
            v.summary.contains("NAT and filter is available as module"),
            "{v:?}"
        );
        assert!(v.summary.contains("the kernel has no VXLAN"), "{v:?}");
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("usable now (built in or loaded): FUSE (fuse-overlayfs)")),
            "{v:?}"
        );
        assert_eq!(
            super::modules_to_load(&host()).unwrap(),
            ["iptable_nat", "iptable_filter"]
        );
        // A /proc/config.gz that is not gzip names the file.
        w("proc/config.gz", "CONFIG_X=y\n");
        let e = super::modules(&Ctx {
            host: &host(),
            params: &Params::default(),
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("/proc/config.gz:1: malformed"),
            "{e}"
        );
    }

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
