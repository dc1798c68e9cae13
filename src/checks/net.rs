//! Rootless networking: `net.tun`, `net.slirp4netns`, `net.cidr`, and
//! `net.proxy`: a host behind an HTTP proxy pulls no image unless k3s gets
//! the proxy in its own environment. krc's installer carries
//! `HTTP_PROXY`/`HTTPS_PROXY` from /etc/environment into the unit's
//! drop-in, with the rootless, pod and service networks in `NO_PROXY`.

use std::net::Ipv4Addr;

use super::unit::{environment, read_unit};
use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::net::{Cidr, Route, parse_local_addrs, parse_routes};
use crate::host::{FactError, Probe};

pub(crate) const TUN: Check = Check {
    id: "net.tun",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "/dev/net/tun is usable by the user",
    fixed_by: None,
    run: tun,
    explain: "\
Verifies that /dev/net/tun is the character device 10:200 and that the user may open it read-write (by its owner, group and mode bits).

Why: slirp4netns gives the rootless network namespace its connection to the outside through a TAP device created from /dev/net/tun. When the user cannot open it, k3s fails with \"failed to setup network ...: setting up tap tap0: executing [[nsenter ... ip tuntap add name tap0 mode tap] ...]: exit status 1\" (RootlessKit: \"open: Permission denied\"). Most distributions ship it 0666; some hardened or container hosts ship 0600.

Fix: `sudo chmod 0666 /dev/net/tun`, and keep it across reboots with a udev rule: `echo 'KERNEL==\"tun\", MODE=\"0666\"' | sudo tee /etc/udev/rules.d/60-krc-tun.rules`. If it is missing: `sudo modprobe tun`.",
};

pub(super) fn tun(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let mut f = Findings::default();
    super::fs::device(ctx.host, &mut f, "/dev/net/tun", (10, 200), "0666")?;
    Ok(f.finish(format!(
        "{} can open /dev/net/tun read-write",
        ctx.host.user().name
    )))
}

const SLIRP_MIN: (u32, u32, u32) = (0, 4, 0);

/// `slirp4netns version 1.2.0` → (1, 2, 0).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    text.split_whitespace().find_map(|w| {
        let w = w.trim_start_matches('v');
        let mut it = w.split(['.', '+', '-']).map(|p| p.parse::<u32>());
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Some((a, b, c)),
            (Some(Ok(a)), Some(Ok(b)), _) if w.contains('.') => Some((a, b, 0)),
            _ => None,
        }
    })
}

pub(crate) const SLIRP4NETNS: Check = Check {
    id: "net.slirp4netns",
    phase: Phase::Preflight,
    severity: Severity::Advisory,
    title: "slirp4netns >= 0.4.0 is on PATH",
    fixed_by: Some("packages"),
    run: slirp4netns,
    explain: "\
Verifies that slirp4netns is on the unit's PATH and reports version 0.4.0 or newer. Advisory: official k3s release binaries bundle their own.

Why: with K3S_ROOTLESS_PORT_DRIVER=slirp4netns (the reference procedure) and for the network itself, k3s runs slirp4netns; a distribution build of k3s without the bundled copy fails with `exec: \"slirp4netns\": executable file not found in $PATH`, and an old one with \"slirp4netns seems older than v0.4.0\".

Fix: `sudo apt-get install -y slirp4netns` (Fedora/RHEL: `sudo dnf install -y slirp4netns`).",
};

