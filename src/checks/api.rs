//! The cluster through its API: `api.ready` (TLS verified, /readyz ok, a
//! k3s build), `node.single-ready`, `pods.system` and `cluster.single-node`.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::unit::{environment, read_unit};
use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};

/// `kubectl --kubeconfig PATH` with the kubeconfig this run uses.
pub(crate) fn kubectl(ctx: &Ctx<'_>) -> String {
    let path = super::kubeconfig::kubeconfig_path(
        ctx.host.user(),
        ctx.params.accept.kubeconfig.as_deref(),
    );
    format!("kubectl --kubeconfig {path}")
}
use crate::host::net::Cidr;
use crate::host::{FactError, Host, Probe, TargetUser};

/// What to do about an API error, from the words of the error.
pub(crate) fn api_remedy(err: &str, u: &TargetUser) -> String {
    let restart = format!(
        "sudo systemctl --user -M {}@ restart k3s-rootless   # k3s rewrites ~/.kube/k3s.yaml on start",
        u.name
    );
    let e = err.to_ascii_lowercase();
    // First: krc's own kubeconfig refusals may mention certificates.
    if e.contains("load kubeconfig") {
        return "fix the kubeconfig first: krc accept kubeconfig.present".to_string();
    }
    if e.contains("unknownissuer")
        || e.contains("invalid peer certificate")
        || e.contains("certificate verify failed")
    {
        format!(
            "the server's certificate is not signed by the kubeconfig's CA: the kubeconfig is stale (an earlier install) or names another server; do not copy an old k3s.yaml over the new one\n{restart}"
        )
    } else if e.contains("certificaterequired")
        || e.contains("badcertificate")
        || e.contains("unknownca")
        || e.contains("certificate unknown")
        || e.contains("unauthorized")
        || e.contains("401")
    {
        format!(
            "the server rejected the kubeconfig's client certificate (it belongs to another cluster or was revoked)\n{restart}"
        )
    } else if e.contains("not ready")
        || e.contains("connection closed")
        || e.contains("reset by peer")
        || e.contains("canceled")
    {
        // With TLS 1.3 the client finishes its handshake before the server
        // has judged the client certificate; the rejection then arrives as
        // a closed connection as often as an alert.
        format!(
            "the server accepted the connection and closed it right after the TLS handshake: with TLS 1.3 that is how it looks when the server rejected the kubeconfig's client certificate (another cluster's, or revoked)\n{restart}"
        )
    } else if e.contains("refused") || e.contains("connect") {
        format!(
            "nothing answers at the kubeconfig's server: is k3s running?\nsudo systemctl --user -M {}@ status k3s-rootless",
            u.name
        )
    } else {
        format!(
            "sudo journalctl --user -M {}@ -u k3s-rootless -n 50 --no-pager",
            u.name
        )
    }
}

fn api_failed(what: &str, err: &str, u: &TargetUser) -> Verdict {
    Verdict::fail(format!("{what}: the API did not answer"))
        .evidence(err.to_string())
        .remedy(api_remedy(err, u))
}

pub(crate) const READY: Check = Check {
    id: "api.ready",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the API answers over verified TLS and is a ready k3s",
    fixed_by: None,
    run: ready,
    explain: "\
Verifies the API server through the kubeconfig: TLS verified against the kubeconfig's certificate authority, authenticated with its client certificate (k3s uses ECDSA P-256 keys and an IP-address SAN 127.0.0.1), GET /readyz answers `ok`, and GET /version names a k3s build (gitVersion ends in +k3sN).

Why: this is what every kubectl call does. \"invalid peer certificate: UnknownIssuer\" means the kubeconfig's CA is not the server's (a stale copy from an earlier install); a rejected client certificate means the credentials belong to another cluster; \"connection refused\" means no server runs on the port; a gitVersion without +k3s means another Kubernetes holds the port.

Fix: `sudo systemctl --user -M USER@ restart k3s-rootless` (k3s rewrites ~/.kube/k3s.yaml on start); `sudo systemctl --user -M USER@ status k3s-rootless` for a server that does not run.",
};

