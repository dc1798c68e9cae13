//! k3s already on this host: `k3s.single-instance` (one k3s per host) and
//! `k3s.config`, leftovers in /etc/rancher/k3s/config.yaml (and
//! config.yaml.d/*.yaml) that rootless k3s reads as well. The default
//! config path does not depend on the user (k3s-io/k3s:
//! pkg/configfilearg/defaultparser.go), so a file left by a rootful install
//! changes the rootless server too.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::k3sconfig::{self, CONFIG as CONFIG_YAML, CONFIG_DIR};
use crate::host::procs::k3s_processes;
use crate::host::{FactError, Probe};

const ROOTFUL_WANTS: &[&str] = &[
    "/etc/systemd/system/multi-user.target.wants/k3s.service",
    "/etc/systemd/system/multi-user.target.wants/k3s-agent.service",
];

pub(crate) const SINGLE_INSTANCE: Check = Check {
    id: "k3s.single-instance",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "no other k3s runs or is enabled on this host",
    fixed_by: None,
    run: single_instance,
    explain: "\
Verifies that no k3s server or agent process runs (from /proc/*/cmdline), that no RootlessKit holds the user's ~/.rancher/k3s/rootless/lock (a live flock test), and that the rootful k3s.service or k3s-agent.service is not enabled.

Why: rootless k3s is one node only: no multi-node rootless cluster and no second rootless k3s process on the same host. A second instance fails with \"failed to lock ..., another RootlessKit is running with the same state directory?\"; a rootful k3s beside it fights over ports 6443, 10250 and the iptables rules. The upstream install script writes the rootful /etc/systemd/system/k3s.service even for a rootless install, so it must stay disabled.

Fix: `sudo systemctl disable --now k3s` (rootful), `systemctl --user disable --now k3s-rootless` (another rootless instance), or `k3s-killall.sh` (next to the k3s binary: /usr/local/bin, or /opt/bin where install.sh put it on a read-only /usr/local).",
};

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

/// What a key does to rootless k3s: None = read, but nothing to say.
fn effect(key: &str) -> Option<&'static str> {
    Some(match key {
        "data-dir" => {
            "rootless k3s keeps its state there instead of ~/.rancher/k3s: the user must own it, and a rootful install's data there is not this cluster's"
        }
        "token" | "token-file" | "agent-token" | "agent-token-file" => {
            "a cluster secret from another install: the rootless server adopts it as its own token (harmless on one node, but it is the other cluster's secret)"
        }
        "server" => {
            "the rootless server joins the cluster at that URL instead of starting its own: rootless k3s is single-node"
        }
        "disable" => {
            "these packaged components are not deployed (krc accept skips them in pods.system)"
        }
        "write-kubeconfig-mode" => {
            "the rootless kubeconfig ~/.kube/k3s.yaml gets this mode: anything wider than 0600 lets other users read the cluster-admin credentials"
        }
        "write-kubeconfig" => {
            "k3s writes the kubeconfig there instead of ~/.kube/k3s.yaml: krc accept and kubectl look in the wrong place"
        }
        "snapshotter" => {
            "command-line flags win over the config file, so the unit's --snapshotter=fuse-overlayfs still applies; without that flag this value would"
        }
        "rootless" => {
            "makes every `k3s server` on this host rootless, a rootful one started by root included"
        }
        "cluster-init" => {
            "embedded etcd instead of sqlite: more memory and disk, harmless on one node"
        }
        "cluster-cidr" | "service-cidr" => {
            "moves the pod or service network away from 10.42.0.0/16 / 10.43.0.0/16, which krc's net.cidr checks against the host's routes"
        }
        "https-listen-port" => {
            "the API port changes: the port rootless k3s forwards to the host (and krc's ports.free) follow it"
        }
        "node-ip" | "node-external-ip" | "advertise-address" | "bind-address" => {
            "a host address does not exist inside the rootless network namespace (the node is 10.41.0.100 there): k3s cannot bind or advertise it"
        }
        "flannel-backend" | "flannel-iface" => {
            "flannel runs inside the rootless namespace on tap0: a host interface or a backend that needs kernel modules may not work there"
        }
        _ => return None,
    })
}