pub(super) fn slirp4netns(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let remedy = "sudo apt-get install -y slirp4netns   # Fedora/RHEL: sudo dnf install -y slirp4netns\n(official k3s release binaries bundle one; distribution builds may not)";
    let Some(path) = host.which("slirp4netns") else {
        return Ok(Verdict::fail("slirp4netns is not on PATH: k3s fails with `exec: \"slirp4netns\": executable file not found in $PATH` unless its binary bundles one")
            .evidence(format!("slirp4netns: not found on PATH ({})", crate::host::UNIT_PATH))
            .remedy(remedy));
    };
    match host.probes().version(&path) {
        Probe::NotRun(reason) => Ok(Verdict::skip(format!(
            "{path} is present; its version was not asked (live probe not run)"
        ))
        .evidence(format!("slirp4netns: {path}"))
        .evidence(reason)),
        Probe::Answer(Err(e)) => Ok(Verdict::fail(format!("{path} --version failed"))
            .evidence(format!("{path} --version: {e}"))
            .remedy(remedy)),
        Probe::Answer(Ok(line)) => {
            let seen = format!("{path} --version: {line}");
            match parse_version(&line) {
                Some(v) if v >= SLIRP_MIN => Ok(Verdict::pass(format!(
                    "slirp4netns {}.{}.{}",
                    v.0, v.1, v.2
                ))
                .evidence(seen)),
                Some(v) => Ok(Verdict::fail(format!(
                    "slirp4netns {}.{}.{} is older than 0.4.0",
                    v.0, v.1, v.2
                ))
                .evidence(seen)
                .remedy(remedy)),
                None => Ok(
                    Verdict::fail("could not read a version from slirp4netns --version")
                        .evidence(seen)
                        .remedy(remedy),
                ),
            }
        }
    }
}

const ROUTES: &str = "/proc/net/route";
const FIB_TRIE: &str = "/proc/net/fib_trie";

pub(crate) const CIDR: Check = Check {
    id: "net.cidr",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the k3s networks do not collide with host routes",
    fixed_by: None,
    run: cidr,
    explain: "\
Verifies that no IPv4 route of the host (/proc/net/route) and no local address (/proc/net/fib_trie) falls inside the networks rootless k3s uses: 10.41.0.0/16 (K3S_ROOTLESS_CIDR, the node is 10.41.0.100), 10.42.0.0/16 (pods) and 10.43.0.0/16 (services). Each is a warning, never an install blocker. The rootless network is the install's `--cidr` (give krc preflight the same flag, or set the suite's rootless_cidr); cluster_cidrs names the others.

Why: k3s rejects a rootless CIDR only when it has host bits (k3s-io/k3s:pkg/rootless/rootless.go: K3S_ROOTLESS_CIDR, default 10.41.0.0/16, gateway .2, DNS .3, node .100); a host route or address inside it does not stop k3s. Its effect is that pods and k3s cannot reach that part of the host's network (a VPN's 10.41.0.0/16, say): inside the namespace those addresses are slirp4netns's own. The pod and service networks live inside the rootless namespace too and never touch the host's routing table; a host route there only makes those host addresses unreachable from pods (a rootful k3s's flannel route on 10.42.0.0/24 is the usual one). The remedy names a rootless network no host route or address touches.

Fix: if pods must reach those host addresses, choose other networks: `krc install --cidr 10.141.0.0/16` (the remedy names one that is free here) sets K3S_ROOTLESS_CIDR, and k3s's --cluster-cidr and --service-cidr move pods and services; or renumber the host network.",
};

