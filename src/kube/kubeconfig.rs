//! The kubeconfig as krc uses it: which server it names and whether it
//! carries a CA and client credentials (the facts `kubeconfig.present`
//! judges), and the credentials themselves for the client.
//!
//! A kubeconfig holds a private key, and parsers quote what they choke on
//! (a YAML excerpt, a PEM line as decimal bytes). So no parser's message
//! ever leaves this module: every error is a position and a fixed sentence
//! per class of error ([`KcError`]). Only what k3s writes is used: inline
//! `*-data` fields and a token. A command (`exec`, `auth-provider`) or a
//! file named inside the kubeconfig is refused, since krc may run as root
//! and the user writes this file.

use base64::Engine;
use rustls::pki_types::pem::{self, SectionKind};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeconfigFacts {
    pub(crate) current_context: Option<String>,
    /// The server of the current context's cluster (or the only cluster),
    /// without any `user:password@` in it.
    pub(crate) server: Option<String>,
    pub(crate) has_ca: bool,
    pub(crate) has_client_cert: bool,
    pub(crate) has_client_key: bool,
    pub(crate) has_token: bool,
}

/// What the client needs, decoded and checked. Never printed.
pub(crate) struct Credentials {
    pub(crate) server: Option<String>,
    /// DER certificates of the CA.
    pub(crate) ca: Vec<Vec<u8>>,
    /// The client certificate and key, each as PEM text.
    pub(crate) cert_pem: Option<Vec<u8>>,
    pub(crate) key_pem: Option<Vec<u8>>,
    pub(crate) token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Where a kubeconfig is wrong and what is wrong, in krc's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KcError {
    /// 1-based line and column, when known.
    pub(crate) at: Option<(u64, u64)>,
    pub(crate) what: &'static str,
}

impl KcError {
    fn at(loc: serde_saphyr::Location, what: &'static str) -> KcError {
        let at = (loc.line() > 0).then(|| (loc.line(), loc.column().max(1)));
        KcError { at, what }
    }

    /// `FILE:LINE:COLUMN: what is wrong`.
    pub(crate) fn in_file(&self, file: &str) -> String {
        match self.at {
            Some((l, c)) => format!("{file}:{l}:{c}: {}", self.what),
            None => format!("{file}: {}", self.what),
        }
    }
}

type Field = Option<Spanned<String>>;
/// A field krc refuses whatever it holds: only its position is kept.
type Refused = Option<Spanned<IgnoredAny>>;

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
    server: Option<Spanned<String>>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Field,
    #[serde(rename = "certificate-authority")]
    ca_file: Refused,
    #[serde(rename = "insecure-skip-tls-verify")]
    insecure: Refused,
    #[serde(rename = "proxy-url")]
    proxy: Refused,
}

#[derive(Deserialize)]
struct RawContext {
    cluster: Option<String>,
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(rename = "client-certificate-data")]
    cert_data: Field,
    #[serde(rename = "client-certificate")]
    cert_file: Refused,
    #[serde(rename = "client-key-data")]
    key_data: Field,
    #[serde(rename = "client-key")]
    key_file: Refused,
    token: Field,
    #[serde(rename = "tokenFile")]
    token_file: Refused,
    exec: Refused,
    #[serde(rename = "auth-provider")]
    auth_provider: Refused,
}

fn present(s: &Field) -> bool {
    s.as_ref().is_some_and(|v| !v.value.trim().is_empty())
}

fn refuse(f: &Refused, what: &'static str) -> Result<(), KcError> {
    match f {
        Some(s) => Err(KcError::at(s.referenced, what)),
        None => Ok(()),
    }
}

/// The YAML error as a class, never its text (which quotes the source).
fn yaml_error(e: &serde_saphyr::Error) -> KcError {
    use serde_saphyr::Error as E;
    let what = match e {
        E::SerdeMissingField { .. } => "a field a kubeconfig needs is missing",
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::NullIntoString { .. }
        | E::InvalidScalar { .. } => "a value has the wrong type for a kubeconfig",
        E::DuplicateMappingKey { .. } => "a key appears twice in one mapping",
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => "too large or too deeply nested for a kubeconfig",
        E::MultipleDocuments { .. } => "more than one YAML document",
        E::Eof { .. } => "the YAML ends early (an unclosed bracket or quote)",
        _ => "not valid YAML (check indentation, quotes and brackets)",
    };
    match e.location() {
        Some(l) => KcError::at(l, what),
        None => KcError { at: None, what },
    }
}