pub(super) fn ready(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let api = ctx.host.accept_probes();
    let u = ctx.host.user();
    let mut f = Findings::default();
    match api.server() {
        Probe::NotRun(why) => return Ok(Verdict::skip(why)),
        Probe::Answer(Err(e)) => return Ok(api_failed("no client", &e, u)),
        Probe::Answer(Ok(s)) => f.observe(format!(
            "server: {s} (CA and client certificate from the kubeconfig)"
        )),
    }
    match api.readyz() {
        Probe::NotRun(why) => return Ok(Verdict::skip(why)),
        Probe::Answer(Err(e)) => {
            f.observe(e.clone());
            f.find(Status::Fail, "GET /readyz failed");
            f.remedy(api_remedy(&e, u));
            return Ok(f.finish(""));
        }
        Probe::Answer(Ok(body)) => {
            f.observe(format!("GET /readyz: {} (TLS verified)", body.trim()));
            if body.trim() != "ok" {
                f.find(
                    Status::Fail,
                    format!("/readyz says {:?}, not ok", body.trim()),
                );
                f.remedy(format!("the server is still starting or unhealthy: wait, then sudo journalctl --user -M {}@ -u k3s-rootless -n 50", u.name));
            }
        }
    }
    match api.version() {
        Probe::NotRun(why) => f.observe(format!("GET /version: {why}")),
        Probe::Answer(Err(e)) => {
            f.observe(e.clone());
            f.find(Status::Fail, "GET /version failed");
            f.remedy(api_remedy(&e, u));
        }
        Probe::Answer(Ok(v)) => {
            f.observe(format!(
                "GET /version: gitVersion {} platform {}",
                v.git_version, v.platform
            ));
            if !v.git_version.contains("+k3s") {
                f.find(
                    Status::Fail,
                    format!("the API server is {}, not a k3s build", v.git_version),
                );
                f.remedy(format!("another Kubernetes answers on this port: stop it, then sudo systemctl --user -M {}@ restart k3s-rootless", u.name));
            }
        }
    }
    Ok(f.finish("the API answers over verified TLS, /readyz is ok, /version names a k3s build"))
}

