//! Ports: `ports.free` (before an install, nothing listens where k3s will),
//! and, as rootless k3s forwards them, `ports.api` (the API port on the
//! host) and `ports.offset` (LoadBalancer ports at their host numbers).
//!
//! The rule, from k3s's code (pkg/rootlessports): only Services with an
//! ingress IP are forwarded; a port up to AND including 1024 moves to
//! port + 10000 on the host (1024 → 11024; the docs say "below 1024"),
//! a larger port keeps its number. Forwards listen on all host addresses.

use std::time::{Duration, Instant};

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::accept::PortAnswer;
use crate::host::net::{SOCK_DIAG, live_tcp_listeners, parse_tcp_listeners};
use crate::host::{FactError, Host, Origin, Probe};

pub(crate) const FREE: Check = Check {
    id: "ports.free",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the API and ingress ports are free",
    fixed_by: None,
    run: free,
    explain: "\
Verifies that nothing listens on TCP 6443 (the API server), 10080 and 10443 (traefik's 80 and 443 as rootless k3s forwards them: a port up to and including 1024 moves to port + 10000). A suite can name other ports. On the live host the listening sockets come from the kernel's sock_diag netlink interface (what `ss -lt` uses), falling back to /proc/net/tcp and /proc/net/tcp6 where netlink is refused; a --root tree is judged from its /proc/net/tcp files.

Why: rootless k3s forwards the API port and every LoadBalancer port from its namespace to the host, listening on all host addresses. If the host port is taken, the forward fails: the API is unreachable from the host (kubectl gets \"connection refused\" or talks to the wrong server) or traefik's ports never appear.

Fix: find the process with `sudo ss -ltnp 'sport = :PORT'` and stop it, or move k3s (--https-listen-port for the API).",
};

pub(super) fn free(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    // On the live host the kernel is asked for listening sockets only
    // (sock_diag, what `ss -lt` uses); reading /proc/net/tcp walks every
    // socket. A tree has only its files. Both name where they read.
    let listeners = if host.origin() == Origin::Live {
        // A capture's tree is judged from the files, as any tree is.
        host.note_files(&["/proc/net/tcp", "/proc/net/tcp6"]);
        live_tcp_listeners(|file| host.read_opt(file))?
    } else {
        let mut found = Vec::new();
        let mut any = false;
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            if let Some(text) = host.read_opt(file)? {
                found.extend(parse_tcp_listeners(&text, file)?);
                any = true;
            }
        }
        if !any {
            return Err(FactError::Missing {
                path: "/proc/net/tcp".to_string(),
            });
        }
        found
    };
    for port in &ctx.params.ports {
        for l in listeners.iter().filter(|l| l.port == *port) {
            if l.file == SOCK_DIAG {
                f.observe(format!(
                    "{SOCK_DIAG}: {}:{} LISTEN uid {}",
                    l.addr, l.port, l.uid
                ));
            } else {
                let raw = host
                    .read_opt(&l.file)?
                    .and_then(|t| t.lines().nth(l.line - 1).map(str::to_string))
                    .unwrap_or_default();
                f.observe(at(&l.file, l.line, raw.trim()));
            }
            f.find(
                Status::Fail,
                format!(
                    "TCP {port} is in use: {}:{port} listens (uid {}, {})",
                    l.addr,
                    l.uid,
                    host.owner_name(l.uid)
                ),
            );
            f.remedy(format!("sudo ss -ltnp 'sport = :{port}'   # names the process; stop it, or give k3s another port"));
        }
    }
    let ports: Vec<String> = ctx.params.ports.iter().map(|p| p.to_string()).collect();
    f.observe(format!(
        "{} listening TCP sockets checked for ports {}",
        listeners.len(),
        ports.join(", ")
    ));
    Ok(f.finish(format!("TCP {} are free", ports.join(", "))))
}

/// The host port rootless k3s forwards a service port to.
pub(crate) fn host_port(port: u16) -> u16 {
    if port <= 1024 { port + 10000 } else { port }
}

