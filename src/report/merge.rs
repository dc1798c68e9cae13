//! `krc report merge`'s model: the fleet of hosts, each one report file
//! judged on its own, for the fleet writers (JUnit: `merge_junit`, HTML:
//! `fleet_html`, JSON: `merge_json`). `merge_read` reads the files.
//!
//! Judging: a report's own `verdict` when it has one; an older report
//! (without `verdict`) by its `passed` and its checks (`unjudged`).

use serde::{Deserialize, Serialize};

/// The merged document's schema; like the host reports', fields are only
/// ever added within v1.
pub(crate) const FLEET_SCHEMA: &str = "krc.fleet/v1";

/// A check as the host report records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Check {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) title: String,
    pub(crate) severity: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) summary: String,
    #[serde(default)]
    pub(crate) evidence: Vec<String>,
    #[serde(default)]
    pub(crate) remedy: Option<String>,
    #[serde(default)]
    pub(crate) duration: f64,
    /// A skip for missing facts or probes (absent in older reports).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) unjudged: bool,
}

impl Check {
    pub(crate) fn required(&self) -> bool {
        self.severity == "required"
    }

    /// A failure that counts (an advisory failure is recorded as a
    /// warning; one that is `fail` was failed by --warnings-as-failures).
    pub(crate) fn failed(&self) -> bool {
        self.status == "fail" || (self.status == "error" && self.required())
    }

    /// The group a check id belongs to (`net` of `net.cidr`).
    pub(crate) fn group(&self) -> &str {
        self.id.split('.').next().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Phase {
    pub(crate) phase: String,
    #[serde(default)]
    pub(crate) suite: String,
    #[serde(default)]
    pub(crate) started: Option<String>,
    #[serde(default)]
    pub(crate) duration: f64,
    pub(crate) checks: Vec<Check>,
}

/// What a host's report says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HostVerdict {
    /// Listed first: a required check failed.
    Failed,
    /// A required check could not be judged.
    Inconclusive,
    /// The install waits for a reboot.
    RebootRequired,
    /// The install waits for the user's next login.
    ReloginRequired,
    Passed,
}

impl HostVerdict {
    pub(crate) fn name(self) -> &'static str {
        match self {
            HostVerdict::Failed => "failed",
            HostVerdict::Inconclusive => "inconclusive",
            HostVerdict::RebootRequired => "reboot-required",
            HostVerdict::ReloginRequired => "relogin-required",
            HostVerdict::Passed => "passed",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            HostVerdict::Failed => "FAILED",
            HostVerdict::Inconclusive => "INCONCLUSIVE",
            HostVerdict::RebootRequired => "REBOOT REQUIRED",
            HostVerdict::ReloginRequired => "RELOGIN REQUIRED",
            HostVerdict::Passed => "QUALIFIED",
        }
    }
}

/// One host of the fleet: one report file.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// Unique in the fleet: the hostname, with the host id (or a number)
    /// when two reports share a hostname.
    pub(crate) label: String,
    pub(crate) file: String,
    pub(crate) hostname: String,
    pub(crate) host_id: Option<String>,
    pub(crate) meta: serde_json::Map<String, serde_json::Value>,
    pub(crate) phases: Vec<Phase>,
    pub(crate) verdict: HostVerdict,
    /// Whether the report said its verdict (false: judged from `passed`
    /// and the checks, an older krc's report).
    pub(crate) verdict_reported: bool,
}

impl Host {
    /// The phases that decide the verdict: in a `krc run` report the
    /// preflight phase is the host before the install fixed it.
    pub(crate) fn deciding(&self) -> impl Iterator<Item = &Check> {
        let has_install = self.phases.iter().any(|p| p.phase == "install");
        self.phases
            .iter()
            .filter(move |p| !(has_install && p.phase == "preflight"))
            .flat_map(|p| &p.checks)
    }

    pub(crate) fn failed_ids(&self) -> Vec<&str> {
        self.deciding()
            .filter(|c| c.failed())
            .map(|c| c.id.as_str())
            .collect()
    }

    pub(crate) fn unjudged_ids(&self) -> Vec<&str> {
        self.deciding()
            .filter(|c| c.unjudged && c.required())
            .map(|c| c.id.as_str())
            .collect()
    }

    /// A string field of the meta ("" when absent).
    pub(crate) fn meta_str(&self, key: &str) -> &str {
        self.meta.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }

    /// `debian 12`, or `unknown`.
    pub(crate) fn distribution(&self) -> String {
        let d = self.meta.get("distribution");
        let field = |k: &str| d.and_then(|d| d.get(k)).and_then(|v| v.as_str());
        match (field("id"), field("version_id")) {
            (Some(id), Some(v)) => format!("{id} {v}"),
            (Some(id), None) => id.to_string(),
            _ => "unknown".to_string(),
        }
    }
}

/// The fleet: its hosts, the worst first.
#[derive(Debug, Clone)]
pub(crate) struct Fleet {
    pub(crate) hosts: Vec<Host>,
}

/// The fleet's verdict: failed if a host failed, inconclusive if a host
/// is not qualified for another reason, else passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FleetVerdict {
    Passed,
    Failed,
    Inconclusive,
}

impl FleetVerdict {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FleetVerdict::Passed => "passed",
            FleetVerdict::Failed => "failed",
            FleetVerdict::Inconclusive => "inconclusive",
        }
    }
}

impl Fleet {
    pub(crate) fn verdict(&self) -> FleetVerdict {
        if self.hosts.iter().any(|h| h.verdict == HostVerdict::Failed) {
            FleetVerdict::Failed
        } else if self.hosts.iter().any(|h| h.verdict != HostVerdict::Passed) {
            FleetVerdict::Inconclusive
        } else {
            FleetVerdict::Passed
        }
    }

    pub(crate) fn count(&self, v: HostVerdict) -> usize {
        self.hosts.iter().filter(|h| h.verdict == v).count()
    }
}

/// Makes every label unique: a hostname shared by several reports gets
/// the host id's first 8 digits (`bookworm~3f2a9c01`), and reports that
/// still collide (no host id, or one host's two reports) a number.
pub(super) fn label_hosts(hosts: &mut [Host]) {
    use std::collections::HashMap;
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for h in hosts.iter() {
        *by_name.entry(h.hostname.clone()).or_default() += 1;
    }
    for h in hosts.iter_mut() {
        if by_name[&h.hostname] > 1
            && let Some(id) = &h.host_id
        {
            let short: String = id.chars().take(8).collect();
            h.label = format!("{}~{short}", h.hostname);
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for h in hosts.iter_mut() {
        let n = seen.entry(h.label.clone()).or_default();
        *n += 1;
        if *n > 1 {
            h.label = format!("{}#{n}", h.label);
        }
    }
    // A numbered label could equal a real hostname (a host named `a#2`):
    // number again until every label is unique.
    let mut taken = std::collections::HashSet::new();
    for h in hosts.iter_mut() {
        let mut label = h.label.clone();
        let mut n = 2;
        while !taken.insert(label.clone()) {
            label = format!("{}#{n}", h.label);
            n += 1;
        }
        h.label = label;
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
