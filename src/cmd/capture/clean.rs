//! What a capture must not carry, stated once: files it never holds, and
//! how the contents it holds lose their secrets while keeping the verdict.
//!
//! - never: shadow and gshadow, SSH host keys, anything under a `private`
//!   key directory (krc reads none of them; a capture that met one drops it);
//! - the kubeconfig: rewritten from what `kubeconfig.present` judges (server,
//!   whether a CA, client certificate, key and token are there), each
//!   credential a marker that parses as one;
//! - `/proc/PID/cmdline`: a k3s server's or agent's, its secret flags'
//!   values masked (k3s's table, `host::k3sconfig::K3S_SECRETS`); any other
//!   process's is left empty (what krc learns from it: not k3s);
//! - `/proc/net/tcp{,6}`: the listening sockets only, no connections;
//! - the machine id: a stand-in derived from it, never the id itself;
//! - every other text: the reports' redaction (`report::redact`), which
//!   hides k3s config secrets, tokens, passwords, URL credentials and PEM
//!   blocks.

use base64::Engine;

use crate::host::k3sconfig::K3S_SECRETS;
use crate::host::procs;
use crate::kube::kubeconfig;
use crate::report::redact::redact;

/// What stands where a secret was.
pub(crate) const MARK: &str = "krc-capture-redacted";

/// Why `path` never goes into a capture, if it does not.
pub(crate) fn denied(path: &str) -> Option<&'static str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    if matches!(
        base,
        "shadow" | "gshadow" | "shadow-" | "gshadow-" | "opasswd"
    ) {
        return Some("a password database");
    }
    if path.starts_with("/etc/ssh/ssh_host_") && !path.ends_with(".pub") {
        return Some("an SSH host key");
    }
    if path.split('/').any(|c| c == "private") || base.ends_with(".key") {
        return Some("a private key");
    }
    None
}

/// The bytes a capture keeps of `path` (read as `bytes`); `kubeconfig`:
/// the host path of the user's kubeconfig.
pub(crate) fn clean(path: &str, bytes: &[u8], kubeconfig: &str) -> Vec<u8> {
    if path == kubeconfig {
        return kubeconfig_stand_in(&String::from_utf8_lossy(bytes)).into_bytes();
    }
    if let Some(rest) = path.strip_prefix("/proc/")
        && rest.strip_suffix("/cmdline").is_some()
    {
        return cmdline(bytes);
    }
    if matches!(path, "/proc/net/tcp" | "/proc/net/tcp6") {
        return listening_only(&String::from_utf8_lossy(bytes)).into_bytes();
    }
    if matches!(path, "/etc/machine-id" | "/var/lib/dbus/machine-id") {
        return machine_id(bytes).into_bytes();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => redact(text).replace("[redacted]", MARK).into_bytes(),
        // Binary (a kernel's config.gz): no text to hide in.
        Err(_) => bytes.to_vec(),
    }
}

/// A k3s command line with its secret values masked; any other empty.
fn cmdline(bytes: &[u8]) -> Vec<u8> {
    let raw = String::from_utf8_lossy(bytes);
    if procs::k3s_cmdline(&raw).is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut hide_next = false;
    for arg in raw.split('\0').filter(|a| !a.is_empty()) {
        let kept = if hide_next {
            MARK.to_string()
        } else if let Some((flag, _)) = arg.split_once('=')
            && is_secret_flag(flag)
        {
            format!("{flag}={MARK}")
        } else {
            redact(arg).replace("[redacted]", MARK)
        };
        hide_next = is_secret_flag(arg);
        out.extend_from_slice(kept.as_bytes());
        out.push(0);
    }
    out
}

fn is_secret_flag(arg: &str) -> bool {
    K3S_SECRETS
        .iter()
        .any(|s| arg == s.flag || s.short == Some(arg))
}

/// The header and the LISTEN rows (state `0A`) of `/proc/net/tcp{,6}`.
fn listening_only(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let state = line.split_whitespace().nth(3);
        if i == 0 || state == Some("0A") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// 32 hex digits derived from the id: the same host gives the same
/// stand-in, and nobody gets the id back.
fn machine_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"krc capture machine-id\0");
    h.update(bytes.trim_ascii());
    format!("{}\n", &hex::encode(h.finalize())[..32])
}