/// Decodes a `*-data` field: base64 of PEM text, every section intact.
fn pem_field(f: &Spanned<String>, want_key: bool) -> Result<Vec<u8>, KcError> {
    let compact: String = f
        .value
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| KcError::at(f.defined, "the value is not valid base64"))?;
    let broken = "the decoded PEM is broken (a BEGIN/END line or a line break is missing, or a line is not base64)";
    let mut rd = std::io::Cursor::new(&bytes[..]);
    let (mut certs, mut keys) = (0, 0);
    loop {
        match pem::from_buf(&mut rd) {
            Ok(Some((SectionKind::Certificate, _))) => certs += 1,
            Ok(Some((
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey,
                _,
            ))) => keys += 1,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return Err(KcError::at(f.defined, broken)),
        }
    }
    match (want_key, certs, keys) {
        (true, _, 1) | (false, 1.., 0) => Ok(bytes),
        (true, _, 0) => Err(KcError::at(
            f.defined,
            "the decoded PEM holds no private key",
        )),
        (true, _, _) => Err(KcError::at(
            f.defined,
            "the decoded PEM holds more than one private key",
        )),
        (false, 0, _) => Err(KcError::at(
            f.defined,
            "the decoded PEM holds no certificate",
        )),
        (false, _, _) => Err(KcError::at(
            f.defined,
            "a certificate field holds a private key",
        )),
    }
}

fn ca_ders(f: &Spanned<String>) -> Result<Vec<Vec<u8>>, KcError> {
    let pem_text = pem_field(f, false)?;
    let mut rd = std::io::Cursor::new(&pem_text[..]);
    let mut out = Vec::new();
    while let Ok(Some((kind, der))) = pem::from_buf(&mut rd) {
        if kind == SectionKind::Certificate {
            out.push(der);
        }
    }
    Ok(out)
}

