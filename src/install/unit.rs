//! The user unit and krc's drop-in. The unit is built from upstream's
//! `k3s-rootless.service` of the pinned tag, fetched and verified like
//! the binary (upstream: use the same version of the unit and k3s);
//! upstream ships no `K3S_ROOTLESS_*` lines, so krc puts them, and the
//! PATH k3s needs, in a drop-in of its own.

use crate::host::UNIT_PATH;
use crate::install::fetch::FetchError;
use crate::install::fsops::sha256_hex;
use crate::install::options::ProxyFlags;
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

/// The first line of the unit krc writes: where its directives came from.
const FROM: &str = "# Rootless k3s, written by krc install from k3s-rootless.service of k3s ";

/// The user unit: upstream's `k3s-rootless.service` of the pinned tag
/// (`upstream`, verified like every artifact), its directives kept as
/// they are but for what krc must rewrite: `ExecStart`'s binary is the
/// one krc installs, and `Environment=PATH=` is the PATH krc's drop-in
/// sets too (k3s-root's tools first). Comments are left out; the first
/// line records the tag and the upstream file's sha256, so a later run
/// knows which unit is installed without fetching it again.
pub(crate) fn render(upstream: &[u8], k3s_bin: &str, tag: &str) -> Result<String, FetchError> {
    let bad = |reason: &str| FetchError::UnitUnusable {
        tag: tag.to_string(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(upstream).map_err(|_| bad("it is not UTF-8 text"))?;
    let mut out = format!(
        "{FROM}{tag} (sha256 {}).\n# krc uninstall removes it; settings live in {UNIT}.d/krc.conf.\n",
        sha256_hex(upstream)
    );
    let (mut service, mut exec) = (false, 0);
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            service = t == "[Service]";
        }
        if let Some(cmd) = t.strip_prefix("ExecStart=").filter(|_| service) {
            let (binary, args) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
            if !binary.ends_with("/k3s") || !args.split_whitespace().any(|a| a == "--rootless") {
                return Err(bad("its ExecStart does not run k3s with --rootless"));
            }
            exec += 1;
            out.push_str(&format!("ExecStart={k3s_bin} {}\n", args.trim()));
        } else if t.starts_with("Environment=PATH=") && service {
            out.push_str(&format!("Environment=PATH={UNIT_PATH}\n"));
        } else {
            out.push_str(t);
            out.push('\n');
        }
    }
    if exec != 1 {
        return Err(bad("it has no single ExecStart in [Service]"));
    }
    Ok(out)
}

/// The tag and upstream sha256 a unit krc wrote records, and the binary
/// its `ExecStart` runs.
pub(crate) fn recorded(text: &str) -> Option<(String, String, String)> {
    let first = text.lines().next()?.strip_prefix(FROM)?;
    let (tag, rest) = first.split_once(" (sha256 ")?;
    let sum = rest.strip_suffix(").")?;
    let bin = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))?
        .split_whitespace()
        .next()?;
    Some((tag.to_string(), sum.to_string(), bin.to_string()))
}

/// One proxy setting of the drop-in and where it came from, said in the
/// drop-in's comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxySetting {
    pub(crate) key: &'static str,
    pub(crate) value: String,
    pub(crate) from: String,
}

/// Does a proxy URL carry a user name or password (`http://u:p@host`)?
pub(crate) fn has_userinfo(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .is_some_and(|authority| authority.contains('@'))
}

/// Does the drop-in carry a proxy password? Then it is written 0600, so
/// only its owner (the user's manager reads it as the user) sees it.
pub(crate) fn carries_credentials(proxy: &[ProxySetting]) -> bool {
    proxy.iter().any(|p| has_userinfo(&p.value))
}

