//! Checks: pure judgments of host facts. Each check is metadata (stable id,
//! phase, title, explanation, the installer step that fixes it) plus a
//! function from facts to a [`Verdict`]. Checks never print, never exit and
//! reach the machine only through [`Host`] and its probes.
//!
//! Adding a check is one `pub(crate) const NAME: Check` written beside its
//! function, in the file its id names (`ports.free` in `ports.rs`; the few
//! exceptions are in the test `each_check_lives_in_the_file_its_id_names`),
//! its line in [`CATALOGUE`], its verdict in every fixture's `expected.toml`
//! (`KRC_BLESS=1 cargo test --test fixtures` writes what krc says, to be
//! reviewed) and its row in the README's table
//! (`KRC_BLESS=1 cargo test --test readme`).

#[cfg(test)]
mod accept_tests;
pub(crate) mod api;
mod cgroup;
mod fs;
mod k3s;
pub(crate) mod kernel;
mod kernel_features;
pub(crate) mod kubeconfig;
mod net;
pub(crate) mod params;
mod ports;
mod rootless;
mod session;
mod sysctl;
mod uidmap;
pub(crate) mod unit;
mod user;
pub(crate) mod userns;
pub(crate) mod verdict;

use crate::host::{FactError, Host};
pub(crate) use cgroup::{boot_change_cannot_help, delegation_config};
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
        if ctx.host.user().uid == 0
            && let Some(r) = &v.remedy
        {
            v.remedy = Some(not_for_root(r));
        }
        v
    }
}

/// Run as root without --user, the target user is root, for whom krc
/// install refuses to install (a usage error): a remedy must not suggest
/// it. The line names the unprivileged user to judge instead.
fn not_for_root(remedy: &str) -> String {
    remedy
        .lines()
        .map(|line| {
            if line.contains("krc install --user root") {
                "rootless k3s runs as an unprivileged user, not root: krc accept --user NAME   # the user krc install set up".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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

/// Every check krc knows, in the order reports list them.
pub(crate) static CATALOGUE: &[Check] = &[
    session::SYSTEMD,
    user::UNPRIVILEGED,
    session::RUNTIME_DIR,
    session::LINGER,
    cgroup::UNIFIED,
    cgroup::CONTROLLERS,
    cgroup::DELEGATION,
    userns::ENABLED,
    userns::APPARMOR,
    uidmap::BINARIES,
    uidmap::SUBIDS,
    net::TUN,
    net::SLIRP4NETNS,
    sysctl::IP_FORWARD,
    fs::FUSE,
    ports::FREE,
    k3s::SINGLE_INSTANCE,
    net::CIDR,
    kernel::VERSION,
    kernel::MODULES,
    k3s::CONFIG,
    net::PROXY,
    kernel::HOST_RESOURCES,
    // Acceptance: after an install, against the live cluster.
    rootless::INSTALL_BINARY,
    unit::PRESENT,
    unit::ACTIVE,
    unit::DELEGATION_LIVE,
    rootless::ROOTFUL_INACTIVE,
    rootless::USERNS,
    kubeconfig::PRESENT,
    kubeconfig::ENV,
    api::READY,
    api::NODE_SINGLE_READY,
    api::PODS_SYSTEM,
    ports::API,
    ports::OFFSET,
    api::CLUSTER_SINGLE_NODE,
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

    /// Id prefixes with too few checks for a file of their own, and the
    /// file that holds them instead.
    const GROUPED: &[(&str, &str)] = &[
        // Memory and CPUs sit with the other kernel facts; a `checks::host`
        // would read as `crate::host`.
        ("host", "kernel"),
        // The installed binary and the rootful unit are judged with the
        // rootless service they belong to; a `checks::install` would read
        // as the installer.
        ("install", "rootless"),
        ("rootful", "rootless"),
        // Asked of the live API server through one client and its remedies.
        ("node", "api"),
        ("pods", "api"),
        ("cluster", "api"),
    ];

    #[test]
    fn each_check_lives_in_the_file_its_id_names() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks");
        for c in CATALOGUE {
            let prefix = c.id.split('.').next().unwrap_or(c.id);
            let file = GROUPED
                .iter()
                .find(|(p, _)| *p == prefix)
                .map_or(prefix, |(_, f)| f);
            let path = dir.join(format!("{file}.rs"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: cannot read {}: {e}", c.id, path.display()));
            assert!(
                text.contains(&format!("\n    id: \"{}\",\n", c.id)),
                "the Check const of {} belongs in src/checks/{file}.rs, beside its function",
                c.id
            );
        }
        for (prefix, file) in GROUPED {
            let n = CATALOGUE
                .iter()
                .filter(|c| c.id.starts_with(&format!("{prefix}.")))
                .count();
            assert!(n > 0, "GROUPED names {prefix}, which no check uses");
            assert!(
                !dir.join(format!("{prefix}.rs")).exists(),
                "src/checks/{prefix}.rs exists: move the {prefix}.* checks there from {file}.rs"
            );
        }
    }

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