/// Listeners on `port` from /proc/net/tcp{,6}: (address, evidence line).
fn listeners(host: &Host, port: u16) -> Result<Vec<(std::net::IpAddr, String)>, FactError> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Some(text) = host.read_opt(file)? {
            for l in parse_tcp_listeners(&text, file)?
                .into_iter()
                .filter(|l| l.port == port)
            {
                let raw = text
                    .lines()
                    .nth(l.line - 1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                out.push((l.addr, super::at(file, l.line, &raw)));
            }
        }
    }
    Ok(out)
}

pub(crate) const API: Check = Check {
    id: "ports.api",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the host answers on the API port",
    fixed_by: None,
    run: api,
    explain: "\
Verifies that something answers on 127.0.0.1 at the API port (6443, or the suite's api_port) and reads /proc/net/tcp{,6} for the listening address: rootless k3s forwards the API port, and every LoadBalancer port, on all host addresses, which is reported as a warning.

Why: the rootless network namespace is separate from the host: the API reaches the host only through rootlesskit's port forward (parent port = child port). k3s sets no parent IP, so the forward listens on 0.0.0.0 (builtin driver) or slirp4netns's default 0.0.0.0: the cluster's admin API and ingress are reachable from the network unless a firewall stops them.

Fix: nothing listens: `sudo systemctl --user -M USER@ status k3s-rootless`; to limit exposure, a firewall rule such as `sudo iptables -A INPUT -p tcp --dport 6443 ! -i lo -j DROP`.",
};

pub(super) fn api(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let port = ctx.params.accept.api_port;
    let mut f = Findings::default();
    match host.accept_probes().connect(port) {
        Probe::NotRun(why) => {
            f.observe(format!("127.0.0.1:{port}: {why}"));
            f.find(
                Status::Skip,
                format!("whether the host listens on {port} was not verified"),
            );
        }
        Probe::Answer(a) => {
            f.observe(format!("127.0.0.1:{port}: {}", a.describe()));
            if !a.reached() {
                f.find(Status::Fail, format!("nothing answers on host port {port}"));
                f.remedy(format!("k3s forwards the API port itself: sudo systemctl --user -M {}@ status k3s-rootless", u.name));
            }
        }
    }
    let all: Vec<_> = listeners(host, port)?;
    for (addr, line) in &all {
        f.observe(line.clone());
        if addr.is_unspecified() {
            f.find(Status::Warn, format!("the API port listens on all host addresses ({addr}:{port}), as every port rootless k3s forwards does (10080, 10443, ...): reachable from the network unless a firewall stops it"));
            f.remedy(format!("allow only what should reach it, e.g.: sudo iptables -A INPUT -p tcp --dport {port} ! -i lo -j DROP   # likewise for forwarded LoadBalancer ports"));
        }
    }
    Ok(f.finish(format!("the host answers on the API port {port}")))
}

/// Judges one forwarded port: `required` false for nodePorts, which only
/// newer k3s releases forward.
fn judge(f: &mut Findings, who: &str, port: u16, answer: Probe<PortAnswer>, required: bool) {
    let hp = host_port(port);
    match answer {
        Probe::NotRun(why) => {
            f.observe(format!("{who} port {port} → host {hp}: {why}"));
            f.find(Status::Skip, format!("host port {hp} was not verified"));
        }
        Probe::Answer(a) => {
            f.observe(format!(
                "{who} port {port} → host 127.0.0.1:{hp}: {}",
                a.describe()
            ));
            if a.reached() {
                return;
            }
            let status = if required { Status::Fail } else { Status::Warn };
            let rule = if port <= 1024 {
                format!("{port} ≤ 1024, so {port} + 10000")
            } else {
                format!("{port} > 1024, so the same number")
            };
            f.find(
                status,
                format!("{who} port {port} is not reachable on host port {hp} ({rule})"),
            );
            f.remedy(format!("see whether k3s forwarded it: sudo ss -ltnp 'sport = :{hp}'   # k3s's rootlessports controller adds it through rootlesskit's api.sock; its errors are in the k3s-rootless journal"));
            if !required {
                f.remedy(
                    "nodePorts are forwarded by newer k3s releases only; use the LoadBalancer port"
                        .to_string(),
                );
            }
        }
    }
}