pub(crate) fn drop_in(r: &RootlessSettings, proxy: &[ProxySetting]) -> String {
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
            "# The proxy k3s pulls images through (a user unit does not read /etc/environment).\n",
        );
        if carries_credentials(proxy) {
            text.push_str(
                "# A proxy URL here carries a password: krc writes this file mode 0600.\n",
            );
        }
        for p in proxy {
            text.push_str(&format!("# {}: {}\n", p.key, p.from));
            text.push_str(&format!(
                "Environment=\"{}={}\"\n",
                p.key,
                systemd_escape(&p.value)
            ));
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

const ENV_FILE: &str = "/etc/environment";

/// A variable of /etc/environment (any case; the last one wins), as
/// (value, the name as written).
fn from_env_file(text: &str, key: &str) -> Option<(String, String)> {
    text.lines().rev().find_map(|l| {
        let l = l.trim().trim_start_matches("export ").trim_start();
        let (k, v) = l.split_once('=')?;
        let k = k.trim();
        k.eq_ignore_ascii_case(key).then(|| {
            (
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
                k.to_string(),
            )
        })
    })
}

/// The proxy settings k3s needs in its unit: `HTTP_PROXY`, `HTTPS_PROXY`
/// and `NO_PROXY` from the install's flags, else from the host's
/// `/etc/environment` (any case); none when no proxy is set. Never from
/// krc's own environment: that is root's (a `sudo` keeps root's proxy and
/// its password), not the user's. `NO_PROXY` gains the addresses that
/// must never go through a proxy: loopback, the rootless CIDR and k3s's
/// pod and service networks.
pub(crate) fn host_proxy(
    host: &crate::host::Host,
    r: &RootlessSettings,
    flags: &ProxyFlags,
) -> Vec<ProxySetting> {
    let text = host.read_opt(ENV_FILE).ok().flatten().unwrap_or_default();
    let get = |key: &'static str, flag: (&str, &Option<String>)| {
        let found = match flag.1 {
            Some(v) => Some((v.clone(), format!("krc install {}", flag.0))),
            None => from_env_file(&text, key).map(|(v, k)| (v, format!("{ENV_FILE} ({k})"))),
        };
        found
            .filter(|(v, _)| !v.is_empty() && !v.chars().any(char::is_control))
            .map(|(value, from)| ProxySetting { key, value, from })
    };
    let mut out: Vec<ProxySetting> = [
        get("HTTP_PROXY", ("--http-proxy", &flags.http)),
        get("HTTPS_PROXY", ("--https-proxy", &flags.https)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if out.is_empty() {
        return out;
    }
    let given = get("NO_PROXY", ("--no-proxy", &flags.no));
    let mut no: Vec<String> = given
        .as_ref()
        .map(|g| g.value.as_str())
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
    let added =
        "loopback, the rootless, pod and service networks and .svc, .cluster.local (krc adds them)";
    out.push(ProxySetting {
        key: "NO_PROXY",
        value: no.join(","),
        from: match given {
            Some(g) => format!("{}, plus {added}", g.from),
            None => added.to_string(),
        },
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "# a comment\n[Unit]\nDescription=k3s (Rootless)\n\n[Service]\nEnvironment=PATH=/usr/bin:/bin\nExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs\nDelegate=yes\n\n[Install]\nWantedBy=default.target\n";

    #[test]
    fn the_unit_keeps_upstream_directives_and_runs_krcs_binary() {
        let u = render(UPSTREAM.as_bytes(), "/opt/bin/k3s", "v1.33.5+k3s1").unwrap();
        assert!(
            u.contains("\nExecStart=/opt/bin/k3s server --rootless --snapshotter=fuse-overlayfs\n")
                && u.contains(&format!("\nEnvironment=PATH={UNIT_PATH}\n"))
                && u.contains("\nDelegate=yes\n\n[Install]\nWantedBy=default.target\n")
                && !u.contains("a comment"),
            "{u}"
        );
        let (tag, sum, bin) = recorded(&u).unwrap();
        assert_eq!(
            (tag.as_str(), sum, bin.as_str()),
            (
                "v1.33.5+k3s1",
                sha256_hex(UPSTREAM.as_bytes()),
                "/opt/bin/k3s"
            )
        );
        for bad in [
            UPSTREAM.replace(" --rootless", ""),
            UPSTREAM.replace("ExecStart=", "ExecStartPre="),
            UPSTREAM.replace(
                "Delegate=yes",
                "ExecStart=/usr/local/bin/k3s server --rootless",
            ),
        ] {
            let e = render(bad.as_bytes(), "/opt/bin/k3s", "v1")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("of k3s v1 cannot be used") && e.lines().count() == 1,
                "{e}"
            );
        }
    }

    fn p(key: &'static str, value: &str, from: &str) -> ProxySetting {
        ProxySetting {
            key,
            value: value.into(),
            from: from.into(),
        }
    }

    #[test]
    fn the_drop_in_says_where_each_proxy_value_came_from() {
        let r = RootlessSettings::default();
        let plain = [
            p(
                "HTTPS_PROXY",
                "http://proxy:3128",
                "krc install --https-proxy",
            ),
            p(
                "NO_PROXY",
                "a,127.0.0.1",
                "/etc/environment (no_proxy), plus ...",
            ),
        ];
        let t = drop_in(&r, &plain);
        assert!(
            t.contains("# HTTPS_PROXY: krc install --https-proxy\nEnvironment=\"HTTPS_PROXY=http://proxy:3128\"\n# NO_PROXY: /etc/environment (no_proxy), plus ...\n"),
            "{t}"
        );
        assert!(!carries_credentials(&plain) && !t.contains("0600"));
        let secret = [p(
            "HTTP_PROXY",
            "http://u:p%w\"@proxy:3128",
            "/etc/environment (http_proxy)",
        )];
        assert!(carries_credentials(&secret));
        let t = drop_in(&r, &secret);
        assert!(
            t.contains("mode 0600")
                && t.contains("Environment=\"HTTP_PROXY=http://u:p%%w\\\"@proxy:3128\""),
            "{t}"
        );
        assert!(!has_userinfo("http://proxy:3128/a@b") && has_userinfo("socks5://u@p:1"));
    }
}
