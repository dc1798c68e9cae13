//! Forwarding: `sysctl.ip-forward`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::FactError;
use crate::host::sysctl::{live_int, persisted, proc_path};

const V4: &str = "net.ipv4.ip_forward";
const V6: &str = "net.ipv6.conf.all.forwarding";
/// The file krc's installer writes; the remedy names the same one.
pub(crate) use crate::layout::SYSCTL_FILE as KRC_SYSCTL_FILE;

pub(crate) const IP_FORWARD: Check = Check {
    id: "sysctl.ip-forward",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "IP forwarding is enabled and persisted",
    fixed_by: Some("sysctl"),
    run: ip_forward,
    explain: "\
Verifies that net.ipv4.ip_forward is 1, shows the live value, and says whether /etc/sysctl.conf or a file under /etc/sysctl.d (also /run, /usr/lib) sets it again at boot. net.ipv6.conf.all.forwarding is shown for information only.

Why: k3s checks IPv4 forwarding at startup (k3s-io/k3s:pkg/rootless/rootless.go) and stops with: expected sysctl value \"net.ipv4.ip_forward\" to be \"1\", got \"0\"; try adding \"net.ipv4.ip_forward=1\" to /etc/sysctl.conf and running `sudo sysctl --system`. A rootless user cannot set it. A value set by hand and not persisted is lost at the next reboot. IPv6 forwarding is different: k3s does not check it, and the host's value does not reach the rootless namespace (a new network namespace does not inherit the host's IPv6 devconf unless net.core.devconf_inherit_init_net is set; k3s sets forwarding inside its own namespace, k3s-io/k3s:pkg/agent/syssetup/setup.go). Setting it host-wide brings rootless k3s nothing and turns off router-advertisement autoconfiguration on interfaces with accept_ra=1, which can cut the host's IPv6; krc install sets it only with --ipv6-forwarding.

Fix: `echo 'net.ipv4.ip_forward=1' | sudo tee /etc/sysctl.d/90-krc-rootless.conf && sudo sysctl --system`. `krc install` writes that file in its sysctl step.",
};

pub(super) fn ip_forward(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    let value = live_int(host, V4)?;
    let saved = persisted(host, V4);
    let saved_text = match &saved {
        Some(p) => format!("persisted by {p}"),
        None => "not persisted in /etc/sysctl.conf or any sysctl.d file".to_string(),
    };
    f.observe(format!(
        "{}: {} ({saved_text})",
        proc_path(V4),
        value.as_deref().unwrap_or("does not exist")
    ));
    let mut fix = false;
    match value.as_deref() {
        None => f.find(
            Status::Fail,
            format!("{V4} does not exist: the kernel has no IPv4 forwarding"),
        ),
        Some("1") if saved.as_ref().is_none_or(|p| p.value != "1") => {
            f.find(
                Status::Warn,
                format!("{V4} is 1 now but nothing sets it at boot"),
            );
            fix = true;
        }
        Some("1") => {}
        Some(v) => {
            f.find(Status::Fail, format!("{V4} is {v} (k3s refuses to start)"));
            fix = true;
        }
    }
    // IPv6: information only. k3s does not check it, and a new network
    // namespace does not inherit the host's IPv6 devconf.
    if let Some(v6) = live_int(host, V6)? {
        f.observe(format!(
            "{}: {v6} (information only: k3s does not check it and the rootless namespace does not inherit it)",
            proc_path(V6)
        ));
    }
    if fix {
        f.remedy(format!(
            "echo '{V4}=1' | sudo tee {KRC_SYSCTL_FILE}\nsudo sysctl --system"
        ));
    }
    Ok(f.finish("IPv4 forwarding is on and persisted"))
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::checks::{Ctx, Params, Status, find};
    use crate::host::Host;

    /// A copy of a fixture host with `edit` applied, judged by `id`.
    pub(crate) fn judge_edited(
        base: &str,
        id: &str,
        edit: impl FnOnce(&std::path::Path),
    ) -> crate::checks::Verdict {
        let d = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts")
            .join(base);
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(d.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        edit(d.path());
        let host = Host::open(d.path(), None).unwrap();
        find(id).unwrap().judge(&Ctx {
            host: &host,
            params: &Params::default(),
        })
    }

    #[test]
    fn ipv6_forwarding_is_information_only() {
        let v = judge_edited("ready-v2", "sysctl.ip-forward", |d| {
            std::fs::write(d.join("proc/sys/net/ipv6/conf/all/forwarding"), "0\n").unwrap();
            std::fs::write(
                d.join("etc/sysctl.d/90-krc-rootless.conf"),
                "net.ipv4.ip_forward=1\n",
            )
            .unwrap();
        });
        assert_eq!(v.status, Status::Pass, "{v:?}");
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("forwarding: 0 (information only")),
            "{v:?}"
        );
        let v = judge_edited("ready-v2", "sysctl.ip-forward", |d| {
            std::fs::write(d.join("proc/sys/net/ipv4/ip_forward"), "0\n").unwrap();
        });
        assert_eq!(v.status, Status::Fail);
        let remedy = v.remedy.unwrap();
        assert!(
            remedy.contains("net.ipv4.ip_forward=1") && !remedy.contains("ipv6"),
            "{remedy}"
        );
    }

    #[test]
    fn the_root_need_not_offer_io() {
        let v = judge_edited("ready-v2", "cgroup.controllers", |d| {
            std::fs::write(
                d.join("sys/fs/cgroup/cgroup.controllers"),
                "cpuset cpu memory hugetlb pids\n",
            )
            .unwrap();
        });
        assert_eq!(v.status, Status::Pass, "{v:?}");
        let v = judge_edited("ready-v2", "cgroup.controllers", |d| {
            std::fs::write(
                d.join("sys/fs/cgroup/cgroup.controllers"),
                "cpuset cpu io pids\n",
            )
            .unwrap();
        });
        assert_eq!(
            (v.status, v.summary.as_str()),
            (Status::Fail, "the cgroup v2 root does not offer memory")
        );
    }

    #[test]
    fn host_routes_in_the_k3s_networks_warn_with_a_free_network() {
        let v = judge_edited("rootful-k3s-running", "net.cidr", |_| {});
        assert_eq!(v.status, Status::Warn, "{v:?}");
        assert!(v.remedy.unwrap().contains("--cluster-cidr"));
        // Issue 17: k3s runs with a host route in its rootless network
        // (pods cannot reach the VPN): a warning, never a blocker.
        let v = judge_edited("vpn-on-rootless-cidr", "net.cidr", |_| {});
        assert_eq!(v.status, Status::Warn, "{v:?}");
        let remedy = v.remedy.unwrap();
        assert!(
            remedy.contains("krc install --cidr 10.141.0.0/16"),
            "{remedy}"
        );
        assert!(!remedy.contains("--cluster-cidr"), "{remedy}");
    }
}