pub(crate) const NODE_SINGLE_READY: Check = Check {
    id: "node.single-ready",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "one node, Ready, inside the rootless network",
    fixed_by: None,
    run: single_ready,
    explain: "\
Verifies that the cluster has exactly one node, that it is Ready, and that its InternalIP lies inside the rootless network K3S_ROOTLESS_CIDR (10.41.0.100 with the default 10.41.0.0/16).

Why: rootless k3s is one node only. An InternalIP outside the rootless network means the node is not the rootless server (a rootful k3s, or the host's address); a node that stays NotReady usually failed its network or cgroup setup (\"failed to setup network\", \"delegated cgroup v2 controllers are required for rootless\").

Fix: `kubectl --kubeconfig ~/.kube/k3s.yaml describe node NAME`; stop a rootful k3s with `sudo systemctl disable --now k3s`; delete extra nodes.",
};

pub(super) fn single_ready(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let cidr = ctx.params.rootless.cidr.cidr();
    let nodes = match ctx.host.accept_probes().nodes() {
        Probe::NotRun(why) => return Ok(Verdict::skip(why)),
        Probe::Answer(Err(e)) => return Ok(api_failed("listing nodes", &e, u)),
        Probe::Answer(Ok(n)) => n,
    };
    let mut f = Findings::default();
    for n in &nodes {
        let ready = n
            .ready
            .as_ref()
            .map_or("no Ready condition".to_string(), |(s, r, m)| {
                format!("Ready={s} {r} {m}").trim().to_string()
            });
        f.observe(format!(
            "node {}: {ready}; InternalIP {}; kubelet {}",
            n.name,
            n.internal_ips.join(", "),
            n.kubelet_version
        ));
    }
    if nodes.len() != 1 {
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        f.find(
            Status::Fail,
            format!(
                "{} nodes ({}), rootless k3s runs exactly one",
                nodes.len(),
                names.join(", ")
            ),
        );
        f.remedy(if nodes.is_empty() {
            format!("the server has not registered its node yet: wait, then sudo journalctl --user -M {}@ -u k3s-rootless -n 50", u.name)
        } else {
            format!("remove the extra nodes: {} delete node NAME   # and stop their agents", kubectl(ctx))
        });
    }
    for n in &nodes {
        if n.ready.as_ref().is_none_or(|(s, _, _)| s != "True") {
            f.find(Status::Fail, format!("node {} is not Ready", n.name));
            f.remedy(format!("{} describe node {}", kubectl(ctx), n.name));
        }
        let inside = n
            .internal_ips
            .iter()
            .any(|ip| ip.parse::<Ipv4Addr>().is_ok_and(|a| cidr.contains(a)));
        if inside {
            continue;
        }
        // Inside the network the unit gives k3s: rootless, installed with
        // other settings than this run judges by.
        match unit_cidr(ctx.host)?.filter(|(c, _)| {
            n.internal_ips
                .iter()
                .any(|ip| ip.parse::<Ipv4Addr>().is_ok_and(|a| c.contains(a)))
        }) {
            Some((unit, at)) => {
                f.observe(at);
                f.find(Status::Warn, format!("node {} has InternalIP {}, inside the unit's K3S_ROOTLESS_CIDR={unit}, not the {cidr} this run judges by", n.name, n.internal_ips.join(", ")));
                f.remedy(format!("if {unit} is what was installed, judge by it: krc accept --cidr {unit} (or the suite's rootless_cidr)"));
            }
            None => {
                f.find(Status::Fail, format!("node {} has InternalIP {}, outside the rootless network {cidr}: it does not run rootless", n.name, n.internal_ips.join(", ")));
                f.remedy(format!("run the server from k3s-rootless.service (K3S_ROOTLESS_CIDR={cidr}); a rootful k3s uses the host's address: krc accept rootful.inactive"));
            }
        }
    }
    Ok(f.finish(format!("one node, Ready, InternalIP inside {cidr}")))
}

/// The unit's `K3S_ROOTLESS_CIDR` (the last assignment, as systemd takes
/// it) and the line that sets it; None when the unit or the line is absent
/// or the value is not a network.
fn unit_cidr(host: &Host) -> Result<Option<(Cidr, String)>, FactError> {
    let Some((main, drop)) = read_unit(host)? else {
        return Ok(None);
    };
    let lines: Vec<_> = main.into_iter().chain(drop).collect();
    let env = environment(&lines);
    Ok(env
        .iter()
        .rfind(|(k, _, _)| k == "K3S_ROOTLESS_CIDR")
        .and_then(|(_, v, l)| Some((v.parse::<Cidr>().ok()?, l.at()))))
}

/// The packaged components k3s is told not to deploy (`--disable` on the
/// unit's ExecStart, `disable:` in its config files), by `--disable` item
/// (k3s-io/k3s:pkg/cli/cmds/server.go: coredns, servicelb, traefik,
/// local-storage, metrics-server), each with the line that says so.
pub(crate) fn disabled_components(
    host: &crate::host::Host,
) -> Result<Vec<(String, String)>, FactError> {
    let mut out = Vec::new();
    for e in crate::host::k3sconfig::read(host)?
        .into_iter()
        .filter(|e| e.name() == "disable")
    {
        for item in crate::host::k3sconfig::split_list(&e.values) {
            out.push((item, super::at(&e.file, e.line, &e.raw)));
        }
    }
    if let Some((main, drop)) = read_unit(host)? {
        let all: Vec<_> = main.iter().chain(&drop).cloned().collect();
        for (v, at) in super::unit::exec_flag_values(&all, "disable") {
            for item in v.split(',').filter(|s| !s.is_empty()) {
                out.push((item.trim().to_string(), at.clone()));
            }
        }
    }
    Ok(out)
}

pub(crate) const PODS_SYSTEM: Check = Check {
    id: "pods.system",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "coredns, local-path-provisioner, metrics-server, traefik are Ready",
    fixed_by: None,
    run: system_pods,
    explain: "\
Verifies that coredns, local-path-provisioner, metrics-server and traefik each have a Ready pod in kube-system, except those k3s is told not to deploy: `--disable ITEM` (or `--disable=a,b`) on the unit's ExecStart, `disable:` (a list or a string, also `disable+:`) in /etc/rancher/k3s/config.yaml and /etc/rancher/k3s/config.yaml.d/*.yaml, which rootless k3s reads too (k3s-io/k3s:pkg/configfilearg/defaultparser.go; items from pkg/cli/cmds/server.go: coredns, local-storage, metrics-server, traefik), and traefik when the suite says traefik = false. It waits up to the timeout (--timeout, default 180 s) with progress on a terminal.

Why: these are k3s's packaged components; a cluster whose DNS or storage never becomes Ready accepts pods that then fail. In rootless mode they fail for rootless reasons: fuse-overlayfs not usable (\"fuse-overlayfs not functional\"), no network (\"failed to setup network ... tap0\"), or no image pull from the rootless namespace.

Fix: `kubectl --kubeconfig ~/.kube/k3s.yaml -n kube-system describe pod NAME` and `logs NAME`; the journal of k3s-rootless.",
};

pub(super) fn system_pods(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let a = &ctx.params.accept;
    let disabled = disabled_components(ctx.host)?;
    let mut f = Findings::default();
    let mut wanted = Vec::new();
    // (workload, the --disable item that removes it)
    for (w, item) in [
        ("coredns", "coredns"),
        ("local-path-provisioner", "local-storage"),
        ("metrics-server", "metrics-server"),
        ("traefik", "traefik"),
    ] {
        if w == "traefik" && !a.traefik {
            f.observe("traefik: not required (suite parameter traefik = false)".to_string());
            continue;
        }
        match disabled.iter().find(|(d, _)| d == item) {
            Some((_, at)) => f.observe(format!(
                "{w}: not required, k3s is told not to deploy it: {at}"
            )),
            None => wanted.push(w),
        }
    }
    if wanted.is_empty() {
        return Ok(f.finish("every packaged component is disabled: nothing to wait for"));
    }
    let timeout = Duration::from_secs(a.timeout_secs);
    let pods = match ctx.host.accept_probes().system_pods(&wanted, timeout) {
        Probe::NotRun(why) => return Ok(Verdict::skip(why)),
        Probe::Answer(Err(e)) => return Ok(api_failed("listing kube-system pods", &e, u)),
        Probe::Answer(Ok(p)) => p,
    };
    for w in &wanted {
        let mine: Vec<_> = pods.iter().filter(|p| p.is_of(w)).collect();
        if mine.is_empty() {
            f.observe(format!("{w}: no pod in kube-system"));
            f.find(
                Status::Fail,
                format!("{w} has no pod after {}s", a.timeout_secs),
            );
            f.remedy(format!("{} -n kube-system get deploy,pods,jobs   # k3s deploys {w} from /var/lib/rancher/k3s/server/manifests (rootless: ~/.rancher/k3s/server/manifests)", kubectl(ctx)));
            continue;
        }
        for p in &mine {
            let why = if p.not_ready_reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.not_ready_reason)
            };
            f.observe(format!(
                "pod {}: {} ready={}{why}",
                p.name, p.phase, p.ready
            ));
        }
        if !mine.iter().any(|p| p.ready) {
            let p = mine[0];
            f.find(
                Status::Fail,
                format!("{w} is not Ready after {}s", a.timeout_secs),
            );
            let k = kubectl(ctx);
            f.remedy(format!(
                "{k} -n kube-system describe pod {}\n{k} -n kube-system logs {}",
                p.name, p.name
            ));
        }
    }
    Ok(f.finish(format!("{} are Ready", wanted.join(", "))))
}

