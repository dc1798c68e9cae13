//! Redaction: no report or log ever shows a private key, a client
//! certificate, a token or a password. Applied to every record when it is
//! made, so no writer can forget it. It errs towards hiding: a value that
//! may continue on the next lines (a YAML block scalar, an unclosed quote,
//! a PEM block without its END line) hides those lines too.

const MARK: &str = "[redacted]";

/// What the previous line left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    /// Inside a PEM block: hidden until its END line.
    Pem,
    /// A secret key's value continues on lines indented deeper than this
    /// column (`key: |`, `key: >-`, or `key:` with the value below).
    Block(usize),
    /// A secret's quoted value is not closed yet.
    Quoted(char),
}

/// Redacts one text (any number of lines).
pub(crate) fn redact(text: &str) -> String {
    let mut open = Open::Nothing;
    redact_with(text, &mut open)
}

/// Redacts evidence lines as one text: a block scalar or PEM block that
/// starts in one item stays hidden in the items after it.
pub(crate) fn redact_all(items: &[String]) -> Vec<String> {
    let mut open = Open::Nothing;
    let redacted: Vec<String> = items.iter().map(|e| redact_with(e, &mut open)).collect();
    bounded(redacted)
}

/// Longest evidence line kept whole, and most evidence lines kept: a 5 MB
/// line from a user's file must not reach the terminal and every report.
const MAX_LINE: usize = 2048;
const MAX_ITEMS: usize = 200;

/// Every record's evidence passes through [`redact_all`], so the bound is
/// applied here, after redaction (a cut never reveals a redacted value).
fn bounded(mut items: Vec<String>) -> Vec<String> {
    if items.len() > MAX_ITEMS {
        let more = items.len() - MAX_ITEMS;
        items.truncate(MAX_ITEMS);
        items.push(format!("… {more} more line(s) not shown"));
    }
    for item in &mut items {
        if item.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !item.is_char_boundary(end) {
                end -= 1;
            }
            let total = item.len();
            item.truncate(end);
            item.push_str(&format!("… ({total} bytes in all; cut)"));
        }
    }
    items
}

fn redact_with(text: &str, open: &mut Open) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        out.push(redact_line(line, open));
    }
    out.join("\n")
}

/// Where a line's own text starts: after a `FILE:LINE: ` prefix (how
/// evidence quotes a source line), else at 0.
fn content_start(line: &str) -> usize {
    let mut parts = line.splitn(3, ':');
    let (Some(file), Some(num), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return 0;
    };
    let ok = !file.is_empty()
        && !file.contains(char::is_whitespace)
        && !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && rest.starts_with(' ');
    if ok { file.len() + num.len() + 3 } else { 0 }
}

/// Indentation of the line's own text (see [`content_start`]).
fn indent_of(line: &str) -> usize {
    let text = &line[content_start(line)..];
    text.len() - text.trim_start().len()
}

fn redact_line(line: &str, open: &mut Open) -> String {
    match *open {
        Open::Nothing => {}
        Open::Pem => {
            return match line.find("-----END ") {
                Some(e) => {
                    *open = Open::Nothing;
                    format!("{MARK}{}", after_pem_marker(line, e, open))
                }
                None => MARK.to_string(),
            };
        }
        Open::Block(col) => {
            let text = &line[content_start(line)..];
            if text.trim().is_empty() || indent_of(line) > col {
                let keep = line.len() - line.trim_start().len();
                let keep = keep.max(content_start(line) + indent_of(line));
                return format!("{}{MARK}", &line[..keep]);
            }
            *open = Open::Nothing;
        }
        Open::Quoted(q) => {
            return match closing_quote(line, 0, q) {
                Some(e) => {
                    *open = Open::Nothing;
                    format!("{MARK}{q}{}", plain(&line[e + 1..], open))
                }
                None => MARK.to_string(),
            };
        }
    }
    plain(line, open)
}

/// The text after a PEM END marker's closing dashes, itself redacted.
fn after_pem_marker(line: &str, end: usize, open: &mut Open) -> String {
    let rest = &line[end + "-----END ".len()..];
    match rest.find("-----") {
        Some(i) => plain(&rest[i + 5..], open),
        None => String::new(),
    }
}

