//! Processes: the k3s servers and agents running on the host.

use super::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct K3sProcess {
    pub(crate) pid: u32,
    pub(crate) uid: Option<u32>,
    /// The command line as [`shown`] writes it.
    pub(crate) cmdline: String,
}

/// Processes whose program is `k3s` (or k3s's renamed `k3s-server` /
/// `k3s-agent`) running `server` or `agent`.
pub(crate) fn k3s_processes(host: &Host) -> Vec<K3sProcess> {
    let mut out = Vec::new();
    for name in host.list_dir("/proc") {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Ok(raw) = host.read(&format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let Some(cmdline) = k3s_cmdline(&raw) else {
            continue;
        };
        let uid = host
            .read(&format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| status_uid(&s));
        out.push(K3sProcess { pid, uid, cmdline });
    }
    out
}

/// Arguments joined by spaces, each one that holds a space, a quote or a
/// backslash (or is empty) in double quotes with `\` and `"` escaped:
/// the argument boundaries survive, so redaction (report::redact, which
/// every record passes through) hides the whole value after `--token`,
/// spaces and all, rather than its first word.
pub(crate) fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty()
                || a.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
            {
                format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `/proc/PID/cmdline` (NUL-separated) as [`shown`] writes it, if it is
/// a k3s server's or agent's.
pub(crate) fn k3s_cmdline(raw: &str) -> Option<String> {
    let args: Vec<&str> = raw.split('\0').filter(|a| !a.is_empty()).collect();
    is_k3s(&args).then(|| shown(&args))
}

/// The real uid on the `Uid:` line of a `/proc/PID/status`.
pub(crate) fn status_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn is_k3s(args: &[&str]) -> bool {
    let Some(prog) = args.first() else {
        return false;
    };
    let base = prog.rsplit('/').next().unwrap_or(prog);
    match base {
        "k3s" => matches!(args.get(1), Some(&"server") | Some(&"agent")),
        // k3s rewrites its argv[0] once running.
        _ => {
            base.starts_with("k3s server")
                || base.starts_with("k3s agent")
                || base == "k3s-server"
                || base == "k3s-agent"
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_k3s_command_lines() {
        assert!(super::is_k3s(&[
            "/usr/local/bin/k3s",
            "server",
            "--rootless"
        ]));
        assert!(super::is_k3s(&["/usr/local/bin/k3s server"]));
        assert!(!super::is_k3s(&["/usr/local/bin/k3s", "kubectl", "get"]));
        assert!(!super::is_k3s(&["bash", "k3s"]));
    }

    #[test]
    fn arguments_keep_their_boundaries() {
        assert_eq!(
            super::shown(&["k3s", "server", "--token", "a b\"c\\", ""]),
            r#"k3s server --token "a b\"c\\" """#
        );
    }
}
