//! What rootless k3s needs from the kernel, as data for `kernel.modules`:
//! the features with the modules that provide them, and the options that
//! are never modules. The lists are k3s's own: the modules its agent
//! tries to `modprobe` (k3s-io/k3s:pkg/agent/syssetup/setup.go) and the
//! "Generally Necessary" options of k3s-io/k3s:contrib/util/check-config.sh,
//! each kept only where rootless k3s uses it (what is left out, and why,
//! is in [`NOT_COVERED`]).

/// One module with the config symbol that builds it.
pub(super) struct Module {
    pub(super) name: &'static str,
    pub(super) config: &'static str,
}

const fn m(name: &'static str, config: &'static str) -> Module {
    Module { name, config }
}

/// How bad a feature's absence is, and whether the kernel loads its module
/// by itself when k3s first uses it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// k3s fails without it; the module must be loaded before k3s starts:
    /// nothing inside the rootless namespace loads it.
    Required,
    /// k3s fails without it, but the kernel loads the module on first use
    /// (a device node's `char-major-*` alias, a link type's `rtnl-link-*`
    /// alias, an nf_tables expression or x_tables match it looks up by
    /// name), which works from inside the rootless namespace.
    OnDemand,
    /// k3s starts without it and logs "Failed to load kernel module".
    Recommended,
}

pub(super) struct Feature {
    pub(super) what: &'static str,
    /// Any one complete alternative provides the feature.
    pub(super) alternatives: &'static [&'static [Module]],
    pub(super) need: Need,
    /// The alternative (by index) whose modules the kernel loads on first
    /// use from inside the rootless namespace, where the feature as a
    /// whole is `Required` because another alternative would not load.
    pub(super) loads_on_demand: Option<usize>,
}

/// The module-backed features, in the order they are reported.
pub(super) const FEATURES: &[Feature] = &[
    // syssetup: iptable_nat, iptable_filter, nfnetlink-subsys-11
    // (nf_tables), nft-chain-2-nat. k3s's bundled iptables picks one
    // backend at run time, so either complete set will do.
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
        // Observed (Debian 12, kernel 6.1, RootlessKit as an unprivileged
        // user): nf_tables, nft_chain_nat, nft_masq, nf_nat and
        // nf_conntrack were loaded by the kernel on first use.
        loads_on_demand: Some(1),
    },
    // syssetup: nf_conntrack; check-config: NF_NAT. Dependencies of the
    // NAT modules above: loaded with them.
    Feature {
        what: "connection tracking and NAT core",
        alternatives: &[&[m("nf_conntrack", "NF_CONNTRACK"), m("nf_nat", "NF_NAT")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    // check-config's x_tables matches and targets: kube-proxy, flannel and
    // k3s's network policy controller write rules with them (through
    // nft_compat when iptables runs on nf_tables). The kernel looks each
    // up by name when a rule uses it and loads it then: observed for every
    // one below with iptables-nft inside RootlessKit as an unprivileged
    // user (and iptable_nat/iptable_filter once ip_tables was loaded).
    Feature {
        what: "iptables comment match (every kube-proxy rule)",
        alternatives: &[&[m("xt_comment", "NETFILTER_XT_MATCH_COMMENT")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables addrtype match (kube-proxy, flannel)",
        alternatives: &[&[m("xt_addrtype", "NETFILTER_XT_MATCH_ADDRTYPE")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables conntrack match",
        alternatives: &[&[m("xt_conntrack", "NETFILTER_XT_MATCH_CONNTRACK")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables multiport match (network policies)",
        alternatives: &[&[m("xt_multiport", "NETFILTER_XT_MATCH_MULTIPORT")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables statistic match (kube-proxy load balancing)",
        alternatives: &[&[m("xt_statistic", "NETFILTER_XT_MATCH_STATISTIC")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables MASQUERADE target (flannel, kube-proxy)",
        alternatives: &[&[m("xt_MASQUERADE", "IP_NF_TARGET_MASQUERADE")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "iptables REJECT target (services without endpoints)",
        alternatives: &[&[m("ipt_REJECT", "IP_NF_TARGET_REJECT")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    // syssetup: br_netfilter. Nothing loads it on demand: observed, the
    // namespace has no /proc/sys/net/bridge until root loads it.
    Feature {
        what: "bridge netfilter",
        alternatives: &[&[m("br_netfilter", "BRIDGE_NETFILTER")]],
        need: Need::Recommended,
        loads_on_demand: None,
    },
    Feature {
        what: "VXLAN (flannel)",
        alternatives: &[&[m("vxlan", "VXLAN")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    // syssetup: overlay (the native snapshotter; the rootless unit uses
    // fuse-overlayfs). Observed: an overlay mount in an unprivileged user
    // namespace loads it (the fs-overlay alias).
    Feature {
        what: "overlayfs",
        alternatives: &[&[m("overlay", "OVERLAY_FS")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "TUN/TAP (slirp4netns)",
        alternatives: &[&[m("tun", "TUN")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "FUSE (fuse-overlayfs)",
        alternatives: &[&[m("fuse", "FUSE_FS")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "veth pairs (pod network)",
        alternatives: &[&[m("veth", "VETH")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
    Feature {
        what: "Linux bridge (cni0)",
        alternatives: &[&[m("bridge", "BRIDGE")]],
        need: Need::OnDemand,
        loads_on_demand: None,
    },
];

/// A kernel option that is never a module (bool in Kconfig): only the
/// config can tell, and only `=y` counts.
pub(super) struct ConfigOption {
    pub(super) what: &'static str,
    pub(super) config: &'static str,
    pub(super) need: Need,
}

const fn opt(what: &'static str, config: &'static str, need: Need) -> ConfigOption {
    ConfigOption { what, config, need }
}

/// check-config.sh's bool options rootless k3s uses.
pub(super) const CONFIG_OPTIONS: &[ConfigOption] = &[
    opt("namespaces", "NAMESPACES", Need::Required),
    opt("user namespaces", "USER_NS", Need::Required),
    opt("network namespaces", "NET_NS", Need::Required),
    opt("PID namespaces", "PID_NS", Need::Required),
    opt("IPC namespaces", "IPC_NS", Need::Required),
    opt("UTS namespaces", "UTS_NS", Need::Required),
    opt("control groups", "CGROUPS", Need::Required),
    opt("pids controller", "CGROUP_PIDS", Need::Required),
    opt("cpu controller", "CGROUP_SCHED", Need::Required),
    opt("cpuset controller", "CPUSETS", Need::Required),
    opt("memory controller", "MEMCG", Need::Required),
    opt(
        "seccomp (runc's syscall filters)",
        "SECCOMP",
        Need::Required,
    ),
    opt(
        "POSIX message queues (/dev/mqueue in containers)",
        "POSIX_MQUEUE",
        Need::Required,
    ),
    // runc joins a fresh session keyring and goes on without one when the
    // kernel has no keys (ENOSYS): advisory.
    opt(
        "key retention (session keyrings)",
        "KEYS",
        Need::Recommended,
    ),
];