/// A line outside any open value: PEM markers, URL credentials, byte dumps
/// and `key: value` pairs with secret keys.
fn plain(line: &str, open: &mut Open) -> String {
    if let Some(start) = line.find("-----BEGIN ") {
        let mut s = plain(&line[..start], open);
        s.push_str(MARK);
        match line[start..].find("-----END ") {
            Some(e) => s.push_str(&after_pem_marker(line, start + e, open)),
            // A BEGIN without END on this line: hide until the END line,
            // or to the end if it never comes (a broken key is still a key).
            None => *open = Open::Pem,
        }
        return s;
    }
    let line = url_userinfo(line);
    let line = byte_lists(&line);
    let line = base64_pem(&line);
    assignments(&line, open)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Is `key` (any case) the name of a secret? Words are split at `-_.`, so
/// `tokens_total` (a count) is not a token but `id-token`, `GITHUB_TOKEN`,
/// `bearerToken` and `client_secret` are.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.ends_with("key-data") || k.ends_with("certificate-data") {
        return true;
    }
    if k.contains("private") && k.contains("key") {
        return true;
    }
    const WORDS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "apikey",
        "authorization",
    ];
    k.split(['-', '_', '.']).any(|w| {
        w != "tokens"
            && WORDS
                .iter()
                .any(|x| w == *x || w.ends_with(x) || w.starts_with(x))
    })
}

/// Finds `key: value`, `key=value`, `"key": "value"` with a secret key and
/// hides every such value on the line.
fn assignments(line: &str, open: &mut Open) -> String {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let c = line[i..].chars().next().unwrap_or(' ');
        let starts_word = is_ident(c) && !line[..i].chars().next_back().is_some_and(is_ident);
        if !starts_word {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let j = line[i..]
            .find(|c: char| !is_ident(c))
            .map_or(line.len(), |n| i + n);
        let key = &line[i..j];
        let Some(v) = separator(line, j).filter(|_| is_secret(key)) else {
            out.push_str(key);
            i = j;
            continue;
        };
        out.push_str(&line[i..v]);
        let col = i.saturating_sub(content_start(line));
        i = value(line, v, col, &mut out, open);
    }
    out
}

/// After a key ending at `j`: an optional closing quote, spaces, `:` or
/// `=`, spaces. The index where the value starts.
fn separator(line: &str, j: usize) -> Option<usize> {
    let b = line.as_bytes();
    let mut k = j;
    if k < b.len() && matches!(b[k], b'"' | b'\'') {
        k += 1;
    }
    while k < b.len() && b[k] == b' ' {
        k += 1;
    }
    if k >= b.len() || !matches!(b[k], b':' | b'=') {
        return None;
    }
    // `a::b` and `==` are code, not assignments.
    if b.get(k + 1).is_some_and(|n| *n == b[k]) {
        return None;
    }
    k += 1;
    while k < b.len() && matches!(b[k], b' ' | b'\t') {
        k += 1;
    }
    Some(k)
}

/// Hides the value starting at `v` (key at column `col`); returns where
/// scanning resumes.
fn value(line: &str, v: usize, col: usize, out: &mut String, open: &mut Open) -> usize {
    let rest = &line[v..];
    let Some(first) = rest.chars().next() else {
        // `key:` with nothing after: the value (if any) is on the lines below.
        if line[..v].trim_end().ends_with(':') {
            *open = Open::Block(col);
        }
        return line.len();
    };
    match first {
        '"' | '\'' => {
            out.push(first);
            out.push_str(MARK);
            match closing_quote(line, v + 1, first) {
                Some(e) => {
                    out.push(first);
                    e + 1
                }
                None => {
                    *open = Open::Quoted(first);
                    line.len()
                }
            }
        }
        '|' | '>'
            if rest[1..]
                .trim_start_matches(|c: char| matches!(c, '-' | '+') || c.is_ascii_digit())
                .trim()
                .is_empty_or_comment() =>
        {
            out.push_str(MARK);
            *open = Open::Block(col);
            line.len()
        }
        _ => {
            // `Authorization: Bearer abc`: the scheme stays, the credential goes.
            let mut v = v;
            for scheme in ["bearer ", "basic "] {
                // `get`: the value's bytes there may be inside a character.
                if rest
                    .get(..scheme.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(scheme))
                {
                    out.push_str(&rest[..scheme.len()]);
                    v += scheme.len();
                }
            }
            let end = line[v..]
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ']' | '&')
                })
                .map_or(line.len(), |n| v + n);
            out.push_str(MARK);
            end
        }
    }
}

