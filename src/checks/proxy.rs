//! `net.proxy`: a host behind an HTTP proxy pulls no image unless k3s gets
//! the proxy in its own environment. krc's installer carries
//! `HTTP_PROXY`/`HTTPS_PROXY` from /etc/environment into the unit's
//! drop-in, with the rootless, pod and service networks in `NO_PROXY`.

use super::unit::{environment, read_unit};
use super::{Ctx, Findings, Status, Verdict};
use crate::host::FactError;

const ENV_FILE: &str = "/etc/environment";
const POD_CIDR: &str = "10.42.0.0/16";
const SERVICE_CIDR: &str = "10.43.0.0/16";
const ROOTLESS_CIDR: &str = "10.41.0.0/16";

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
    let drop_in = format!("{path}.d/krc.conf");
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
    let cidr = get("K3S_ROOTLESS_CIDR").map_or(ROOTLESS_CIDR.to_string(), |(_, v, _)| v.clone());
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

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const proxy: &str = "\
Looks for HTTP_PROXY and HTTPS_PROXY (any case) in /etc/environment. None: pass. One or more: the rootless unit (~/.config/systemd/user/k3s-rootless.service or its drop-ins, krc's is k3s-rootless.service.d/krc.conf) must set the same variables, and NO_PROXY there must hold the rootless network (K3S_ROOTLESS_CIDR, 10.41.0.0/16 by default), the pod network 10.42.0.0/16 and the service network 10.43.0.0/16; otherwise it warns. Advisory.

Why: a user unit gets the user manager's environment plus its own Environment= lines, not /etc/environment's login settings, and containerd inside k3s pulls through whatever proxy the k3s process has. The upstream unit (k3s-io/k3s:k3s-rootless.service) sets none, and install.sh copies the proxy variables only into the rootful unit's env file (k3s-io/k3s:install.sh), so a rootless k3s on a proxied host pulls no image (pods stay in ImagePullBackOff). Without the cluster networks in NO_PROXY, calls to the node (10.41.0.100), pods and services go to the proxy and fail.

Fix: `sudo krc install --user USER` writes them into the drop-in (Environment=\"HTTPS_PROXY=...\", Environment=\"NO_PROXY=...,10.41.0.0/16,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local\"), or add those lines by hand, then `sudo systemctl --user -M USER@ daemon-reload` and restart k3s-rootless.";
}
