//! The user unit and krc's drop-in. The unit carries the directives of
//! upstream's `k3s-rootless.service` (k3s-io/k3s, read for K3S-FACTS.md);
//! upstream ships no `K3S_ROOTLESS_*` lines, so krc puts them, and the PATH
//! k3s needs, in a drop-in of its own.

use crate::host::UNIT_PATH;
use crate::layout::UNIT;
use crate::settings::{K3S_NETWORKS, RootlessSettings};

/// Where k3s goes: `/usr/local/bin`, as upstream's install.sh puts it,
/// unless that is read-only and `/opt/bin` exists (install.sh's own
/// fallback, k3s-io/k3s:install.sh `setup_env`), or k3s is already in
/// `/opt/bin` only.
pub(crate) fn k3s_bin_dir(fs: &crate::install::fsops::TreeFs) -> &'static str {
    const USUAL: &str = "/usr/local/bin";
    const FALLBACK: &str = "/opt/bin";
    if fs.exists(&format!("{USUAL}/k3s")) {
        return USUAL;
    }
    let read_only = nix::sys::statvfs::statvfs(&fs.path("/usr/local"))
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    if fs.exists(&format!("{FALLBACK}/k3s"))
        || (read_only && fs.meta(FALLBACK).is_some_and(|(k, _)| k.is_dir()))
    {
        FALLBACK
    } else {
        USUAL
    }
}

pub(crate) fn unit(k3s_bin: &str) -> String {
    format!(
        "# Rootless k3s, written by krc install (directives of upstream's k3s-rootless.service).
# krc uninstall removes it; settings live in {UNIT}.d/krc.conf.
[Unit]
Description=k3s (Rootless)

[Service]
Environment=PATH={UNIT_PATH}
ExecStart={k3s_bin} server --rootless --snapshotter=fuse-overlayfs
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
Type=simple
KillMode=mixed

[Install]
WantedBy=default.target
"
    )
}

pub(crate) fn drop_in(r: &RootlessSettings, proxy: &[(String, String)]) -> String {
    let mut text = format!(
        "# Written by krc install; krc uninstall removes it. Change with
# `krc install --port-driver/--cidr/--mtu/--disable-host-loopback`.
[Service]
Environment=PATH={UNIT_PATH}
Environment=K3S_ROOTLESS_PORT_DRIVER={}
Environment=K3S_ROOTLESS_CIDR={}
Environment=K3S_ROOTLESS_MTU={}
Environment=K3S_ROOTLESS_DISABLE_HOST_LOOPBACK={}
",
        r.port_driver, r.cidr, r.mtu, r.disable_host_loopback
    );
    if !proxy.is_empty() {
        text.push_str(
            "# The host's proxy (/etc/environment), so k3s can pull images; NO_PROXY keeps\n# the rootless, pod and service networks and the node itself direct.\n",
        );
        for (k, v) in proxy {
            text.push_str(&format!("Environment=\"{k}={}\"\n", systemd_escape(v)));
        }
    }
    text
}

/// A value inside `Environment="..."`: systemd takes C-style escapes in
/// quotes and expands `%` specifiers.
fn systemd_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
}

const PROXY_KEYS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

/// The proxy settings k3s needs in its unit: `HTTP_PROXY`, `HTTPS_PROXY`
/// and `NO_PROXY` from the host's `/etc/environment` (any case), else from
/// krc's own environment; none when no proxy is set. `NO_PROXY` gains the
/// addresses that must never go through a proxy: loopback, the rootless
/// CIDR and k3s's pod and service networks.
pub(crate) fn host_proxy(host: &crate::host::Host, r: &RootlessSettings) -> Vec<(String, String)> {
    let text = host
        .read_opt("/etc/environment")
        .ok()
        .flatten()
        .unwrap_or_default();
    let from_file = |key: &str| {
        text.lines().rev().find_map(|l| {
            let l = l.trim().trim_start_matches("export ").trim_start();
            let (k, v) = l.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
        })
    };
    let get = |key: &str| {
        from_file(key)
            .or_else(|| std::env::var(key).ok())
            .or_else(|| std::env::var(key.to_ascii_lowercase()).ok())
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
    };
    let mut out: Vec<(String, String)> = PROXY_KEYS[..2]
        .iter()
        .filter_map(|k| get(k).map(|v| (k.to_string(), v)))
        .collect();
    if out.is_empty() {
        return out;
    }
    let mut no: Vec<String> = get(PROXY_KEYS[2])
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut must: Vec<String> = ["127.0.0.1", "localhost", "::1"].map(String::from).to_vec();
    must.push(r.cidr.to_string());
    must.extend(K3S_NETWORKS.iter().map(|(c, _)| c.to_string()));
    must.extend([".svc", ".cluster.local"].map(String::from));
    for m in must {
        if !no.contains(&m) {
            no.push(m);
        }
    }
    out.push((PROXY_KEYS[2].to_string(), no.join(",")));
    out
}

pub(crate) fn delegate_drop_in() -> String {
    "# Written by krc install: rootless k3s needs these controllers delegated.
# krc uninstall removes it.
[Service]
Delegate=cpu cpuset io memory pids
"
    .to_string()
}
