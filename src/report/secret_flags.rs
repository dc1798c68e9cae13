//! Redaction of k3s's secret settings in command lines: the value after
//! `--token` and the other flags of the one table of k3s's secrets
//! (host::k3sconfig::K3S_SECRETS: flag, config key, environment
//! variable), so that a token is hidden however it was given: `--token X`,
//! `--token=X`, `token: X`, `K3S_TOKEN=X`, or an argument of a
//! `/proc/PID/cmdline` (which host::procs shows with its argument
//! boundaries kept).

use super::redact::{MARK, Open, closing_quote};
use crate::host::k3sconfig::K3S_SECRETS;

/// Does the argument `arg` take a secret as the next argument? The short
/// `-t` counts only on a k3s command line (`iptables -t nat` is no token).
fn takes_secret(arg: &str, k3s_line: bool) -> bool {
    K3S_SECRETS
        .iter()
        .any(|s| arg == s.flag || (k3s_line && s.short == Some(arg)))
}

/// Does the line hold a k3s command line: a word naming the k3s binary
/// (`k3s`, `/usr/local/bin/k3s`, `ExecStart=/opt/bin/k3s`, a renamed
/// `k3s-arm64`, quoted or not)
/// followed by a subcommand or a flag? Prose that names k3s ("k3s cannot
/// use them — fix: findmnt -t cgroup") is not one, so its `-t` stays.
fn k3s_command(line: &str) -> bool {
    let words: Vec<&str> = line.split(is_sep).filter(|w| !w.is_empty()).collect();
    words.windows(2).any(|w| {
        let name = w[0].trim_matches(|c| c == '"' || c == '\'');
        let base = name.rsplit(['/', '=']).next().unwrap_or(name);
        base.starts_with("k3s")
            && (matches!(w[1], "server" | "agent" | "etcd-snapshot" | "token")
                || w[1].starts_with('-'))
    })
}

fn is_sep(c: char) -> bool {
    c.is_whitespace() || c == '\0'
}

/// Hides the value after a space-separated secret flag in a text line
/// (an `ExecStart=` line, a quoted command line): `--token X`,
/// `--token "a b"`. A quote left open hides the lines after it.
pub(super) fn flag_values(line: &str, open: &mut Open) -> String {
    let k3s = k3s_command(line);
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let c = line[i..].chars().next().unwrap_or(' ');
        if is_sep(c) {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let end = line[i..].find(is_sep).map_or(line.len(), |n| i + n);
        let word = &line[i..end];
        out.push_str(word);
        i = end;
        if !takes_secret(word, k3s) {
            continue;
        }
        // The separators, then the value.
        let v = line[i..]
            .find(|c: char| !is_sep(c))
            .map_or(line.len(), |n| i + n);
        out.push_str(&line[i..v]);
        if line[v..].trim_end() == "\\" {
            // systemd's line continuation: the value is on the next line.
            out.push_str(&line[v..]);
            *open = Open::FlagValue;
            return out;
        }
        i = hide_value(line, v, &mut out, open);
        if *open != Open::Nothing {
            return out;
        }
    }
    out
}

