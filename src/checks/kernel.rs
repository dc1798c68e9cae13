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

use super::kernel_features::{CONFIG_OPTIONS, FEATURES, Feature, Module, Need};

/// The config symbols the judgments below look up: all krc reads of the
/// kernel's config.
pub(crate) fn config_symbols() -> Vec<&'static str> {
    let modules = FEATURES
        .iter()
        .flat_map(|f| f.alternatives.iter().flat_map(|alt| alt.iter()))
        .map(|m| m.config);
    modules
        .chain(CONFIG_OPTIONS.iter().map(|o| o.config))
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

/// A state as one short token of the shared evidence line: the config
/// line without the file name, or what the module lists say.
fn token(name: &str, s: &State) -> String {
    match s {
        State::BuiltIn(why) | State::Available(why) => match why.split_once(": CONFIG_") {
            Some((at, setting)) => format!(
                "{}: CONFIG_{setting}",
                at.rsplit_once(':').map_or(at, |(_, line)| line)
            ),
            None => why.clone(),
        },
        State::Loaded => format!("{name} loaded"),
        State::Missing(why) => format!("{name} missing ({why})"),
        State::Unknown => format!("{name} unknown"),
    }
}

fn describe(name: &str, s: &State, need: Need) -> String {
    match s {
        State::BuiltIn(why) => format!("{name}: built in ({why})"),
        State::Loaded => format!("{name}: loaded ({})", crate::host::kernel::PROC_MODULES),
        State::Available(why) if need == Need::OnDemand => {
            format!("{name}: available as module, loaded by the kernel on first use ({why})")
        }
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
    // Modules the kernel loads on first use from inside the namespace
    // (observed; see `krc explain kernel.modules`) are left to it.
    for f in FEATURES.iter().filter(|f| f.need != Need::OnDemand) {
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
Verifies that the kernel has what rootless k3s uses, and says for each feature whether it is built in, loaded, available as module (and then whether the kernel loads it by itself on first use from inside the rootless namespace), or missing, each with the line it was judged by (the kernel config line, or the module list that decided). It covers the modules k3s's agent tries to load (k3s-io/k3s:pkg/agent/syssetup/setup.go: overlay, nf_conntrack, br_netfilter, iptable_nat, iptable_filter, nf_tables, nft_chain_nat) and the \"Generally Necessary\" options of k3s-io/k3s:contrib/util/check-config.sh that rootless k3s uses: namespaces (NAMESPACES, USER_NS, NET_NS, PID_NS, IPC_NS, UTS_NS), cgroups (CGROUPS, CGROUP_PIDS, CGROUP_SCHED, CPUSETS, MEMCG), SECCOMP, POSIX_MQUEUE, KEYS (a warning: runc goes on without keyrings), VETH, BRIDGE, BRIDGE_NETFILTER, IP_NF_FILTER, IP_NF_NAT, NF_NAT, IP_NF_TARGET_MASQUERADE, IP_NF_TARGET_REJECT and the x_tables matches NETFILTER_XT_MATCH_{ADDRTYPE,COMMENT,CONNTRACK,MULTIPORT,STATISTIC}, plus VXLAN, OVERLAY_FS, TUN and FUSE_FS. Not judged: CGROUP_CPUACCT, CGROUP_DEVICE and CGROUP_FREEZER (cgroup v1 controllers; rootless k3s runs on cgroup v2 only, where CPU accounting and the freezer are part of the core and devices are controlled with BPF), NETFILTER_XT_MATCH_IPVS (kube-proxy's IPVS mode only; k3s runs kube-proxy in iptables mode unless told otherwise), DEVPTS_MULTIPLE_INSTANCES (kernels before 4.8, which kernel.version fails) and the IPv6 tables syssetup loads only with IPv6 on. It reads /proc/modules (loaded), /lib/modules/RELEASE/modules.builtin (built in), /lib/modules/RELEASE/modules.dep (installed modules) and the kernel config (/proc/config.gz, else /boot/config-RELEASE), with RELEASE from /proc/sys/kernel/osrelease; options that are never modules are judged from the config alone.

Why: k3s runs `modprobe` for its modules and only warns \"Failed to load kernel module\" when that fails (syssetup); inside the rootless namespace modprobe always fails. What the kernel loads by itself when a program first uses a feature still works there. krc observed which, on a Debian 12 guest (kernel 6.1.0-50-amd64, every module below =m and not loaded, kernel.modules_disabled=0) with RootlessKit 1.1.0 run as an unprivileged user (--net=slirp4netns): `nft add table` loaded nf_tables; a nat chain with masquerade loaded nft_chain_nat, nft_masq, nf_nat and nf_conntrack; iptables-nft rules with -m comment, addrtype, conntrack, multiport, statistic and -j MASQUERADE loaded nft_compat and xt_comment, xt_addrtype, xt_conntrack, xt_multiport, xt_statistic and xt_MASQUERADE; with ip_tables already loaded, iptables-legacy loaded iptable_filter and iptable_nat; `ip link add` of veth, bridge and vxlan loaded veth, bridge and vxlan; an overlay mount in a user namespace loaded overlay; br_netfilter was not loaded (the namespace had no /proc/sys/net/bridge until root ran modprobe). So: those modules count as present when the config builds them and modules.dep lists them; br_netfilter not loaded warns (k3s cannot set bridge-nf-call-iptables); and the packet filter fails only when neither backend can work: with nothing loaded but nftables available it warns, because k3s's bundled iptables may pick the legacy backend, whose ip_tables module the kernel does not load on demand: on the same guest with ip_tables unloaded, iptables-legacy inside RootlessKit ran modprobe itself and failed with \"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\" and \"can't initialize iptables table `filter': Table does not exist\" (as in k3s-io/k3s issue 2942), while iptables-nft right after loaded nf_tables, nft_chain_nat, nft_compat, xt_MASQUERADE, nf_nat and nf_conntrack by itself. A feature the kernel was built without cannot be loaded at all.

Fix: `printf '%s\\n' MODULE... | sudo tee /etc/modules-load.d/krc-rootless.conf && sudo modprobe -a MODULE...` for the modules the remedy names (krc install does this in its kernel-modules step, which systemd-modules-load repeats at every boot; it lists only modules the kernel would not load by itself); for a missing feature, boot a kernel built with it (on Debian/Ubuntu cloud images also install linux-modules-extra-$(uname -r)).",
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
    j.options(&k);
    j.remedies(&k);
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
    /// What the features without a finding rest on, one token each
    /// (`LINE: CONFIG_X=v` of the config, or `NAME loaded`): shown on one
    /// line, so a kernel that has everything is not forty lines long.
    fine: Vec<String>,
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
        // Every feature shows what it was judged by: a feature without a
        // finding its config lines (one token each, on a shared line), a
        // feature with one its own line naming each module's state.
        let fine = usable || (loadable && feat.need == Need::OnDemand);
        if fine {
            self.fine.extend(
                shown
                    .iter()
                    .flat_map(|alt| alt.iter().map(|(n, s)| token(n, s))),
            );
        } else {
            let lines: Vec<String> = shown
                .iter()
                .flat_map(|alt| alt.iter().map(|(n, s)| describe(n, s, feat.need)))
                .collect();
            self.f
                .observe(format!("{}: {}", feat.what, lines.join("; ")));
        }
        if usable {
            self.usable_now.push(feat.what);
            return;
        }
        if loadable && matches!(feat.need, Need::OnDemand) {
            self.on_demand.push(feat.what);
        }
        for alt in states.iter().filter(|_| feat.need != Need::OnDemand) {
            for (n, s) in alt {
                if matches!(s, State::Available(_)) && !self.to_load.contains(n) {
                    self.to_load.push(*n);
                }
            }
        }
        // The alternative the kernel loads by itself from inside the
        // namespace is complete: k3s can run, but only if its bundled
        // iptables picks that backend; the other one it cannot load.
        // The legacy tables load on first use too once ip_tables itself is
        // loaded (observed: iptable_nat, iptable_filter).
        let legacy_on_demand = feat.loads_on_demand.is_some()
            && states.first().is_some_and(|alt| {
                alt.first().is_some_and(|(_, s)| s.usable_now())
                    && alt
                        .iter()
                        .all(|(_, s)| s.usable_now() || matches!(s, State::Available(_)))
            });
        let on_demand_alt = feat.loads_on_demand.is_some_and(|i| {
            states.get(i).is_some_and(|alt| {
                alt.iter()
                    .all(|(_, s)| s.usable_now() || matches!(s, State::Available(_)))
            })
        });
        // The modules not loaded of the alternatives that could be: what
        // modprobe would fail on inside the namespace, by name (never a
        // module the evidence shows loaded).
        let not_loaded: Vec<&str> = states
            .iter()
            .filter(|alt| {
                alt.iter()
                    .all(|(_, s)| s.usable_now() || matches!(s, State::Available(_)))
            })
            .flat_map(|alt| alt.iter())
            .filter(|(_, s)| matches!(s, State::Available(_)))
            .map(|(n, _)| *n)
            .collect();
        match (loadable, feat.need) {
            (true, Need::Required) if legacy_on_demand => {
                self.on_demand.push(feat.what);
            }
            (true, Need::Required) if on_demand_alt => {
                let ip_tables_missing = states
                    .first()
                    .and_then(|alt| alt.first())
                    .is_some_and(|(_, s)| !s.usable_now());
                self.f.find(
                    Status::Warn,
                    format!(
                        "{} is not loaded ({}): the kernel loads the nftables modules on first use from inside the rootless namespace (observed), but if k3s's bundled iptables picks the legacy backend it fails{}",
                        feat.what,
                        not_loaded.join(", "),
                        if ip_tables_missing {
                            ": \"could not insert 'ip_tables': Operation not permitted\" (k3s issue 2942)"
                        } else {
                            ""
                        }
                    ),
                )
            }
            (true, Need::Required) => self.f.find(
                Status::Fail,
                format!(
                    "{} is available as module but not loaded ({}): rootless k3s cannot load it (\"modprobe: ERROR: could not insert '{}': Operation not permitted\")",
                    feat.what,
                    not_loaded.join(", "),
                    not_loaded.first().copied().unwrap_or_default()
                ),
            ),
            (true, Need::Recommended) => self.f.find(
                Status::Warn,
                format!(
                    "{} is available as module but not loaded ({}): k3s cannot load it from the rootless namespace",
                    feat.what,
                    not_loaded.join(", ")
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

    /// The options that are never modules (namespaces, cgroup
    /// controllers, seccomp, ...), from the kernel config only.
    fn options(&mut self, k: &KernelFacts) {
        let Some((path, config)) = k.config.as_ref() else {
            self.f.observe(format!(
                "{}: not judged here (no kernel config)",
                CONFIG_OPTIONS
                    .iter()
                    .map(|o| o.config)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return;
        };
        for o in CONFIG_OPTIONS {
            let v = config.get(o.config);
            let seen = v.map_or(format!("{path}: no CONFIG_{}", o.config), |v| {
                format!("{path}:{}: CONFIG_{}={}", v.line, o.config, v.value)
            });
            if let Some(v) = v.filter(|v| v.value == "y") {
                self.fine.push(format!("{}: CONFIG_{}=y", v.line, o.config));
                self.usable_now.push(o.what);
                continue;
            }
            self.f.observe(format!("{}: missing ({seen})", o.what));
            self.missing = true;
            let status = if o.need == Need::Recommended {
                Status::Warn
            } else {
                Status::Fail
            };
            self.f.find(status, format!("the kernel has no {}", o.what));
        }
    }

    /// The summary lines and what to do: load the loadable, boot a kernel
    /// with the missing.
    fn remedies(&mut self, k: &KernelFacts) {
        if !self.fine.is_empty() {
            let from = k
                .config
                .as_ref()
                .map_or("module lists", |(p, _)| p.as_str());
            self.f.observe(format!(
                "judged by ({from}, line: setting): {}",
                self.fine.join(", ")
            ));
        }
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
        // Only what the kernel would not load by itself is listed (the
        // modules it loads on first use inside the namespace are not).
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
            ]
        );
        // nftables would load on demand, the legacy backend would not:
        // a warning, not a failure; br_netfilter warns too.
        let v = judge(&fresh);
        assert_eq!(v.status, Status::Warn, "{v:?}");
        assert!(
            v.summary
                .contains("loads the nftables modules on first use")
                && v.summary.contains("could not insert 'ip_tables'"),
            "{v:?}"
        );
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
        // Each feature and option shows the config line it rests on: the
        // ones without a finding on one shared line.
        let judged = v
            .evidence
            .iter()
            .find(|e| e.starts_with("judged by (/boot/config-6.1.0-28-amd64, line: setting): "))
            .unwrap_or_else(|| panic!("no shared config line: {v:?}"));
        for token in [
            ": CONFIG_NETFILTER_XT_MATCH_COMMENT=m",
            ": CONFIG_SECCOMP=y",
            ": CONFIG_POSIX_MQUEUE=y",
            ": CONFIG_CGROUP_PIDS=y",
            ": CONFIG_IP_NF_TARGET_MASQUERADE=m",
        ] {
            assert!(judged.contains(token), "{token}: {judged}");
        }
        // After install: the filter modules are loaded, nothing is left.
        let ready = fixture("ready-v2");
        assert!(super::modules_to_load(&ready).unwrap().is_empty());
        assert_eq!(judge(&ready).status, Status::Pass);
        // Everything built in (config.gz only, no module support).
        let hybrid = fixture("hybrid");
        assert!(super::modules_to_load(&hybrid).unwrap().is_empty());
        assert_eq!(judge(&hybrid).status, Status::Pass);
    }

    /// Issue 17: a kernel without CONFIG_NETFILTER_XT_MATCH_COMMENT and
    /// CONFIG_SECCOMP passed every kernel check. Both are on
    /// check-config.sh's required list and rootless k3s uses them.
    #[test]
    fn check_config_options_are_judged_with_their_config_line() {
        let v = crate::checks::sysctl::tests::judge_edited("ready-v2", "kernel.modules", |d| {
            let cfg = d.join("boot/config-6.1.0-28-amd64");
            let text = std::fs::read_to_string(&cfg)
                .unwrap()
                .replace(
                    "CONFIG_NETFILTER_XT_MATCH_COMMENT=m",
                    "# CONFIG_NETFILTER_XT_MATCH_COMMENT is not set",
                )
                .replace("CONFIG_SECCOMP=y", "# CONFIG_SECCOMP is not set");
            std::fs::write(&cfg, text).unwrap();
        });
        assert_eq!(v.status, Status::Fail, "{v:?}");
        for want in [
            "the kernel has no iptables comment match",
            "the kernel has no seccomp",
        ] {
            assert!(v.summary.contains(want), "{want}: {v:?}");
        }
        for line in [
            "iptables comment match (every kube-proxy rule): xt_comment: missing (/boot/config-6.1.0-28-amd64:27: CONFIG_NETFILTER_XT_MATCH_COMMENT=n)",
            "seccomp (runc's syscall filters): missing (/boot/config-6.1.0-28-amd64:18: CONFIG_SECCOMP=n)",
        ] {
            assert!(v.evidence.iter().any(|e| e == line), "{line}\n{v:?}");
        }
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
        // ip_tables is loaded: the kernel loads iptable_nat and
        // iptable_filter on first use (observed), so the packet filter is
        // no finding, and nothing quotes "could not insert 'ip_tables'"
        // (issue 17: the summary did while its evidence said loaded).
        let v = judge(&host());
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(!v.summary.contains("NAT and filter"), "{v:?}");
        assert!(!v.summary.contains("ip_tables"), "{v:?}");
        assert!(
            v.evidence
                .iter()
                .any(|e| e.starts_with("iptables/nftables NAT and filter: ip_tables: loaded")),
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
