//! Checks: pure judgments of host facts. Each check is metadata (stable id,
//! phase, title, explanation, the installer step that fixes it) plus a
//! function from facts to a [`Verdict`]. Checks never print, never exit and
//! reach the machine only through [`Host`] and its probes.
//!
//! Adding a check is one function, one line in [`CATALOGUE`] and its
//! verdict in every fixture's `expected.toml`.

#[cfg(test)]
mod accept_tests;
pub(crate) mod api;
mod cgroup;
pub(crate) mod forward;
mod fs;
mod k3s;
mod k3sconf;
pub(crate) mod kernel;
pub(crate) mod kubecfg;
mod net;
pub(crate) mod params;
mod ports;
mod proxy;
mod rootless;
mod session;
mod sysctl;
mod uidmap;
pub(crate) mod unit;
mod user;
pub(crate) mod userns;
pub(crate) mod verdict;

use crate::host::{FactError, Host};
pub(crate) use cgroup::delegation_config;
pub(crate) use params::Params;
pub(crate) use sysctl::KRC_SYSCTL_FILE;
pub(crate) use verdict::{Findings, Status, Verdict};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    Preflight,
    Install,
    Acceptance,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Install => "install",
            Phase::Acceptance => "acceptance",
        }
    }
}

/// Required checks decide the exit status; advisory ones can only warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Required,
    Advisory,
}

impl Severity {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Severity::Required => "required",
            Severity::Advisory => "advisory",
        }
    }
}

/// What a check reads.
pub(crate) struct Ctx<'a> {
    pub(crate) host: &'a Host,
    pub(crate) params: &'a Params,
}

pub(crate) type CheckFn = fn(&Ctx<'_>) -> Result<Verdict, FactError>;

#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) id: &'static str,
    pub(crate) phase: Phase,
    /// The severity a suite gives it unless it says otherwise.
    pub(crate) severity: Severity,
    pub(crate) title: &'static str,
    /// For `krc explain`: what is verified, why rootless k3s needs it (the
    /// upstream error otherwise), how to fix it.
    pub(crate) explain: &'static str,
    /// The installer step that makes this check pass, if any.
    pub(crate) fixed_by: Option<&'static str>,
    pub(crate) run: CheckFn,
}

impl Check {
    /// Runs the check; a fact that could not be read becomes an error verdict.
    pub(crate) fn judge(&self, ctx: &Ctx<'_>) -> Verdict {
        let mut v = (self.run)(ctx).unwrap_or_else(|e| Verdict::error(&e));
        if let Some(r) = &v.remedy
            && r.contains(" --user -M ")
            && !crate::host::systemd::machine_transport(ctx.host)
        {
            v.remedy = Some(without_machine_transport(r, ctx.host.user()));
        }
        v
    }
}

