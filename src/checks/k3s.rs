//! `k3s.single-instance`: one k3s per host.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::procs::k3s_processes;
use crate::host::{FactError, Probe};

const ROOTFUL_WANTS: &[&str] = &[
    "/etc/systemd/system/multi-user.target.wants/k3s.service",
    "/etc/systemd/system/multi-user.target.wants/k3s-agent.service",
];

pub(super) fn single_instance(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let mut f = Findings::default();
    for p in k3s_processes(host) {
        let who = p
            .uid
            .map(|uid| format!("uid {uid} ({})", host.owner_name(uid)))
            .unwrap_or_else(|| "unknown uid".into());
        f.observe(format!("/proc/{}/cmdline: {} — {who}", p.pid, p.cmdline));
        f.find(
            Status::Fail,
            format!("k3s already runs as pid {} ({who})", p.pid),
        );
        f.remedy(format!(
            "stop it first: sudo systemctl disable --now k3s   # rootful\nor, for a rootless one: systemctl --user -M {}@ disable --now k3s-rootless\n(or {} to stop every k3s process)",
            host.owner_name(p.uid.unwrap_or(0)),
            super::rootless::killall(host)
        ));
    }
    let lock = format!("{}/.rancher/k3s/rootless/lock", u.home);
    if host.exists(&lock) {
        match host
            .probes()
            .lock_held(&host.fs().path(&lock).to_string_lossy())
        {
            Probe::Answer(true) => {
                f.observe(format!("{lock}: exists and is locked"));
                f.find(
                    Status::Fail,
                    format!("a RootlessKit of {} holds {lock}", u.name),
                );
                f.remedy(format!("systemctl --user -M {}@ stop k3s-rootless   # a second instance fails with \"another RootlessKit is running with the same state directory?\"", u.name));
            }
            Probe::Answer(false) => f.observe(format!(
                "{lock}: exists, not locked (left over from a stopped instance)"
            )),
            Probe::NotRun(reason) => {
                f.observe(format!("{lock}: exists; {reason}"));
                f.find(
                    Status::Skip,
                    format!("whether {lock} is held was not verified (live probe not run)"),
                );
            }
        }
    } else {
        f.observe(format!("{lock}: does not exist"));
    }
    for wants in ROOTFUL_WANTS {
        if host.exists(wants) {
            let unit = wants.rsplit('/').next().unwrap_or(wants);
            f.observe(format!("{wants}: exists ({unit} is enabled)"));
            f.find(Status::Fail, format!("the rootful {unit} is enabled"));
            f.remedy(format!("sudo systemctl disable --now {unit}"));
        }
    }
    if f.status() == Status::Fail
        && let Some(note) = super::session::systemd_note(host)?
    {
        f.remedy(note);
    }
    Ok(f.finish("no k3s process runs, no rootless lock is held, no rootful k3s unit is enabled"))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const single_instance: &str = "\
Verifies that no k3s server or agent process runs (from /proc/*/cmdline), that no RootlessKit holds the user's ~/.rancher/k3s/rootless/lock (a live flock test), and that the rootful k3s.service or k3s-agent.service is not enabled.

Why: rootless k3s is one node only: no multi-node rootless cluster and no second rootless k3s process on the same host. A second instance fails with \"failed to lock ..., another RootlessKit is running with the same state directory?\"; a rootful k3s beside it fights over ports 6443, 10250 and the iptables rules. The upstream install script writes the rootful /etc/systemd/system/k3s.service even for a rootless install, so it must stay disabled.

Fix: `sudo systemctl disable --now k3s` (rootful), `systemctl --user disable --now k3s-rootless` (another rootless instance), or `k3s-killall.sh` (next to the k3s binary: /usr/local/bin, or /opt/bin where install.sh put it on a read-only /usr/local).";
}