/// Join settings: a server with these joins another server's cluster.
const JOIN_VARS: &[&str] = &["K3S_URL"];
/// Settings that are harmless on a single server: a token only secures a
/// cluster others could join, and `--cluster-init` only chooses embedded
/// etcd instead of sqlite. They are shown (values redacted), never judged.
const SINGLE_OK_VARS: &[&str] = &[
    "K3S_TOKEN",
    "K3S_TOKEN_FILE",
    "K3S_AGENT_TOKEN",
    "K3S_CLUSTER_INIT",
];

pub(crate) const CLUSTER_SINGLE_NODE: Check = Check {
    id: "cluster.single-node",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "no agent join is configured and only one node exists",
    fixed_by: None,
    run: single_node,
    explain: "\
Verifies that the API lists one node only. Join settings in the unit, its drop-ins and EnvironmentFile (K3S_URL, K3S_TOKEN, K3S_AGENT_TOKEN, K3S_CLUSTER_INIT; `agent`, --server, --token, --cluster-init on ExecStart) are shown as evidence, never judged: a token or --cluster-init on a single server changes nothing about the node count (k3s-io/k3s:pkg/cli/cmds/server.go: --token secures joins, --cluster-init only picks embedded etcd over sqlite). Token values are never shown.

Why: rootless k3s supports no multi-node cluster and no second rootless k3s on the same host; a join configured by mistake makes the server wait for or join another cluster, and a second k3s fails with \"another RootlessKit is running with the same state directory?\".

Fix: stop the agents on the other hosts and `kubectl --kubeconfig ~/.kube/k3s.yaml delete node NAME`; if this server joined another (K3S_URL, --server), remove that from the unit, `sudo systemctl --user -M USER@ daemon-reload`, restart k3s-rootless.",
};

