//! The kubeconfig as `kubeconfig.present` judges it: which server it names
//! and whether it carries a CA and client credentials. Secret values are
//! never kept, only whether they are there.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeconfigFacts {
    pub(crate) current_context: Option<String>,
    /// The server of the current context's cluster (or the only cluster).
    pub(crate) server: Option<String>,
    pub(crate) has_ca: bool,
    pub(crate) has_client_cert: bool,
    pub(crate) has_client_key: bool,
    pub(crate) has_token: bool,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Option<RawCluster>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Option<RawContext>,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawCluster {
    server: Option<String>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<String>,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: Option<String>,
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-certificate")]
    cert_file: Option<String>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(rename = "client-key")]
    key_file: Option<String>,
    token: Option<String>,
}

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// Parses kubeconfig text; the error is the parser's, without the text.
pub(crate) fn parse(text: &str) -> Result<KubeconfigFacts, String> {
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| {
        // The parser may quote the offending text, which can be a key.
        crate::report::redact::redact(&e.to_string())
    })?;
    let ctx = raw
        .current_context
        .as_deref()
        .and_then(|c| raw.contexts.iter().find(|n| n.name == c))
        .or(raw.contexts.first())
        .and_then(|n| n.context.as_ref());
    let cluster = ctx
        .and_then(|c| c.cluster.as_deref())
        .and_then(|c| raw.clusters.iter().find(|n| n.name == c))
        .or(raw.clusters.first())
        .and_then(|n| n.cluster.as_ref());
    let user = ctx
        .and_then(|c| c.user.as_deref())
        .and_then(|u| raw.users.iter().find(|n| n.name == u))
        .or(raw.users.first())
        .and_then(|n| n.user.as_ref());
    Ok(KubeconfigFacts {
        current_context: raw.current_context.clone(),
        server: cluster.and_then(|c| c.server.clone()),
        has_ca: cluster.is_some_and(|c| present(&c.ca_data) || present(&c.ca_file)),
        has_client_cert: user.is_some_and(|u| present(&u.cert_data) || present(&u.cert_file)),
        has_client_key: user.is_some_and(|u| present(&u.key_data) || present(&u.key_file)),
        has_token: user.is_some_and(|u| present(&u.token)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K3S: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tQ0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: LS0tQ0VSVA==
    client-key-data: LS0tS0VZ
";

    #[test]
    fn reads_what_k3s_writes() {
        let f = parse(K3S).unwrap();
        assert_eq!(f.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert!(f.has_ca && f.has_client_cert && f.has_client_key && !f.has_token);
        let f = parse(&K3S.replace("    client-key-data: LS0tS0VZ\n", "")).unwrap();
        assert!(!f.has_client_key);
        assert!(parse("clusters: [").is_err());
    }
}