trait EmptyOrComment {
    fn is_empty_or_comment(&self) -> bool;
}

impl EmptyOrComment for str {
    fn is_empty_or_comment(&self) -> bool {
        self.is_empty() || self.starts_with('#')
    }
}

/// The index of the quote closing a value that started before `from`.
fn closing_quote(line: &str, from: usize, q: char) -> Option<usize> {
    let b = line.as_bytes();
    let mut k = from;
    while k < b.len() {
        if q == '"' && b[k] == b'\\' {
            k += 2;
            continue;
        }
        if b[k] == q as u8 {
            // YAML writes a quote inside single quotes as ''.
            if q == '\'' && b.get(k + 1) == Some(&b'\'') {
                k += 2;
                continue;
            }
            return Some(k);
        }
        k += 1;
    }
    None
}

/// `https://admin:PASS@host` → `https://[redacted]@host`.
fn url_userinfo(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(p) = rest.find("://") {
        let (head, tail) = rest.split_at(p + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>')
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(MARK);
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `[45, 45, 45, 45, 45, 66, ...]`: a parser's dump of the bytes it choked
/// on, which can be a whole key. Eight or more small numbers in a row go.
fn byte_lists(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let (n, end) = count_numbers(b, i);
        if n >= 8 {
            out.push_str(MARK);
            i = end;
        } else {
            let c = line[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// From `i`: how many `digits, ` numbers follow, and where they end.
fn count_numbers(b: &[u8], i: usize) -> (usize, usize) {
    if i > 0 && b[i - 1].is_ascii_digit() {
        return (0, i);
    }
    let (mut n, mut k, mut end) = (0, i, i);
    loop {
        let d = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d == 0 || d > 3 {
            return (n, end);
        }
        k += d;
        n += 1;
        end = k;
        let sep = b[k..]
            .iter()
            .take_while(|c| matches!(c, b',' | b' '))
            .count();
        if sep == 0 || !b[k..k + sep].contains(&b',') {
            return (n, end);
        }
        k += sep;
    }
}

/// Base64 of PEM text (`LS0tLS1CRUdJTi...` is `-----BEGIN`): the whole
/// word goes, whatever key (if any) it stands under.
fn base64_pem(line: &str) -> String {
    const B64_BEGIN: &str = "LS0tLS1CRUdJTi";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(p) = rest.find(B64_BEGIN) {
        out.push_str(&rest[..p]);
        out.push_str(MARK);
        let tail = &rest[p..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod bound_tests {
    #[test]
    fn huge_evidence_is_cut_and_says_so() {
        let items = vec!["x".repeat(5_000_000); 3];
        let out = super::redact_all(&items);
        assert_eq!(out.len(), 3);
        assert!(out[0].len() < 2200 && out[0].ends_with("(5000000 bytes in all; cut)"));
        let many: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let out = super::redact_all(&many);
        assert_eq!(out.len(), 201);
        assert_eq!(out[200], "… 800 more line(s) not shown");
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, redact_all};

    /// Found by fuzzing (redact): the `Bearer `/`Basic ` test sliced the
    /// value at a byte that was inside a character.
    #[test]
    fn a_value_with_a_multibyte_character_near_its_start_is_hidden() {
        for v in ["xxxxxxé", "bearerébasic", "basiéé secret", "ééééé"] {
            let r = redact(&format!("token: {v}"));
            assert!(!r.contains(v) && r.starts_with("token: "), "{v}: {r}");
        }
        assert_eq!(redact("token: Bearer abc"), redact("token: Bearer xyz"));
    }

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
        assert_eq!(redact("tokens_total: 5"), "tokens_total: 5");
    }

    /// The lines `cluster.single-node` quotes from a unit drop-in that
    /// carries a token (checks::accept_tests asserts it quotes them so).
    #[test]
    fn tokens_in_quoted_unit_lines_go() {
        let unit = "/home/k3s/.config/systemd/user/k3s-rootless.service.d/";
        let lines = [
            format!("{unit}token.conf:2: Environment=K3S_TOKEN=K10secretsecret::server:abc"),
            format!(
                "{unit}token.conf:4: ExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs --cluster-init --token=K10othersecret"
            ),
        ];
        let shown = redact_all(&lines).join("\n");
        assert!(
            !shown.contains("K10secretsecret") && !shown.contains("K10othersecret"),
            "{shown}"
        );
        assert!(shown.contains("K3S_TOKEN=[redacted]"), "{shown}");
    }

    #[test]
    fn every_occurrence_on_a_line_goes() {
        assert_eq!(
            redact("token: a1 password=b2 K3S_TOKEN=c3 x=1"),
            "token: [redacted] password=[redacted] K3S_TOKEN=[redacted] x=1"
        );
        assert_eq!(
            redact("{\"id-token\": \"A\", \"refresh-token\": \"B\", \"name\": \"n\"}"),
            "{\"id-token\": \"[redacted]\", \"refresh-token\": \"[redacted]\", \"name\": \"n\"}"
        );
    }

    #[test]
    fn key_classes_match_in_any_case() {
        for k in [
            "TOKEN",
            "Token",
            "id-token",
            "refresh-token",
            "GITHUB_TOKEN",
            "K3S_AGENT_TOKEN",
            "bearerToken",
            "client_secret",
            "Secret",
            "PASSWORD",
            "db_password",
            "client-key-data",
            "Client-Certificate-Data",
            "private_key",
            "apiKey",
        ] {
            assert_eq!(
                redact(&format!("{k}: v4lue")),
                format!("{k}: [redacted]"),
                "{k}"
            );
        }
        assert_eq!(redact("name: v4lue"), "name: v4lue");
        assert_eq!(redact("token_count == 3"), "token_count == 3");
    }

    #[test]
    fn quoted_values_even_unclosed_or_multi_line() {
        assert_eq!(
            redact("password: 'it''s s3cret' next"),
            "password: '[redacted]' next"
        );
        assert_eq!(
            redact("token: \"a\\\"b\" x: 1"),
            "token: \"[redacted]\" x: 1"
        );
        let r = redact("token: \"abc\n  def\"\nname: n");
        assert_eq!(r, "token: \"[redacted]\n[redacted]\"\nname: n");
    }

    #[test]
    fn yaml_block_scalars_and_values_below_the_key() {
        let r = redact("users:\n- token: |\n    s3cret1\n    s3cret2\n\n  name: n\nother: o");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("name: n") && r.contains("other: o"), "{r}");
        let r = redact("client-key-data: >-\n  AAAA\n  BBBB\nserver: s");
        assert_eq!(
            r,
            "client-key-data: [redacted]\n  [redacted]\n  [redacted]\nserver: s"
        );
        let r = redact("password:\n  multi\n  line\nx: 1");
        assert_eq!(r, "password:\n  [redacted]\n  [redacted]\nx: 1");
        let items = [
            "k3s.yaml:3: token: |",
            "k3s.yaml:4:   s3cret",
            "k3s.yaml:5: x: 1",
        ];
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            redact_all(&items),
            [
                "k3s.yaml:3: token: [redacted]",
                "k3s.yaml:4:   [redacted]",
                "k3s.yaml:5: x: 1"
            ]
        );
    }

    #[test]
    fn broken_pem_blocks_stay_hidden() {
        let r = redact(
            "a\n-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB-----END RSA PRIVATE KEY-----tail\nz",
        );
        assert_eq!(r, "a\n[redacted]\n[redacted]\n[redacted]tail\nz");
        // BEGIN without END: everything after it.
        let r = redact("x -----BEGIN EC PRIVATE KEY-----MHcC\nMHcD\nmore");
        assert!(!r.contains("MHc") && !r.contains("more"), "{r}");
        // One line with both markers, and base64 of PEM under any key.
        let r = redact("k: -----BEGIN X-----QUJD-----END X----- ok");
        assert_eq!(r, "k: [redacted] ok");
        assert_eq!(redact("data LS0tLS1CRUdJTiBFQw== ok"), "data [redacted] ok");
    }

    #[test]
    fn url_userinfo_and_byte_dumps_go() {
        assert_eq!(
            redact("server: https://admin:PASS@host:6443/x and http://u@h"),
            "server: https://[redacted]@host:6443/x and http://[redacted]@h"
        );
        assert_eq!(
            redact("see https://example.com/a@b"),
            "see https://example.com/a@b"
        );
        assert_eq!(
            redact("illegal section start: [45, 45, 45, 45, 45, 66, 69, 71, 73, 78, 32]"),
            "illegal section start: [[redacted]]"
        );
        assert_eq!(redact("ports 80, 443, 6443"), "ports 80, 443, 6443");
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: Bearer [redacted]"
        );
    }
}
