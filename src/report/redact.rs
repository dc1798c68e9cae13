//! Redaction: no report or log ever shows a private key, a client
//! certificate, a token or a password. Applied to every record when it is
//! made, so no writer can forget it. It errs towards hiding: a value that
//! may continue on the next lines (a YAML block scalar, an unclosed quote,
//! a PEM block without its END line) hides those lines too.

pub(super) const MARK: &str = "[redacted]";

/// What the previous line left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Open {
    Nothing,
    /// Inside a PEM block: hidden until its END line.
    Pem,
    /// A secret key's value continues on lines indented deeper than this
    /// column (`key: |`, `key: >-`, or `key:` with the value below).
    Block(usize),
    /// A secret's quoted value is not closed yet.
    Quoted(char),
    /// A secret flag ended its line with a continuation (`--token \\` in
    /// an `ExecStart=`): the next line's first word is its value.
    FlagValue,
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
        Open::FlagValue => {
            *open = Open::Nothing;
            let start = content_start(line);
            let v = line[start..]
                .find(|c: char| !c.is_whitespace())
                .map_or(line.len(), |n| start + n);
            let mut out = line[..v].to_string();
            let rest = super::secret_flags::hide_value(line, v, &mut out, open);
            if *open == Open::Nothing {
                out.push_str(&plain(&line[rest..], open));
            }
            return out;
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

/// A line outside any open value: PEM markers, URL credentials, byte dumps,
/// space-separated secret flags (`--token X`) and `key: value` pairs with
/// secret keys.
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
    let line = super::secret_flags::flag_values(&line, open);
    match *open {
        Open::Nothing => assignments(&line, open),
        // `K3S_TOKEN=x ... --token \`: the line's own pairs still go.
        Open::FlagValue => {
            let mut own = Open::Nothing;
            let shown = assignments(&line, &mut own);
            if own != Open::Nothing {
                *open = own;
            }
            shown
        }
        // The rest of the line is already hidden.
        _ => line,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Is `key` (any case) the name of a secret? Words are split at `-_.`, so
/// `tokens_total` (a count) is not a token but `id-token`, `GITHUB_TOKEN`,
/// `bearerToken` and `client_secret` are. Every name of k3s's secret
/// settings table (`vpn-auth`, `datastore-endpoint`, ...) is too.
fn is_secret(key: &str) -> bool {
    if crate::host::k3sconfig::is_k3s_secret_name(key) {
        return true;
    }
    let k = key.to_ascii_lowercase();
    // `token-file`, `K3S_TOKEN_FILE`: a path says where a secret is kept,
    // not what it is (see report::secret_flags).
    if k.rsplit(['-', '_', '.'])
        .next()
        .is_some_and(|w| matches!(w, "file" | "path"))
    {
        return false;
    }
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
        // tailscale's `joinKey=` in k3s's vpn-auth, an auth key anywhere.
        "joinkey",
        "authkey",
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
        // `--token==x`: for k3s's own settings a value may start with `=`.
        let table = crate::host::k3sconfig::is_k3s_secret_name(key);
        let sep =
            separator(line, j).or_else(|| (table && line[j..].starts_with('=')).then_some(j + 1));
        let Some(v) = sep.filter(|_| is_secret(key)) else {
            out.push_str(key);
            i = j;
            continue;
        };
        out.push_str(&line[i..v]);
        let col = i.saturating_sub(content_start(line));
        // `"K3S_TOKEN=a b"` (systemd's Environment=): the quote before the
        // key closes the value.
        let outer = line[..i]
            .chars()
            .next_back()
            .filter(|q| matches!(q, '"' | '\'') && line[j..].starts_with('='));
        if let Some(q) = outer {
            out.push_str(MARK);
            match closing_quote(line, v, q) {
                Some(e) => i = e,
                None => {
                    *open = Open::Quoted(q);
                    i = line.len();
                }
            }
            continue;
        }
        i = value(line, v, col, table, &mut out, open);
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
/// scanning resumes. A `whole` value (k3s's table: `vpn-auth` holds
/// `name=x,joinKey=y`) runs to the next space, not the next comma.
fn value(
    line: &str,
    v: usize,
    col: usize,
    whole: bool,
    out: &mut String,
    open: &mut Open,
) -> usize {
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
                    c.is_whitespace()
                        || c == '\0'
                        || matches!(c, '"' | '\'')
                        || (!whole && matches!(c, ',' | ';' | '}' | ']' | '&'))
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
pub(super) fn closing_quote(line: &str, from: usize, q: char) -> Option<usize> {
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
#[path = "redact_tests.rs"]
mod tests;
