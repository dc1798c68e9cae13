//! Kernel parameters: the live value under `/proc/sys` and the files that
//! would set it again at boot (`sysctl --system` order).

use super::{FactError, Host};

/// Where `sysctl --system` reads from; a later directory does not override
/// an earlier one's file of the same name, and `/etc/sysctl.conf` comes last.
const SYSCTL_DIRS: &[&str] = &[
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

pub(crate) fn proc_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// The live value, or None when the kernel has no such parameter.
pub(crate) fn live(host: &Host, key: &str) -> Result<Option<String>, FactError> {
    Ok(host
        .read_opt(&proc_path(key))?
        .map(|v| v.trim().to_string()))
}

/// The live value of an integer parameter (a flag such as ip_forward).
/// Anything else in the file is a malformed read, not a value to judge:
/// an empty or garbled `/proc/sys` file must not read as "is not 1".
pub(crate) fn live_int(host: &Host, key: &str) -> Result<Option<String>, FactError> {
    let value = live(host, key)?;
    match &value {
        Some(v) if v.parse::<i64>().is_err() && v.parse::<u64>().is_err() => Err(
            FactError::malformed(&proc_path(key), 1, format!("{v:?} is not an integer")),
        ),
        _ => Ok(value),
    }
}

/// A persisted assignment: `FILE:LINE: key = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Persisted {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) value: String,
}

impl std::fmt::Display for Persisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.value)
    }
}

/// The assignment of `key` that wins at boot, if any file sets it.
pub(crate) fn persisted(host: &Host, key: &str) -> Option<Persisted> {
    let mut seen = std::collections::BTreeMap::new();
    for dir in SYSCTL_DIRS {
        for name in host.list_dir(dir) {
            if name.ends_with(".conf") {
                seen.entry(name.clone())
                    .or_insert_with(|| format!("{dir}/{name}"));
            }
        }
    }
    let mut files: Vec<String> = seen.into_values().collect();
    files.push("/etc/sysctl.conf".to_string());
    let mut winner = None;
    for file in files {
        let Ok(text) = host.read(&file) else { continue };
        if let Some((line, value)) = last_assignment(&text, key) {
            winner = Some(Persisted { file, line, value });
        }
    }
    winner
}

/// The last assignment of `key` in one file's text: (line, value).
pub(crate) fn last_assignment(text: &str, key: &str) -> Option<(usize, String)> {
    let mut last = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(value) = assignment(line, key) {
            last = Some((i + 1, value));
        }
    }
    last
}

fn assignment(line: &str, key: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('-');
    if line.starts_with('#') || line.starts_with(';') {
        return None;
    }
    let (k, v) = line.split_once('=')?;
    (k.trim().replace('/', ".") == key).then(|| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_match_both_spellings() {
        assert_eq!(
            assignment("net.ipv4.ip_forward = 1", "net.ipv4.ip_forward").as_deref(),
            Some("1")
        );
        assert_eq!(
            assignment("net/ipv4/ip_forward=0", "net.ipv4.ip_forward").as_deref(),
            Some("0")
        );
        assert_eq!(
            assignment("#net.ipv4.ip_forward=1", "net.ipv4.ip_forward"),
            None
        );
        assert_eq!(
            proc_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
    }
}