/// Remedies reach a user's manager with `systemctl --user -M USER@`, which
/// needs systemd 248 or newer. On an older host (Debian 11, RHEL 8) the
/// same command runs as the user, with the user's runtime directory.
fn without_machine_transport(remedy: &str, u: &crate::host::TargetUser) -> String {
    let machine = format!(" --user -M {}@", u.name);
    let as_user = format!(
        "runuser -u {} -- env XDG_RUNTIME_DIR=/run/user/{} ",
        u.name, u.uid
    );
    remedy
        .lines()
        .map(|line| {
            let mut out = line.to_string();
            for tool in ["systemctl", "journalctl"] {
                let from = format!("{tool}{machine}");
                if out.contains(&from) {
                    let sudo = if out.contains(&format!("sudo {from}")) {
                        ""
                    } else {
                        "sudo "
                    };
                    out = out.replace(&from, &format!("{sudo}{as_user}{tool} --user"));
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

macro_rules! check {
    ($module:ident :: $f:ident, $id:literal, $phase:ident, $sev:ident, $fix:expr, $title:literal) => {
        Check {
            id: $id,
            phase: Phase::$phase,
            severity: Severity::$sev,
            title: $title,
            explain: $module::explain::$f,
            fixed_by: $fix,
            run: $module::$f,
        }
    };
}

/// Every check krc knows, in the order reports list them.
pub(crate) static CATALOGUE: &[Check] = &[
    check!(
        session::systemd,
        "session.systemd",
        Preflight,
        Required,
        None,
        "systemd is PID 1 and booted the host"
    ),
    check!(
        user::unprivileged,
        "user.unprivileged",
        Preflight,
        Required,
        None,
        "the target user is not root"
    ),
    check!(
        session::runtime_dir,
        "session.runtime-dir",
        Preflight,
        Required,
        Some("linger"),
        "the user's runtime directory and systemd manager exist"
    ),
    check!(
        session::linger,
        "session.linger",
        Preflight,
        Advisory,
        Some("linger"),
        "lingering is enabled for the user"
    ),
    check!(
        cgroup::unified,
        "cgroup.unified",
        Preflight,
        Required,
        Some("cgroup-v2"),
        "the host runs pure cgroup v2"
    ),
    check!(
        cgroup::controllers,
        "cgroup.controllers",
        Preflight,
        Required,
        Some("cgroup-v2"),
        "the cgroup v2 root offers cpu, cpuset, memory, pids"
    ),
    check!(
        cgroup::delegation,
        "cgroup.delegation",
        Preflight,
        Required,
        Some("delegation"),
        "systemd delegates cpu, cpuset, memory, pids to the user"
    ),
    check!(
        userns::enabled,
        "userns.enabled",
        Preflight,
        Required,
        None,
        "unprivileged user namespaces work"
    ),
    check!(
        userns::apparmor,
        "userns.apparmor",
        Preflight,
        Required,
        Some("apparmor-profile"),
        "AppArmor lets the k3s binary use user namespaces"
    ),
    check!(
        uidmap::binaries,
        "uidmap.binaries",
        Preflight,
        Required,
        Some("packages"),
        "newuidmap and newgidmap are installed with privileges"
    ),
    check!(
        uidmap::subids,
        "uidmap.subids",
        Preflight,
        Required,
        Some("subids"),
        "the user owns 65536 subordinate uids and gids"
    ),
    check!(
        net::tun,
        "net.tun",
        Preflight,
        Required,
        None,
        "/dev/net/tun is usable by the user"
    ),
    check!(
        net::slirp4netns,
        "net.slirp4netns",
        Preflight,
        Advisory,
        Some("packages"),
        "slirp4netns >= 0.4.0 is on PATH"
    ),
    check!(
        sysctl::ip_forward,
        "sysctl.ip-forward",
        Preflight,
        Required,
        Some("sysctl"),
        "IP forwarding is enabled and persisted"
    ),
    check!(
        fs::fuse,
        "fs.fuse",
        Preflight,
        Required,
        Some("packages"),
        "/dev/fuse and the mount.fuse3 helper are usable"
    ),
    check!(
        ports::free,
        "ports.free",
        Preflight,
        Required,
        None,
        "the API and ingress ports are free"
    ),
    check!(
        k3s::single_instance,
        "k3s.single-instance",
        Preflight,
        Required,
        None,
        "no other k3s runs or is enabled on this host"
    ),
    check!(
        net::cidr,
        "net.cidr",
        Preflight,
        Required,
        None,
        "the k3s networks do not collide with host routes"
    ),
    check!(
        kernel::version,
        "kernel.version",
        Preflight,
        Required,
        None,
        "the kernel is new enough"
    ),
    check!(
        kernel::modules,
        "kernel.modules",
        Preflight,
        Required,
        Some("kernel-modules"),
        "the kernel has the features rootless k3s needs, built in or loaded"
    ),
    check!(
        k3sconf::config,
        "k3s.config",
        Preflight,
        Advisory,
        None,
        "/etc/rancher/k3s/config.yaml holds nothing that changes rootless k3s"
    ),
    check!(
        proxy::proxy,
        "net.proxy",
        Preflight,
        Advisory,
        Some("user-unit"),
        "a host HTTP proxy reaches k3s through krc's drop-in, with the cluster networks in NO_PROXY"
    ),
    check!(
        kernel::resources,
        "host.resources",
        Preflight,
        Advisory,
        None,
        "the host has the memory and CPUs k3s needs"
    ),
    // Acceptance: after an install, against the live cluster.
    check!(
        rootless::binary,
        "install.binary",
        Acceptance,
        Required,
        Some("k3s-binary"),
        "the k3s binary the unit starts is executable and the pinned release"
    ),
    check!(
        unit::present,
        "unit.present",
        Acceptance,
        Required,
        Some("user-unit"),
        "the k3s-rootless user unit and its drop-in are as upstream and krc wrote them"
    ),
    check!(
        unit::active,
        "unit.active",
        Acceptance,
        Required,
        Some("start"),
        "k3s-rootless.service is enabled and active for the user"
    ),
    check!(
        unit::delegation_live,
        "unit.delegation-live",
        Acceptance,
        Required,
        Some("delegation"),
        "the running k3s service has cpu, cpuset, memory, pids delegated"
    ),
    check!(
        rootless::rootful_inactive,
        "rootful.inactive",
        Acceptance,
        Required,
        Some("rootful-disabled"),
        "the rootful k3s.service is neither enabled nor active"
    ),
    check!(
        rootless::userns,
        "rootless.userns",
        Acceptance,
        Required,
        None,
        "k3s runs as the user inside a user namespace"
    ),
    check!(
        kubecfg::present,
        "kubeconfig.present",
        Acceptance,
        Required,
        None,
        "~/.kube/k3s.yaml exists, is the user's, mode 0600, and usable"
    ),
    check!(
        kubecfg::env,
        "kubeconfig.env",
        Acceptance,
        Advisory,
        None,
        "KUBECONFIG does not point kubectl away from k3s.yaml"
    ),
    check!(
        api::ready,
        "api.ready",
        Acceptance,
        Required,
        None,
        "the API answers over verified TLS and is a ready k3s"
    ),
    check!(
        api::single_ready,
        "node.single-ready",
        Acceptance,
        Required,
        None,
        "one node, Ready, inside the rootless network"
    ),
    check!(
        api::system_pods,
        "pods.system",
        Acceptance,
        Required,
        None,
        "coredns, local-path-provisioner, metrics-server, traefik are Ready"
    ),
    check!(
        forward::api,
        "ports.api",
        Acceptance,
        Required,
        None,
        "the host answers on the API port"
    ),
    check!(
        forward::offset,
        "ports.offset",
        Acceptance,
        Required,
        None,
        "LoadBalancer ports reach the host at p + 10000 (p <= 1024) or p"
    ),
    check!(
        api::single_node,
        "cluster.single-node",
        Acceptance,
        Required,
        None,
        "no agent join is configured and only one node exists"
    ),
];

pub(crate) fn find(id: &str) -> Option<&'static Check> {
    CATALOGUE.iter().find(|c| c.id == id)
}

/// Evidence line for a file read: `PATH:LINE: TEXT`.
pub(crate) fn at(path: &str, line: usize, text: &str) -> String {
    format!("{path}:{line}: {text}")
}

#[cfg(test)]
mod transport_tests {
    #[test]
    fn remedies_on_old_systemd_run_systemctl_as_the_user() {
        let u = crate::host::TargetUser {
            name: "bob".into(),
            uid: 1001,
            gid: 1001,
            home: "/home/bob".into(),
            groups: vec![1001],
        };
        let r = "sudo systemctl --user -M bob@ restart k3s-rootless\nsystemctl --user -M bob@ stop k3s-rootless\nsudo journalctl --user -M bob@ -u k3s-rootless -n 50";
        assert_eq!(
            super::without_machine_transport(r, &u),
            "sudo runuser -u bob -- env XDG_RUNTIME_DIR=/run/user/1001 systemctl --user restart k3s-rootless\nsudo runuser -u bob -- env XDG_RUNTIME_DIR=/run/user/1001 systemctl --user stop k3s-rootless\nsudo runuser -u bob -- env XDG_RUNTIME_DIR=/run/user/1001 journalctl --user -u k3s-rootless -n 50"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_dotted_and_explained() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        for c in CATALOGUE {
            assert!(c.id.contains('.'), "{}", c.id);
            assert!(c.explain.len() > 200, "{} needs a real explanation", c.id);
            assert!(c.explain.contains("Why"), "{}: explain says why", c.id);
            assert!(
                c.explain.contains("Fix"),
                "{}: explain says how to fix",
                c.id
            );
        }
    }
}