pub(super) fn cidr(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    let route_text = host.read(ROUTES)?;
    let routes = parse_routes(&route_text, ROUTES)?;
    let addrs = host
        .read_opt(FIB_TRIE)?
        .map(|t| parse_local_addrs(&t))
        .unwrap_or_default();
    // The first CIDR is the rootless network (K3S_ROOTLESS_CIDR): slirp4netns
    // owns it and a host network there is unreachable from k3s. The others
    // are k3s's pod and service networks, which live inside the rootless
    // namespace: a host route there only shadows those host addresses from
    // pods, so it warns.
    let networks = ctx.params.networks();
    // Which networks a host route or address falls inside.
    let mut hits = vec![false; networks.len()];
    for (i, net) in networks.iter().enumerate() {
        // Neither stops k3s (k3s-io/k3s:pkg/rootless/rootless.go rejects a
        // CIDR only for host bits): the rootless network's addresses then
        // shadow that part of the host's network for pods, so both warn.
        let (level, whose) = if i == 0 {
            (Status::Warn, "the rootless network")
        } else {
            (Status::Warn, "k3s's pod/service network")
        };
        for r in routes
            .iter()
            .filter(|r| r.dest.prefix >= net.prefix && net.contains(r.dest.addr))
        {
            let line = route_text.lines().nth(r.line - 1).unwrap_or("").trim();
            f.observe(at(
                ROUTES,
                r.line,
                &format!("{} via {} ({line})", r.dest, r.iface),
            ));
            hits[i] = true;
            f.find(
                level,
                format!(
                    "the host routes {} on {}, inside {whose} {net}",
                    r.dest, r.iface
                ),
            );
        }
        for a in addrs.iter().filter(|a| net.contains(**a)) {
            f.observe(format!("{FIB_TRIE}: local address {a}"));
            hits[i] = true;
            f.find(
                level,
                format!("the host has the address {a}, inside {whose} {net}"),
            );
        }
    }
    if hits[0] {
        f.remedy(format!(
            "pods cannot reach that part of the host's network; to let them, give k3s a free rootless network: krc install --cidr {} (K3S_ROOTLESS_CIDR); or move the host network off it",
            free_network(&routes, &addrs, &networks)
        ));
    }
    if hits[1..].iter().any(|h| *h) {
        f.remedy("pods cannot reach these host addresses: if they must, give k3s other pod and service networks (k3s server --cluster-cidr 10.142.0.0/16 --service-cidr 10.143.0.0/16, e.g. in /etc/rancher/k3s/config.yaml)");
    }
    f.observe(format!(
        "checked {} routes and {} local addresses against {}",
        routes.len(),
        addrs.len(),
        networks
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(f.finish("no host route or address falls inside the k3s networks"))
}

/// A rootless network to suggest: the first of a few private /16s that
/// no host route or address falls inside and that is none of `taken`, so
/// that following the remedy passes this check.
fn free_network(routes: &[Route], addrs: &[Ipv4Addr], taken: &[Cidr]) -> Cidr {
    let candidates = [141u8, 241, 44, 45, 46, 47, 48, 49]
        .into_iter()
        .map(|b| Cidr {
            addr: Ipv4Addr::new(10, b, 0, 0),
            prefix: 16,
        })
        .chain((16u8..32).rev().map(|b| Cidr {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        }));
    let mut first = None;
    for c in candidates {
        first.get_or_insert(c);
        let routed = routes
            .iter()
            .any(|r| r.dest.prefix >= c.prefix && c.contains(r.dest.addr));
        let local = addrs.iter().any(|a| c.contains(*a));
        if !routed && !local && !taken.contains(&c) {
            return c;
        }
    }
    first.expect("candidates are not empty")
}

const ENV_FILE: &str = "/etc/environment";
const POD_CIDR: &str = "10.42.0.0/16";
const SERVICE_CIDR: &str = "10.43.0.0/16";

/// `KEY=value` lines of /etc/environment whose key is one of `keys` (any
/// case), with a non-empty value: (KEY uppercased, value, line, raw).
fn env_file(text: &str, keys: &[&str]) -> Vec<(String, String, usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_uppercase();
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        if keys.contains(&k.as_str()) && !v.is_empty() {
            out.push((k, v, i + 1, raw.trim().to_string()));
        }
    }
    out
}

pub(crate) const PROXY: Check = Check {
    id: "net.proxy",
    phase: Phase::Preflight,
    severity: Severity::Advisory,
    title: "a host HTTP proxy reaches k3s through krc's drop-in, with the cluster networks in NO_PROXY",
    fixed_by: Some("user-unit"),
    run: proxy,
    explain: "\
Looks for HTTP_PROXY and HTTPS_PROXY (any case) in /etc/environment. None: pass. One or more: the rootless unit (~/.config/systemd/user/k3s-rootless.service or its drop-ins, krc's is k3s-rootless.service.d/krc.conf) must set the same variables, and NO_PROXY there must hold the rootless network (K3S_ROOTLESS_CIDR, 10.41.0.0/16 by default), the pod network 10.42.0.0/16 and the service network 10.43.0.0/16; otherwise it warns. Advisory.

Why: a user unit gets the user manager's environment plus its own Environment= lines, not /etc/environment's login settings, and containerd inside k3s pulls through whatever proxy the k3s process has. The upstream unit (k3s-io/k3s:k3s-rootless.service) sets none, and install.sh copies the proxy variables only into the rootful unit's env file (k3s-io/k3s:install.sh), so a rootless k3s on a proxied host pulls no image (pods stay in ImagePullBackOff). Without the cluster networks in NO_PROXY, calls to the node (10.41.0.100), pods and services go to the proxy and fail.

Fix: `sudo krc install --user USER` writes them into the drop-in (Environment=\"HTTPS_PROXY=...\", Environment=\"NO_PROXY=...,10.41.0.0/16,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local\"), or add those lines by hand, then `sudo systemctl --user -M USER@ daemon-reload` and restart k3s-rootless.",
};

pub(super) fn proxy(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let text = host.read_opt(ENV_FILE)?.unwrap_or_default();
    crate::host::plain_text(&text, ENV_FILE)?;
    let proxies = env_file(&text, &["HTTP_PROXY", "HTTPS_PROXY"]);
    if proxies.is_empty() {
        return Ok(Verdict::pass(format!(
            "no HTTP_PROXY or HTTPS_PROXY in {ENV_FILE}: k3s pulls images directly"
        ))
        .evidence(format!("{ENV_FILE}: no HTTP_PROXY, HTTPS_PROXY (any case)")));
    }
    let mut f = Findings::default();
    for (_, _, line, raw) in &proxies {
        f.observe(super::at(ENV_FILE, *line, raw));
    }
    let unit = read_unit(host)?;
    let path = super::unit::unit_path(u);
    let drop_in = crate::layout::drop_in_path(&u.home);
    let lines: Vec<_> = match &unit {
        Some((main, drop)) => main.iter().chain(drop).cloned().collect(),
        None => {
            f.observe(format!("{path}: does not exist (not installed yet)"));
            Vec::new()
        }
    };
    let env = environment(&lines);
    let get = |k: &str| {
        env.iter()
            .rfind(|(name, v, _)| name.eq_ignore_ascii_case(k) && !v.is_empty())
    };
    // The unit's own network when it names one, else the one this run
    // judges by (the install's --cidr, or the suite's rootless_cidr).
    let cidr = get("K3S_ROOTLESS_CIDR")
        .map_or(ctx.params.rootless.cidr.to_string(), |(_, v, _)| v.clone());
    let mut missing = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (k, _, _, _) in &proxies {
        if seen.contains(&k.as_str()) {
            continue;
        }
        seen.push(k);
        match get(k) {
            Some((_, _, l)) => f.observe(l.at()),
            None => missing.push(k.clone()),
        }
    }
    let no_proxy = get("NO_PROXY");
    let needed = [cidr.as_str(), POD_CIDR, SERVICE_CIDR];
    let no_missing: Vec<&str> = match no_proxy {
        Some((_, v, l)) => {
            f.observe(l.at());
            let have: Vec<&str> = v.split(',').map(str::trim).collect();
            needed.into_iter().filter(|n| !have.contains(n)).collect()
        }
        None => needed.to_vec(),
    };
    let reload = format!(
        "sudo systemctl --user -M {}@ daemon-reload && sudo systemctl --user -M {}@ restart k3s-rootless",
        u.name, u.name
    );
    let lines_remedy = || {
        let mut r = format!(
            "sudo krc install --user {}   # carries the host's proxy into {drop_in}\nor add to [Service] of {drop_in}:\n",
            u.name
        );
        for (k, v, _, _) in &proxies {
            r.push_str(&format!("Environment=\"{k}={v}\"\n"));
        }
        r.push_str(&format!(
            "Environment=\"NO_PROXY=127.0.0.1,localhost,::1,{cidr},{POD_CIDR},{SERVICE_CIDR},.svc,.cluster.local\"\nthen: {reload}"
        ));
        r
    };
    if !missing.is_empty() {
        f.find(
            Status::Warn,
            format!(
                "the host uses a proxy ({ENV_FILE}) but k3s's unit does not carry {}: k3s runs with the unit's environment only, so image pulls fail",
                missing.join(", ")
            ),
        );
        f.remedy(lines_remedy());
    } else if !no_missing.is_empty() {
        f.find(
            Status::Warn,
            format!(
                "NO_PROXY of k3s's unit lacks {}: traffic to the node, pods and services would go to the proxy",
                no_missing.join(", ")
            ),
        );
        f.remedy(lines_remedy());
    }
    Ok(f.finish(format!(
        "the host's proxy reaches k3s through its unit, with {cidr}, {POD_CIDR} and {SERVICE_CIDR} in NO_PROXY"
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(
            super::parse_version("slirp4netns version 1.2.0"),
            Some((1, 2, 0))
        );
        assert_eq!(
            super::parse_version("slirp4netns version 0.3.0-beta.1"),
            Some((0, 3, 0))
        );
        assert_eq!(super::parse_version("nonsense"), None);
    }
}