pub(super) fn single_node(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let mut f = Findings::default();
    match read_unit(host)? {
        None => f.observe(format!("{}: does not exist", super::unit::unit_path(u))),
        Some((main, drop)) => {
            let all: Vec<_> = main.iter().chain(&drop).cloned().collect();
            let mut env: Vec<(String, String, String)> = environment(&all)
                .into_iter()
                .map(|(k, v, l)| (k, v, l.at()))
                .collect();
            for l in all.iter().filter(|l| l.key == "EnvironmentFile") {
                let file = l.value.trim_start_matches('-');
                if let Some(text) = host.read_opt(file)? {
                    for (i, line) in text.lines().enumerate() {
                        if let Some((k, v)) = line.trim().split_once('=') {
                            env.push((
                                k.trim().to_string(),
                                v.trim().to_string(),
                                super::at(file, i + 1, line.trim()),
                            ));
                        }
                    }
                }
            }
            for (k, _, at) in env.iter().filter(|(k, v, _)| {
                (JOIN_VARS.contains(&k.as_str()) || SINGLE_OK_VARS.contains(&k.as_str()))
                    && !v.is_empty()
            }) {
                f.observe(at.clone());
                if JOIN_VARS.contains(&k.as_str()) {
                    f.observe(format!("{k} is set: this server is configured to join the cluster at that URL; the node list decides"));
                } else {
                    f.observe(format!(
                        "{k} is set: harmless on a single server (the node list decides)"
                    ));
                }
            }
            for l in all.iter().filter(|l| l.key == "ExecStart") {
                let words: Vec<&str> = l.value.split_whitespace().collect();
                if words.iter().any(|w| {
                    *w == "agent"
                        || w.starts_with("--server")
                        || w.starts_with("--cluster-init")
                        || w.starts_with("--token")
                }) {
                    f.observe(l.at());
                    f.observe("ExecStart carries agent, --server, --token or --cluster-init: judged by the nodes that joined, not by the flags".to_string());
                }
            }
        }
    }
    match host.accept_probes().nodes() {
        Probe::NotRun(why) => {
            f.observe(format!("nodes: {why}"));
            f.find(Status::Skip, "the node count was not verified");
        }
        Probe::Answer(Err(e)) => {
            f.observe(e.clone());
            f.find(Status::Fail, "listing nodes failed");
            f.remedy(api_remedy(&e, u));
        }
        Probe::Answer(Ok(nodes)) => {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            f.observe(format!("nodes: {}", names.join(", ")));
            if nodes.len() > 1 {
                f.find(
                    Status::Fail,
                    format!(
                        "{} nodes joined: rootless k3s supports no multi-node cluster",
                        nodes.len()
                    ),
                );
                f.remedy(format!("stop the agents on the other hosts and delete their nodes: {} delete node NAME   # and remove K3S_URL/--server from the unit if this server joined another", kubectl(ctx)));
            }
        }
    }
    Ok(f.finish("the cluster has one node"))
}