/// base64 of a PEM section `kind` whose body says what it stands for.
fn pem_marker(kind: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.encode(format!("{MARK}: this {kind} was not captured"));
    b64.encode(format!(
        "-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    ))
}

/// A kubeconfig that `kubeconfig.present` judges as it judged `text`:
/// the same server and the same credentials present, each a marker.
/// One that did not parse stays one that does not (and holds nothing).
pub(crate) fn kubeconfig_stand_in(text: &str) -> String {
    let head = format!(
        "# {MARK}: krc capture rewrote this kubeconfig from what krc judges in it; every credential is a marker\n"
    );
    let Ok((facts, _)) = kubeconfig::parse(text) else {
        return format!("{head}# the original did not parse as a kubeconfig\nclusters: [\n");
    };
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!("{head}apiVersion: v1\nkind: Config\n");
    out.push_str("current-context: default\nclusters:\n- name: default\n  cluster:\n");
    if let Some(s) = &facts.server {
        out.push_str(&format!("    server: {}\n", q(s)));
    }
    if facts.has_ca {
        out.push_str(&format!(
            "    certificate-authority-data: {}\n",
            pem_marker("CERTIFICATE")
        ));
    }
    out.push_str(
        "contexts:\n- name: default\n  context:\n    cluster: default\n    user: default\n",
    );
    out.push_str("users:\n- name: default\n  user:\n");
    if facts.has_client_cert {
        out.push_str(&format!(
            "    client-certificate-data: {}\n",
            pem_marker("CERTIFICATE")
        ));
    }
    if facts.has_client_key {
        out.push_str(&format!(
            "    client-key-data: {}\n",
            pem_marker("PRIVATE KEY")
        ));
    }
    if facts.has_token {
        out.push_str(&format!("    token: {MARK}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_flags_are_masked_and_other_commands_emptied() {
        let k3s = b"/usr/local/bin/k3s\0server\0--token\0s3cr3t\0--agent-token=a9\0--rootless\0";
        let out = String::from_utf8(cmdline(k3s)).unwrap();
        assert!(!out.contains("s3cr3t") && !out.contains("a9"), "{out:?}");
        assert!(out.contains("--rootless") && out.contains(MARK), "{out:?}");
        assert!(procs::k3s_cmdline(&out).is_some(), "still k3s: {out:?}");
        assert!(cmdline(b"mysql\0-pHUNTER2\0").is_empty());
    }

    #[test]
    fn kubeconfig_keeps_its_verdict_facts_only() {
        let text = format!(
            "clusters:\n- name: a\n  cluster:\n    server: https://u:pw@127.0.0.1:6443\n    certificate-authority-data: {}\nusers:\n- name: a\n  user:\n    token: tok-SECRET\n",
            pem_marker("CERTIFICATE")
        );
        let before = kubeconfig::parse(&text).unwrap().0;
        let out = kubeconfig_stand_in(&text);
        assert!(!out.contains("tok-SECRET") && !out.contains("pw@"), "{out}");
        let after = kubeconfig::parse(&out).unwrap().0;
        assert_eq!(
            (
                before.server,
                before.has_ca,
                before.has_token,
                before.has_client_key
            ),
            (
                after.server,
                after.has_ca,
                after.has_token,
                after.has_client_key
            )
        );
        assert!(kubeconfig::parse(&kubeconfig_stand_in("a: [")).is_err());
    }

    #[test]
    fn listening_rows_and_denied_paths() {
        let t = "  sl  local rem st\n 0: 0100007F:1A0B 00000000:0000 0A x\n 1: 0100007F:1A0B 0100007F:9999 01 x\n";
        assert_eq!(listening_only(t).lines().count(), 2);
        assert!(denied("/etc/shadow").is_some() && denied("/etc/gshadow").is_some());
        assert!(denied("/etc/ssh/ssh_host_ed25519_key").is_some());
        assert!(denied("/etc/passwd").is_none());
        let k = clean("/etc/rancher/k3s/config.yaml", b"token: abc123\n", "/x");
        assert!(!String::from_utf8(k).unwrap().contains("abc123"));
    }
}