/// Hides the word (or quoted value) starting at `v`, pushing the mark
/// to `out`; returns where the line resumes. A quote left open hides the
/// lines after it (`open`).
pub(super) fn hide_value(line: &str, v: usize, out: &mut String, open: &mut Open) -> usize {
    let Some(first) = line[v..].chars().next() else {
        return line.len();
    };
    if matches!(first, '"' | '\'') {
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
    } else {
        out.push_str(MARK);
        line[v..].find(is_sep).map_or(line.len(), |n| v + n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::redact::{redact, redact_all};
    use super::*;
    use crate::host::procs::shown;

    #[test]
    fn every_form_of_every_secret_is_hidden() {
        for s in K3S_SECRETS {
            let key = s.key;
            let flag = s.flag;
            let mut forms = vec![
                format!("ExecStart=/usr/local/bin/k3s server {flag} S3cretValue --node-name n1"),
                format!("ExecStart=/usr/local/bin/k3s server {flag}=S3cretValue --node-name n1"),
                format!("{key}: S3cretValue"),
                format!("{key}: \"name=x,joinKey=S3cretValue\""),
                format!("{key}: name=x,joinKey=S3cretValue"),
            ];
            for e in s.env {
                forms.push(format!("Environment={e}=S3cretValue"));
                forms.push(format!("Environment=\"{e}=a b S3cretValue\" OTHER=1"));
            }
            if let Some(short) = s.short {
                forms.push(format!("k3s server {short} S3cretValue"));
            }
            for f in forms {
                let r = redact(&f);
                assert!(!r.contains("S3cret"), "{f} -> {r}");
            }
            let argv = [
                "/usr/local/bin/k3s",
                "server",
                flag,
                "a b S3cretValue",
                "-d",
                "/x",
            ];
            let r = redact(&shown(&argv));
            assert_eq!(
                r,
                format!("/usr/local/bin/k3s server {flag} \"[redacted]\" -d /x")
            );
        }
    }

    #[test]
    fn neighbours_stay() {
        for line in [
            "ExecStart=/usr/local/bin/k3s server --token-file /etc/k3s/token --node-name n1",
            "k3s server --vpn-auth-file /root/vpn --datastore-keyfile /k.pem",
            "iptables -t nat -L",
            "token-file: /etc/k3s/token",
            "K3S_TOKEN_FILE=/etc/k3s/token",
            "node-name: n1",
        ] {
            assert_eq!(redact(line), line);
        }
        assert_eq!(
            redact("k3s server -t abc --node-name n1"),
            "k3s server -t [redacted] --node-name n1"
        );
        for line in [
            "ExecStart=/usr/local/bin/k3s server -t abc",
            "\"/opt/bin/k3s\" agent -t abc",
            "k3s\0server\0-t\0abc",
            "/usr/local/bin/k3s -t abc server",
            "/usr/local/bin/k3s-arm64 server -t abc",
        ] {
            assert!(!redact(line).contains("abc"), "{line}");
        }
        // Prose that names k3s keeps a remedy's `-t` whole.
        let prose = "k3s cannot use them in the v2 tree — fix: findmnt -t cgroup";
        assert_eq!(redact(prose), prose);
    }

    #[test]
    fn the_vpn_auth_of_config_yaml_goes() {
        let lines: Vec<String> = [
            "/etc/rancher/k3s/config.yaml:3: vpn-auth: \"name=tailscale,joinKey=tskey-auth-SECRET\"",
            "/etc/rancher/k3s/config.yaml:4: node-name: n1",
        ]
        .map(String::from)
        .to_vec();
        let r = redact_all(&lines);
        assert_eq!(
            r,
            [
                "/etc/rancher/k3s/config.yaml:3: vpn-auth: \"[redacted]\"",
                "/etc/rancher/k3s/config.yaml:4: node-name: n1"
            ]
        );
        assert_eq!(redact("joinKey=abcd1234"), "joinKey=[redacted]");
    }

    #[test]
    fn a_value_after_a_line_continuation_goes() {
        let unit = "ExecStart=/usr/local/bin/k3s server \\\n    --token \\\n    S3cretValue \\\n    --node-name n1";
        assert_eq!(
            redact(unit),
            "ExecStart=/usr/local/bin/k3s server \\\n    --token \\\n    [redacted] \\\n    --node-name n1"
        );
        let lines: Vec<String> = [
            "u.service:5: ExecStart=/k3s server --token \\",
            "u.service:6:   \"a b\" --rootless",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            redact_all(&lines),
            [
                "u.service:5: ExecStart=/k3s server --token \\",
                "u.service:6:   \"[redacted]\" --rootless"
            ]
        );
    }

    #[test]
    fn pairs_before_a_continued_flag_still_go() {
        assert_eq!(
            redact("Environment=K3S_TOKEN=abc k3s server --token \\\nxyz"),
            "Environment=K3S_TOKEN=[redacted] k3s server --token \\\n[redacted]"
        );
    }

    #[test]
    fn an_open_quote_after_a_flag_hides_the_lines_after_it() {
        let r = redact("k3s server --token \"abc\ndef\" --node-name n");
        assert_eq!(
            r,
            "k3s server --token \"[redacted]\n[redacted]\" --node-name n"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::super::redact::redact;
    use super::*;
    use crate::host::k3sconfig::K3sSecret;
    use crate::host::procs::shown;
    use proptest::prelude::*;

    /// systemd and YAML double quotes: `\` and `"` escaped.
    fn dq(v: &str) -> String {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }

    /// The forms a secret takes, as k3s, systemd and the kernel write them.
    fn forms(s: &K3sSecret, v: &str) -> Vec<String> {
        let mut out = vec![
            format!(
                "ExecStart=/usr/local/bin/k3s server {} {} --node-name n1",
                s.flag,
                dq(v)
            ),
            format!("ExecStart=/usr/local/bin/k3s server \"{}={}\"", s.flag, {
                let q = dq(v);
                q[1..q.len() - 1].to_string()
            }),
            format!(
                "ExecStart=/usr/local/bin/k3s server {} \\\n    {} \\\n    --node-name n1",
                s.flag,
                dq(v)
            ),
            format!("{}: {}", s.key, dq(v)),
            format!("/etc/rancher/k3s/config.yaml:2: {}: {}", s.key, dq(v)),
        ];
        for e in s.env {
            let q = dq(&format!("{e}={v}"));
            out.push(format!("Environment={q} PATH=/usr/bin"));
        }
        // /proc/PID/cmdline: NUL-separated arguments, as host::procs
        // shows them (and so as evidence quotes them).
        let raw = format!(
            "/usr/local/bin/k3s\0server\0{}\0{v}\0--node-name\0n1\0",
            s.flag
        );
        let args: Vec<&str> = raw.split('\0').filter(|a| !a.is_empty()).collect();
        out.push(format!("/proc/42/cmdline: {} — uid 1000", shown(&args)));
        let eq = format!("{}={v}", s.flag);
        out.push(shown(&["/usr/local/bin/k3s", "server", eq.as_str()]));
        out
    }

    /// Does any run of 4 bytes of `secret` appear in `shown` that is not
    /// also in the form's fixed text (`context`, the form with the
    /// secret taken out)?
    fn leaks(secret: &str, shown: &str, context: &str) -> Option<String> {
        let b = secret.as_bytes();
        (0..b.len().saturating_sub(3))
            .map(|i| &b[i..i + 4])
            .filter_map(|w| std::str::from_utf8(w).ok())
            .find(|w| shown.contains(w) && !context.contains(w) && !MARK.contains(w))
            .map(str::to_string)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_run_of_a_secret_survives(
            secret in "[ -~]{4,40}",
            which in 0..K3S_SECRETS.len(),
        ) {
            let s = &K3S_SECRETS[which];
            for (form, context) in forms(s, &secret).iter().zip(forms(s, "")) {
                let shown = redact(form);
                prop_assert!(
                    leaks(&secret, &shown, &context).is_none(),
                    "{form:?} -> {shown:?}"
                );
            }
        }

        #[test]
        fn other_flags_keep_their_values(
            value in "[A-Za-z0-9_./-]{1,30}",
            flag in prop::sample::select(vec![
                "--node-name", "--data-dir", "--token-file", "--agent-token-file",
                "--vpn-auth-file", "--datastore-keyfile", "--server", "--snapshotter",
                "--node-label", "--write-kubeconfig-mode",
            ]),
        ) {
            prop_assume!(!takes_secret(&value, true));
            let line = format!("ExecStart=/usr/local/bin/k3s server {flag} {value} --rootless");
            prop_assert_eq!(redact(&line), line.clone());
            let line = format!("{}: {value}", flag.trim_start_matches('-'));
            prop_assert_eq!(redact(&line), line.clone());
            let argv = ["/usr/local/bin/k3s", "server", flag, value.as_str()];
            prop_assert_eq!(redact(&shown(&argv)), shown(&argv));
        }
    }
}
