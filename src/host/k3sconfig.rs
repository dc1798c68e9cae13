//! k3s's own configuration files: `/etc/rancher/k3s/config.yaml` and then
//! `/etc/rancher/k3s/config.yaml.d/*.yaml` in name order (k3s-io/k3s:
//! pkg/configfilearg/defaultparser.go names the default file; the parser
//! merges the `.d` directory after it). Rootless k3s reads them too: the
//! default path does not depend on the user.
//!
//! A light reader of the top-level keys (the shape k3s's config takes:
//! `key: value`, `key: [a, b]` or a block list of `- item` lines), with the
//! file and line of each key for evidence.

use super::{FactError, Host};

pub(crate) const CONFIG: &str = "/etc/rancher/k3s/config.yaml";
pub(crate) const CONFIG_DIR: &str = "/etc/rancher/k3s/config.yaml.d";

// k3s's secret-bearing settings, stated once: each as the `k3s server` /
// `k3s agent` flag, the `config.yaml` key and the environment variable
// (k3s-io/k3s:pkg/cli/cmds; docs.k3s.io/cli/server). The checks hide
// these keys' values, and report::redact hides them in every record
// (report::secret_flags for the space-separated `--token X`).
//
// Paths to a secret (`--token-file`, `--agent-token-file`,
// `--vpn-auth-file`, `--datastore-keyfile`) are not here and stay
// visible: a path says where a secret is kept, not what it is, the file
// stays root's, and a report that names it is how a reader finds it.

/// One secret setting of k3s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct K3sSecret {
    /// The long flag, with its dashes.
    pub(crate) flag: &'static str,
    /// The short alias, if any (`-t` for `--token`).
    pub(crate) short: Option<&'static str>,
    /// The key in `/etc/rancher/k3s/config.yaml`.
    pub(crate) key: &'static str,
    /// The environment variables k3s takes it from.
    pub(crate) env: &'static [&'static str],
}

const fn s(
    flag: &'static str,
    short: Option<&'static str>,
    key: &'static str,
    env: &'static [&'static str],
) -> K3sSecret {
    K3sSecret {
        flag,
        short,
        key,
        env,
    }
}

/// flag ↔ config key ↔ environment variable. `datastore-endpoint` is here
/// whole: a DSN may carry a password outside URL userinfo
/// (`host=db password=x`). `vpn-auth` carries `joinKey=` in its value.
pub(crate) const K3S_SECRETS: &[K3sSecret] = &[
    s("--token", Some("-t"), "token", &["K3S_TOKEN"]),
    s("--agent-token", None, "agent-token", &["K3S_AGENT_TOKEN"]),
    s(
        "--cluster-secret",
        None,
        "cluster-secret",
        &["K3S_CLUSTER_SECRET"],
    ),
    s(
        "--datastore-endpoint",
        None,
        "datastore-endpoint",
        &["K3S_DATASTORE_ENDPOINT"],
    ),
    s(
        "--etcd-s3-access-key",
        None,
        "etcd-s3-access-key",
        &["AWS_ACCESS_KEY_ID"],
    ),
    s(
        "--etcd-s3-secret-key",
        None,
        "etcd-s3-secret-key",
        &["AWS_SECRET_ACCESS_KEY"],
    ),
    s(
        "--etcd-s3-session-token",
        None,
        "etcd-s3-session-token",
        &["AWS_SESSION_TOKEN"],
    ),
    s("--vpn-auth", None, "vpn-auth", &["K3S_VPN_AUTH"]),
];

/// Is `name` (a config key, an environment variable, or a flag with its
/// dashes or a `+` append suffix) one of the table's? Any case.
pub(crate) fn is_k3s_secret_name(name: &str) -> bool {
    let n = name.trim_start_matches('-').trim_end_matches('+');
    K3S_SECRETS.iter().any(|s| {
        n.eq_ignore_ascii_case(s.key)
            || n.eq_ignore_ascii_case(s.flag.trim_start_matches('-'))
            || s.env.iter().any(|e| n.eq_ignore_ascii_case(e))
    })
}

/// One top-level key of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigEntry {
    pub(crate) file: String,
    pub(crate) line: usize,
    /// The key as written (`disable`, `disable+`, `token`, ...).
    pub(crate) key: String,
    /// The values: one for a scalar, each item of a list.
    pub(crate) values: Vec<String>,
    /// The key's line, verbatim (trimmed).
    pub(crate) raw: String,
}

impl ConfigEntry {
    /// The key without the `+` (append) suffix k3s accepts in `.d` files.
    pub(crate) fn name(&self) -> &str {
        self.key.trim_end_matches('+')
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s);
    s.to_string()
}

/// Strips a trailing ` # comment` outside quotes.
fn uncomment(s: &str) -> &str {
    let mut quote = None;
    let b = s.as_bytes();
    for (i, c) in s.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('#', None) if i == 0 || b[i - 1].is_ascii_whitespace() => return &s[..i],
            _ => {}
        }
    }
    s
}

/// The top-level keys of one file's text.
pub(crate) fn parse(text: &str, file: &str) -> Vec<ConfigEntry> {
    let mut out: Vec<ConfigEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = uncomment(raw).trim_end();
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let t = line.trim();
        if let Some(item) = t
            .strip_prefix("- ")
            .or(if t == "-" { Some("") } else { None })
        {
            if let Some(last) = out.last_mut() {
                last.values.push(unquote(item));
            }
            continue;
        }
        if indented {
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        let key = unquote(k);
        let v = v.trim();
        let values = if v.is_empty() {
            Vec::new()
        } else if let Some(inner) = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            inner
                .split(',')
                .map(unquote)
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            vec![unquote(v)]
        };
        out.push(ConfigEntry {
            file: file.to_string(),
            line: i + 1,
            key,
            values,
            raw: raw.trim().to_string(),
        });
    }
    out
}

/// The files k3s reads, in its order, that exist.
pub(crate) fn files(host: &Host) -> Vec<String> {
    let mut out = Vec::new();
    if host.exists(CONFIG) {
        out.push(CONFIG.to_string());
    }
    let mut names: Vec<String> = host
        .list_dir(CONFIG_DIR)
        .into_iter()
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    out.extend(names.into_iter().map(|n| format!("{CONFIG_DIR}/{n}")));
    out
}

/// Every top-level key of every config file k3s reads.
pub(crate) fn read(host: &Host) -> Result<Vec<ConfigEntry>, FactError> {
    let mut out = Vec::new();
    for f in files(host) {
        if let Some(text) = host.read_opt(&f)? {
            super::plain_text(&text, &f)?;
            out.extend(parse(&text, &f));
        }
    }
    Ok(out)
}

/// Components named by `disable` values: k3s splits each on commas.
pub(crate) fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_flow_and_block_lists() {
        let t = "# k3s\ntoken: \"K10abc::server:x\"\ndisable:\n  - traefik\n  - 'metrics-server'   # not needed\nwrite-kubeconfig-mode: 644\ndisable+: [servicelb, local-storage]\nnode-label:\n  - a=b\n";
        let e = parse(t, "/c.yaml");
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "token",
                "disable",
                "write-kubeconfig-mode",
                "disable+",
                "node-label"
            ]
        );
        assert_eq!(e[1].values, ["traefik", "metrics-server"]);
        assert_eq!(e[1].line, 3);
        assert_eq!(e[3].name(), "disable");
        assert_eq!(e[3].values, ["servicelb", "local-storage"]);
        assert_eq!(e[2].values, ["644"]);
        assert_eq!(
            split_list(&["traefik,servicelb".to_string()]),
            ["traefik", "servicelb"]
        );
    }
}
