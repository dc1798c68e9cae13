//! `k3s.config`: leftovers in /etc/rancher/k3s/config.yaml (and
//! config.yaml.d/*.yaml) that rootless k3s reads as well. The default
//! config path does not depend on the user (k3s-io/k3s:
//! pkg/configfilearg/defaultparser.go), so a file left by a rootful install
//! changes the rootless server too.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::FactError;
use crate::host::k3sconfig::{self, CONFIG, CONFIG_DIR};

/// Keys whose values are secrets: shown by name only, never by value.
const SECRET: &[&str] = &["token", "token-file", "agent-token", "agent-token-file"];

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

pub(super) fn config(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let files = k3sconfig::files(host);
    if files.is_empty() {
        return Ok(Verdict::pass(format!(
            "no {CONFIG} and no {CONFIG_DIR}/*.yaml: rootless k3s takes its settings from its unit only"
        ))
        .evidence(format!("{CONFIG}: does not exist")));
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
        let shown = if SECRET.contains(&e.name()) {
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

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const config: &str = "\
Reads /etc/rancher/k3s/config.yaml and then /etc/rancher/k3s/config.yaml.d/*.yaml (in name order) and reports every setting that changes how rootless k3s runs, verbatim with file and line (a token's value is never shown), saying what it does in rootless mode: data-dir, token, server, disable, write-kubeconfig-mode, write-kubeconfig, snapshotter, rootless, cluster-init, cluster-cidr, service-cidr, https-listen-port, node-ip and the like. Advisory: it warns, never fails.

Why: the default config path is /etc/rancher/k3s/config.yaml whoever runs k3s (k3s-io/k3s:pkg/configfilearg/defaultparser.go), so the rootless server started from ~/.config/systemd/user/k3s-rootless.service reads a file left by a rootful install too. A `server:` makes it join another cluster, a `data-dir:` moves its state out of ~/.rancher/k3s, `write-kubeconfig-mode: 644` makes the admin kubeconfig world-readable, `disable:` removes packaged components (pkg/cli/cmds/server.go: coredns, servicelb, traefik, local-storage, metrics-server). Command-line flags of the unit win over the file.

Fix: remove the settings that belong to another install (`sudoedit /etc/rancher/k3s/config.yaml`), or move the file away (`sudo mv /etc/rancher/k3s/config.yaml /etc/rancher/k3s/config.yaml.rootful`) when no rootful k3s uses it.";
}