pub(crate) const CONFIG: Check = Check {
    id: "k3s.config",
    phase: Phase::Preflight,
    severity: Severity::Advisory,
    title: "/etc/rancher/k3s/config.yaml holds nothing that changes rootless k3s",
    fixed_by: None,
    run: config,
    explain: "\
Reads /etc/rancher/k3s/config.yaml and then /etc/rancher/k3s/config.yaml.d/*.yaml (in name order) and reports every setting that changes how rootless k3s runs, verbatim with file and line (a token's value is never shown), saying what it does in rootless mode: data-dir, token, server, disable, write-kubeconfig-mode, write-kubeconfig, snapshotter, rootless, cluster-init, cluster-cidr, service-cidr, https-listen-port, node-ip and the like. Advisory: it warns, never fails.

Why: the default config path is /etc/rancher/k3s/config.yaml whoever runs k3s (k3s-io/k3s:pkg/configfilearg/defaultparser.go), so the rootless server started from ~/.config/systemd/user/k3s-rootless.service reads a file left by a rootful install too. A `server:` makes it join another cluster, a `data-dir:` moves its state out of ~/.rancher/k3s, `write-kubeconfig-mode: 644` makes the admin kubeconfig world-readable, `disable:` removes packaged components (pkg/cli/cmds/server.go: coredns, servicelb, traefik, local-storage, metrics-server). Command-line flags of the unit win over the file.

Fix: remove the settings that belong to another install (`sudoedit /etc/rancher/k3s/config.yaml`), or move the file away (`sudo mv /etc/rancher/k3s/config.yaml /etc/rancher/k3s/config.yaml.rootful`) when no rootful k3s uses it.",
};

pub(super) fn config(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let files = k3sconfig::files(host);
    if files.is_empty() {
        return Ok(Verdict::pass(format!(
            "no {CONFIG_YAML} and no {CONFIG_DIR}/*.yaml: rootless k3s takes its settings from its unit only"
        ))
        .evidence(format!("{CONFIG_YAML}: does not exist")));
    }
    let entries = k3sconfig::read(host)?;
    let mut f = Findings::default();
    let mut flagged = Vec::new();
    if entries.is_empty() {
        for file in &files {
            f.observe(format!("{file}: no settings"));
        }
    }
    for e in &entries {
        // k3s's secret settings (one table, host::k3sconfig): by name only.
        let shown = if k3sconfig::is_k3s_secret_name(e.name()) {
            format!("{}:{}: {} (value not shown)", e.file, e.line, e.key)
        } else if !e.values.is_empty() && !e.raw.contains(e.values[0].as_str()) {
            // A block list: its items are on the lines below.
            format!(
                "{} (items: {})",
                super::at(&e.file, e.line, &e.raw),
                e.values.join(", ")
            )
        } else {
            super::at(&e.file, e.line, &e.raw)
        };
        f.observe(shown);
        match effect(e.name()) {
            Some(what) => {
                f.find(
                    Status::Warn,
                    format!("{} sets {}; {what}", e.file, e.name()),
                );
                flagged.push(e);
            }
            None => f.observe(format!(
                "{}: {} is read by rootless k3s too",
                e.file,
                e.name()
            )),
        }
    }
    // One remedy per file: edit out what belongs to another install, or
    // move the whole file away when nothing uses it any more.
    for file in &files {
        let mine: Vec<String> = flagged
            .iter()
            .filter(|e| &e.file == file)
            .map(|e| format!("{} (line {})", e.key, e.line))
            .collect();
        if !mine.is_empty() {
            f.remedy(format!(
                "sudoedit {file}   # remove what belongs to the old install: {}\nor, when no rootful k3s uses it any more: sudo mv {file} {file}.rootful",
                mine.join(", ")
            ));
        }
    }
    Ok(f.finish(format!(
        "{} sets nothing that changes rootless k3s",
        files.join(", ")
    )))
}