type TokenAnswer = Option<(Probe<Result<String, String>>, String)>;

/// Connects to host port `hp` and, once something accepts there, asks the
/// API server for the probe namespace through it; retries until the answer
/// carries this run's token or `patience` runs out (k3s adds a forward some
/// moments after servicelb set the ingress IP). The HTTP hello alone does
/// not decide: the API server speaks TLS, and its answer to a plain HEAD
/// may be a close.
fn probe_patiently(
    host: &Host,
    hp: u16,
    token: &str,
    patience: Duration,
) -> (Probe<PortAnswer>, TokenAnswer) {
    let deadline = Instant::now() + patience;
    loop {
        let answer = host.accept_probes().connect(hp);
        let asked = match &answer {
            Probe::NotRun(_) => return (answer, None),
            Probe::Answer(PortAnswer::Refused(_)) => None,
            Probe::Answer(_) => Some((host.accept_probes().token_via(hp), token.to_string())),
        };
        let done = matches!(&asked, Some((Probe::Answer(Ok(uid)), want)) if uid == want)
            || matches!(&asked, Some((Probe::NotRun(_), _)));
        if done || Instant::now() >= deadline {
            return (answer, asked);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The answer on a forwarded port must carry this run's token: the probe
/// namespace's uid, over TLS verified with the kubeconfig.
fn judge_token(
    f: &mut Findings,
    who: &str,
    port: u16,
    token: Option<(Probe<Result<String, String>>, String)>,
    required: bool,
) {
    let hp = host_port(port);
    let status = if required { Status::Fail } else { Status::Warn };
    match token {
        None => {}
        Some((Probe::NotRun(why), _)) => f.observe(format!(
            "{who} port {port} → host 127.0.0.1:{hp}: token not asked: {why}"
        )),
        Some((Probe::Answer(Ok(uid)), want)) if uid == want => f.observe(format!(
            "{who} port {port} → host 127.0.0.1:{hp}: the API server answered with this run's token (namespace uid {uid})"
        )),
        Some((Probe::Answer(Ok(uid)), want)) => {
            f.observe(format!(
                "{who} port {port} → host 127.0.0.1:{hp}: namespace uid {uid}, this run's is {want}"
            ));
            f.find(status, format!("host port {hp} answers, but not through this run's probe Service (another cluster's API server)"));
            f.remedy(format!("see what holds it: sudo ss -ltnp 'sport = :{hp}'"));
        }
        Some((Probe::Answer(Err(e)), _)) => {
            f.observe(format!("{who} port {port} → host 127.0.0.1:{hp}: {e}"));
            f.find(status, format!("host port {hp} answers, but not with this run's namespace uid (the answer did not come through the probe Service)"));
            f.remedy(format!("see what holds it: sudo ss -ltnp 'sport = :{hp}'   # k3s's forward leads to the probe Service, which answers as this cluster's API server"));
        }
    }
}

pub(crate) const OFFSET: Check = Check {
    id: "ports.offset",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "LoadBalancer ports reach the host at p + 10000 (p <= 1024) or p",
    fixed_by: None,
    run: offset,
    explain: "\
Verifies that every port p of every Service with an ingress IP (and its nodePort) answers on the host at p + 10000 when p <= 1024, else at p: passively for the services that exist (traefik's 80 -> 10080, 443 -> 10443; not expected when traefik is disabled by --disable or config.yaml's disable:), and actively with a probe: first the probe's host ports must be free (a port that already answers fails: its answer could not be told from the forward), then in a namespace krc-acceptance, a LoadBalancer Service with ports 81, 1024 and 8080 (no selector; an EndpointSlice leads it to the API server's endpoint from default/kubernetes, so no image is pulled), whose host ports 10081, 11024 and 8080 must answer, and answer with this run's token: through each one krc asks the API server (TLS verified with the kubeconfig's CA and client certificate; k3s's serving certificate names 127.0.0.1) for the probe namespace, whose uid is new each run. The namespace is always deleted afterwards, on failure and on Ctrl-C too. With servicelb disabled (--disable servicelb in the unit or disable: in config.yaml) k3s forwards exactly one port, the API port (k3s-io/k3s:pkg/rootlessports/controller.go watches services only when servicelb is enabled; servicelb, pkg/cloudprovider/servicelb.go, is what sets the ingress IP): then the check expects exactly that: the API port answers on the host, LoadBalancer services without an ingress IP (traefik's included) are expected, a service whose ingress IP another load balancer set is listed as not forwarded by k3s, and the active probe does not run. A connection counts when a server answers an HTTP HEAD (or keeps the connection open); a forward that accepts and closes has nothing behind it.

Why: this is the rootless limit users trip over: only LoadBalancer services (those with an ingress IP) reach the host, and low ports move. k3s's code moves ports up to and including 1024 (1024 -> 11024); its docs say \"below 1024\", so 1024 is where expectations and reality differ. nodePorts are forwarded by newer releases only (a miss warns).

Fix: `sudo ss -ltnp 'sport = :PORT'` shows whether the forward exists; k3s's rootlessports controller logs its errors in the k3s-rootless journal; a leftover probe namespace goes with `kubectl delete namespace krc-acceptance`.",
};

pub(super) fn offset(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let a = &ctx.params.accept;
    let mut f = Findings::default();
    let disabled = super::api::disabled_components(ctx.host)?;
    let off = |item: &str| {
        disabled
            .iter()
            .find(|(d, _)| d == item)
            .map(|(_, at)| at.clone())
    };
    if let Some(at) = off("servicelb") {
        return Ok(only_the_api_port(ctx, f, &at));
    }
    let traefik = a.traefik && off("traefik").is_none();
    if let Some(at) = off("traefik") {
        f.observe(format!("traefik: not deployed, k3s is told so: {at}"));
    }
    let passive = forwarded_services(ctx, &mut f, traefik);
    let mut verified = passive.unwrap_or(0);
    // With the API down the probe could only repeat the same error.
    let probe = !a.probe_ports.is_empty() && passive.is_some();
    if probe && probe_ports_free(ctx, &mut f) {
        verified += active_probe(ctx, &mut f);
    }
    if verified == 0 && f.status() == Status::Pass {
        f.find(Status::Skip, "no forwarded port was verified (no LoadBalancer service with an ingress IP, no active probe)");
    }
    Ok(f.finish("every LoadBalancer port p answers on host port p + 10000 when p ≤ 1024, else p"))
}

/// servicelb disabled: k3s's rootlessports controller then forwards the
/// API port and nothing else (k3s-io/k3s:pkg/rootlessports/controller.go
/// is registered with services off), and no Service gets an ingress IP
/// from servicelb. Exactly that is expected: the API port answers, and no
/// LoadBalancer service is held against k3s.
fn only_the_api_port(ctx: &Ctx<'_>, mut f: Findings, at: &str) -> Verdict {
    let host = ctx.host;
    let port = ctx.params.accept.api_port;
    f.observe(format!(
        "servicelb is disabled ({at}): k3s forwards only the API port {port} (k3s-io/k3s:pkg/rootlessports/controller.go); no LoadBalancer port is expected on the host, and the active probe does not run"
    ));
    match host.accept_probes().services() {
        Probe::NotRun(why) => f.observe(format!("services: {why}")),
        Probe::Answer(Err(e)) => {
            f.observe(e.clone());
            f.find(Status::Fail, "listing services failed");
            f.remedy(super::api::api_remedy(&e, host.user()));
            return f.finish("");
        }
        Probe::Answer(Ok(services)) => {
            for s in services.iter().filter(|s| s.kind == "LoadBalancer") {
                f.observe(if s.ingress_ips.is_empty() {
                    format!(
                        "service {}/{}: LoadBalancer without ingress IP: expected with servicelb disabled, not forwarded",
                        s.namespace, s.name
                    )
                } else {
                    format!(
                        "service {}/{}: ingress {} set by another load balancer: k3s does not forward it to the host with servicelb disabled",
                        s.namespace,
                        s.name,
                        s.ingress_ips.join(", ")
                    )
                });
            }
        }
    }
    match host.accept_probes().connect(port) {
        Probe::NotRun(why) => {
            f.observe(format!("API port {port} → host {port}: {why}"));
            f.find(
                Status::Skip,
                format!("the API port {port} was not verified on the host"),
            );
        }
        Probe::Answer(a) => {
            f.observe(format!(
                "API port {port} → host 127.0.0.1:{port}: {}",
                a.describe()
            ));
            if !a.reached() {
                f.find(
                    Status::Fail,
                    format!("the API port {port}, the one port k3s forwards with servicelb disabled, does not answer on the host"),
                );
                f.remedy(format!(
                    "sudo systemctl --user -M {}@ status k3s-rootless   # k3s forwards the API port itself through rootlesskit's api.sock",
                    host.user().name
                ));
            }
        }
    }
    f.finish(format!(
        "servicelb is disabled: only the API port {port} is forwarded, and it answers on the host"
    ))
}

/// The passive half: every LoadBalancer port already forwarded (an ingress
/// IP) must answer on its host port. The ports verified; None when the API
/// did not answer.
fn forwarded_services(ctx: &Ctx<'_>, f: &mut Findings, traefik: bool) -> Option<usize> {
    let host = ctx.host;
    let services = match host.accept_probes().services() {
        Probe::NotRun(why) => {
            f.observe(format!("services: {why}"));
            return Some(0);
        }
        Probe::Answer(Err(e)) => {
            f.observe(e.clone());
            f.find(Status::Fail, "listing services failed");
            f.remedy(super::api::api_remedy(&e, host.user()));
            return None;
        }
        Probe::Answer(Ok(services)) => services,
    };
    let forwarded: Vec<_> = services
        .iter()
        .filter(|s| !s.ingress_ips.is_empty())
        .collect();
    for s in services
        .iter()
        .filter(|s| s.kind == "LoadBalancer" && s.ingress_ips.is_empty())
    {
        f.observe(format!(
            "service {}/{}: LoadBalancer without ingress IP: not forwarded",
            s.namespace, s.name
        ));
    }
    if traefik
        && !forwarded
            .iter()
            .any(|s| s.namespace == "kube-system" && s.name == "traefik")
    {
        f.find(Status::Fail, "traefik's LoadBalancer service has no ingress IP: 80 and 443 are not forwarded to 10080 and 10443");
        f.remedy(format!("{} -n kube-system get svc traefik -o wide   # servicelb sets the ingress IP; is it disabled?", super::api::kubectl(ctx)));
    }
    let mut verified = 0;
    for s in forwarded {
        let who = format!(
            "service {}/{} (ingress {})",
            s.namespace,
            s.name,
            s.ingress_ips.join(", ")
        );
        for p in &s.ports {
            if p.protocol != "TCP" {
                f.observe(format!("{who} port {}/{}: not probed (TCP only; k3s forwards UDP only in late-2025 releases)", p.port, p.protocol));
                continue;
            }
            judge(
                f,
                &who,
                p.port,
                host.accept_probes().connect(host_port(p.port)),
                true,
            );
            verified += 1;
            if let Some(np) = p.node_port {
                judge(
                    f,
                    &format!("{who} nodePort"),
                    np,
                    host.accept_probes().connect(host_port(np)),
                    false,
                );
            }
        }
    }
    Some(verified)
}

/// A host port that answers before the probe Service exists would be taken
/// for the forward: the answer must be the probe's. Whether all are free.
fn probe_ports_free(ctx: &Ctx<'_>, f: &mut Findings) -> bool {
    let mut free = true;
    for p in &ctx.params.accept.probe_ports {
        let hp = host_port(*p);
        match ctx.host.accept_probes().connect(hp) {
            Probe::Answer(ans) if ans.reached() => {
                f.observe(format!(
                    "before the probe: host 127.0.0.1:{hp}: {}",
                    ans.describe()
                ));
                f.find(
                    Status::Fail,
                    format!("host port {hp} already answers before the probe Service exists: the probe's port {p} cannot be told apart from what listens there"),
                );
                f.remedy(format!("see what holds it: sudo ss -ltnp 'sport = :{hp}'   # stop it, or leave {p} out of the suite's probe_ports"));
                free = false;
            }
            Probe::Answer(ans) => f.observe(format!(
                "before the probe: host 127.0.0.1:{hp}: {} (free)",
                ans.describe()
            )),
            Probe::NotRun(_) => {}
        }
    }
    free
}

/// One port the active probe tried: who, the service port, the plain
/// answer, whether it counts, and the token it returned.
type ProbeResult = (String, u16, Probe<PortAnswer>, bool, TokenAnswer);

/// The active half: the probe Service's ports must reach this run's
/// namespace uid through their host ports. The ports verified.
fn active_probe(ctx: &Ctx<'_>, f: &mut Findings) -> usize {
    let host = ctx.host;
    let a = &ctx.params.accept;
    let timeout = Duration::from_secs(a.timeout_secs);
    let patience = Duration::from_secs(a.timeout_secs.min(20));
    let mut results: Vec<ProbeResult> = Vec::new();
    let run = host
        .accept_probes()
        .with_probe_service(&a.probe_ports, timeout, &mut |svc| {
            for (port, node_port) in &svc.ports {
                let (answer, token) = probe_patiently(host, host_port(*port), &svc.token, patience);
                results.push(("probe service".to_string(), *port, answer, true, token));
                if let Some(np) = node_port {
                    let (answer, token) =
                        probe_patiently(host, host_port(*np), &svc.token, Duration::ZERO);
                    results.push((
                        "probe service nodePort".to_string(),
                        *np,
                        answer,
                        false,
                        token,
                    ));
                }
            }
        });
    let run = match run {
        Probe::NotRun(why) => {
            f.observe(format!("active probe: {why}"));
            return 0;
        }
        Probe::Answer(run) => run,
    };
    for s in &run.steps {
        f.observe(format!("active probe: {s}"));
    }
    if let Some(e) = &run.error {
        f.observe(format!("active probe: {e}"));
        f.find(Status::Fail, format!("the active probe could not run: {e}"));
        f.remedy(super::api::api_remedy(e, host.user()));
    }
    let mut verified = 0;
    for (who, port, answer, required, token) in results {
        verified += usize::from(required);
        let proven = matches!(&token, Some((Probe::Answer(Ok(uid)), want)) if uid == want);
        let reached = matches!(&answer, Probe::Answer(a) if a.reached());
        if proven {
            // This run's token came back through the port: the forward is
            // the probe's, whatever a plain HEAD got.
            let hp = host_port(port);
            if let Probe::Answer(a) = &answer {
                f.observe(format!(
                    "{who} port {port} → host 127.0.0.1:{hp}: {}",
                    a.describe()
                ));
            }
        } else {
            judge(f, &who, port, answer, required);
        }
        if proven || reached {
            judge_token(f, &who, port, token, required);
        }
    }
    if let Err(e) = &run.cleanup {
        f.find(
            Status::Fail,
            format!("the probe namespace was not deleted: {e}"),
        );
        f.remedy(format!(
            "{} delete namespace krc-acceptance",
            super::api::kubectl(ctx)
        ));
    }
    verified
}