/// `https://user:pass@host:6443/` → `https://host:6443/`.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) if scheme.is_empty() => rest[at + 1..].to_string(),
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Parses kubeconfig text into the facts and the credentials they name.
pub(crate) fn parse(text: &str) -> Result<(KubeconfigFacts, Credentials), KcError> {
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| yaml_error(&e))?;
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
    let file_ref = "names a file: krc uses only the inline *-data fields k3s writes";
    if let Some(c) = cluster {
        refuse(&c.ca_file, file_ref)?;
        refuse(
            &c.insecure,
            "insecure-skip-tls-verify: krc always verifies the server's certificate",
        )?;
        refuse(&c.proxy, "proxy-url: krc talks to the local k3s directly")?;
    }
    if let Some(u) = user {
        refuse(&u.cert_file, file_ref)?;
        refuse(&u.key_file, file_ref)?;
        refuse(&u.token_file, file_ref)?;
        let cmd = "runs a command for credentials: krc never runs commands a kubeconfig names";
        refuse(&u.exec, cmd)?;
        refuse(&u.auth_provider, cmd)?;
    }
    let server = cluster.and_then(|c| c.server.as_ref());
    if let Some(s) = server
        && !s.value.starts_with("https://")
    {
        return Err(KcError::at(s.defined, "the server is not an https:// URL"));
    }
    let ca = match cluster.and_then(|c| c.ca_data.as_ref()) {
        Some(f) if !f.value.trim().is_empty() => ca_ders(f)?,
        _ => Vec::new(),
    };
    let data = |f: Option<&Spanned<String>>, key: bool| match f {
        Some(f) if !f.value.trim().is_empty() => pem_field(f, key).map(Some),
        _ => Ok(None),
    };
    let cert_pem = data(user.and_then(|u| u.cert_data.as_ref()), false)?;
    let key_pem = data(user.and_then(|u| u.key_data.as_ref()), true)?;
    let token = user
        .and_then(|u| u.token.as_ref())
        .map(|t| t.value.trim().to_string())
        .filter(|t| !t.is_empty());
    let facts = KubeconfigFacts {
        current_context: raw.current_context.clone(),
        server: server.map(|s| without_userinfo(&s.value)),
        has_ca: cluster.is_some_and(|c| present(&c.ca_data)),
        has_client_cert: user.is_some_and(|u| present(&u.cert_data)),
        has_client_key: user.is_some_and(|u| present(&u.key_data)),
        has_token: token.is_some(),
    };
    let creds = Credentials {
        server: server.map(|s| s.value.clone()),
        ca,
        cert_pem,
        key_pem,
        token,
    };
    Ok((facts, creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQUJD\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKEYSECRETKEYSECRETKEYSECRET\n-----END EC PRIVATE KEY-----\n";

    fn k3s(key: &str) -> String {
        format!(
            "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {ca}
    client-key-data: {key}
",
            ca = b64(CERT),
            key = b64(key)
        )
    }

    #[test]
    fn reads_what_k3s_writes() {
        let (f, c) = parse(&k3s(KEY)).unwrap();
        assert_eq!(f.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert!(f.has_ca && f.has_client_cert && f.has_client_key && !f.has_token);
        assert_eq!(c.ca.len(), 1);
        assert!(c.key_pem.is_some() && c.cert_pem.is_some());
        let text = k3s(KEY);
        let no_key: String = text
            .lines()
            .filter(|l| !l.contains("client-key-data"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!parse(&no_key).unwrap().0.has_client_key);
        assert!(parse("clusters: [").is_err());
    }

    #[test]
    fn a_broken_key_is_a_position_and_a_sentence() {
        // One newline removed: the END line runs into the base64.
        let broken = KEY.replacen("SECRET\n-----END", "SECRET-----END", 1);
        let e = parse(&k3s(&broken)).unwrap_err();
        assert_eq!(e.at.map(|a| a.0), Some(19), "{e:?}");
        let msg = e.in_file("k3s.yaml");
        assert!(msg.starts_with("k3s.yaml:19:"), "{msg}");
        assert!(!msg.contains("SECRET") && !msg.contains("45, 45"), "{msg}");
        let e = parse(&k3s(KEY).replace("client-key-data: ", "client-key-data: x$")).unwrap_err();
        assert_eq!(e.what, "the value is not valid base64");
    }

    #[test]
    fn yaml_errors_never_quote_the_source() {
        for bad in [
            "users:\n- name: a\n  user:\n    token: s3cretTOKEN: [\n",
            "users:\n  - user: {client-key-data: \"s3cretKEY\n",
            "clusters:\n- cluster:\n    server: https://admin:s3cretPASS@h:6443\n   id-token: s3cretID\n",
            "users: 5\nrefresh-token: s3cretREFRESH\n",
        ] {
            let e = parse(bad).unwrap_err();
            let m = e.in_file("f");
            assert!(!m.contains("s3cret"), "{m}");
            assert!(m.starts_with("f:"), "{m}");
        }
    }

    #[test]
    fn commands_files_and_plain_http_are_refused() {
        let exec = k3s(KEY).replace(
            "    client-key-data:",
            "    exec:\n      command: /bin/sh\n    client-key-data:",
        );
        let e = parse(&exec).unwrap_err();
        assert!(
            e.what.contains("never runs commands") && e.at.is_some(),
            "{e:?}"
        );
        let file = k3s(KEY).replace(
            "    server:",
            "    certificate-authority: /etc/shadow\n    server:",
        );
        assert!(parse(&file).unwrap_err().what.contains("names a file"));
        let http = k3s(KEY).replace("https://127", "http://127");
        assert!(parse(&http).unwrap_err().what.contains("https"));
        assert_eq!(
            without_userinfo("https://admin:pw@h:1/x@y"),
            "https://h:1/x@y"
        );
    }
}
