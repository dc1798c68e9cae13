//! Redaction: no report or log ever shows a private key, a client
//! certificate or a token. Applied to every record when it is made, so no
//! writer can forget it.

const MARK: &str = "[redacted]";

/// Keys of kubeconfig and k3s files whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "client-key-data",
    "client-certificate-data",
    "token",
    "K3S_TOKEN",
    "K3S_AGENT_TOKEN",
    "password",
    "GITHUB_TOKEN",
];

pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_pem = false;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(start) = line.find("-----BEGIN ") {
            out.push_str(&line[..start]);
            out.push_str(MARK);
            in_pem = !line[start..].contains("-----END ");
            continue;
        }
        if in_pem {
            if line.contains("-----END ") {
                in_pem = false;
            }
            out.push_str(MARK);
            continue;
        }
        out.push_str(&redact_assignments(line));
    }
    out
}

/// `token: abc` / `K3S_TOKEN=abc` / `"password":"x"` → the value hidden.
fn redact_assignments(line: &str) -> String {
    for key in SECRET_KEYS {
        let Some(pos) = find_key(line, key) else {
            continue;
        };
        let rest = &line[pos + key.len()..];
        let sep_len = rest
            .chars()
            .take_while(|c| matches!(c, ':' | '=' | ' ' | '"' | '\''))
            .count();
        if sep_len == 0 || !rest[..sep_len].contains([':', '=']) {
            continue;
        }
        let value_start = pos + key.len() + sep_len;
        let value_len = line[value_start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .unwrap_or(line.len() - value_start);
        if value_len == 0 {
            continue;
        }
        let mut s = String::new();
        s.push_str(&line[..value_start]);
        s.push_str(MARK);
        s.push_str(&redact_assignments(&line[value_start + value_len..]));
        return s;
    }
    line.to_string()
}

/// A key as a whole word (so `tokens_total` is not `token`).
fn find_key(line: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(key) {
        let at = from + i;
        let before = line[..at].chars().next_back();
        let ok_before = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        if ok_before {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_pem_blocks_and_secret_values() {
        let pem = "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIabc\n-----END EC PRIVATE KEY-----\nafter";
        let r = redact(pem);
        assert!(
            !r.contains("MHcCAQEEIabc")
                && r.contains("after")
                && !r.contains("PRIVATE KEY-----\nMH"),
            "{r}"
        );
        assert_eq!(
            redact("    client-key-data: LS0tLS1CRUdJTg=="),
            "    client-key-data: [redacted]"
        );
        assert_eq!(
            redact("Environment=K3S_TOKEN=s3cr3t other"),
            "Environment=K3S_TOKEN=[redacted] other"
        );
        assert_eq!(
            redact("\"token\":\"abc\",\"x\":1"),
            "\"token\":\"[redacted]\",\"x\":1"
        );
        assert_eq!(redact("tokens_total 5; token"), "tokens_total 5; token");
    }
}
