//! Subordinate ids from NSS: when `/etc/nsswitch.conf` names a `subid:`
//! source other than `files` (sssd for FreeIPA, for instance), shadow's
//! libsubid asks that source, not /etc/subuid and /etc/subgid, and
//! newuidmap/newgidmap follow it. `getsubids USER` and `getsubids -g USER`
//! ask the same source.

use std::process::Command;
use std::time::Duration;

use super::probes::{clean_env, run_with_timeout};
use super::{FactError, Host, Origin, Probe};

pub(crate) const NSSWITCH: &str = "/etc/nsswitch.conf";
const TIMEOUT: Duration = Duration::from_secs(5);

/// The `subid:` source of nsswitch.conf when it is not `files`:
/// (source, evidence line).
pub(crate) fn nss_source(host: &Host) -> Result<Option<(String, String)>, FactError> {
    let Some(text) = host.read_opt(NSSWITCH)? else {
        return Ok(None);
    };
    super::plain_text(&text, NSSWITCH)?;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.split('#').next().unwrap_or("").trim();
        if let Some(v) = l.strip_prefix("subid:") {
            let v = v.trim();
            if !v.is_empty() && v != "files" {
                return Ok(Some((
                    v.to_string(),
                    format!("{NSSWITCH}:{}: {}", i + 1, raw.trim()),
                )));
            }
        }
    }
    Ok(None)
}

/// One range as getsubids prints it: `0: alice 100000 65536`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NssRange {
    pub(crate) owner: String,
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) text: String,
}

/// The ranges in getsubids' output; Err: the output, when it holds none.
pub(crate) fn parse(out: &str) -> Result<Vec<NssRange>, String> {
    let mut v = Vec::new();
    for l in out.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        if let [idx, owner, start, count] = words.as_slice()
            && idx.ends_with(':')
            && let (Ok(start), Ok(count)) = (start.parse(), count.parse())
        {
            v.push(NssRange {
                owner: owner.to_string(),
                start,
                count,
                text: l.trim().to_string(),
            });
        }
    }
    if v.is_empty() {
        Err(out.trim().to_string())
    } else {
        Ok(v)
    }
}

/// `getsubids [-g] USER`: its output, or why it failed. On a tree, the
/// answer of `[probes.getsubids]` (`uid`, `gid`) in krc-fixture.toml.
pub(crate) fn getsubids(host: &Host, user: &str, group: bool) -> Probe<Result<String, String>> {
    let shown = if group {
        format!("getsubids -g {user}")
    } else {
        format!("getsubids {user}")
    };
    if host.origin() == Origin::Tree {
        let key = if group { "gid" } else { "uid" };
        return match host.fixture_probes().getsubids.get(key) {
            None => Probe::NotRun(format!(
                "{shown}: live probe not run: krc-fixture.toml has no [probes.getsubids] {key} answer"
            )),
            Some(a) => Probe::Answer(Ok(a.clone())),
        };
    }
    let mut cmd = Command::new("getsubids");
    clean_env(&mut cmd);
    if group {
        cmd.arg("-g");
    }
    cmd.arg(user);
    let answer = Probe::Answer(match run_with_timeout(&mut cmd, TIMEOUT) {
        Err(e) => Err(format!("{shown}: {e}")),
        Ok(o) => {
            let out = o.stdout.clone();
            let err = o.stderr.trim().to_string();
            if o.status.success() {
                Ok(out)
            } else {
                Err(format!(
                    "{shown}: {}",
                    if err.is_empty() {
                        out.trim().to_string()
                    } else {
                        err
                    }
                ))
            }
        }
    });
    if let Some(rec) = host.recorder() {
        rec.getsubids(if group { "gid" } else { "uid" }, &answer);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_getsubids_output() {
        let r = parse("0: alice 200000 65536\n1: alice 300000 100\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].start, 200000);
        assert_eq!(r[1].count, 100);
        assert_eq!(
            parse("Error fetching ranges\n").unwrap_err(),
            "Error fetching ranges"
        );
    }
}
