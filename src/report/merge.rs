//! `krc report merge`: the JSON reports (`krc.report/v1`) of many hosts
//! read into one fleet, judged host by host, for the fleet writers
//! (JUnit: `merge_junit`, HTML: `fleet_html`, JSON: `krc.fleet/v1` here).
//!
//! Reading: each file is opened without blocking (a FIFO cannot hang the
//! merge), must be a regular file of at most [`MAX_REPORT_BYTES`], and is
//! parsed by serde into the fields the fleet needs. A malformed file is
//! one line naming the file and the line and column, never serde's own
//! message, which can quote the document's text (and so a secret).
//!
//! Judging: a report's own `verdict` when it has one; an older report
//! (without `verdict`) by its `passed` and its checks (`unjudged`).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The merged document's schema; like the host reports', fields are only
/// ever added within v1.
pub(crate) const FLEET_SCHEMA: &str = "krc.fleet/v1";

/// The largest report krc reads: a host report is some tens of KiB.
pub(crate) const MAX_REPORT_BYTES: u64 = 16 << 20;

/// Why a report could not be merged: one line, naming the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("{file}: cannot read it ({reason}); give the JSON report krc wrote with --json")]
    Unreadable { file: String, reason: String },
    #[error("{file}: not a regular file; give the JSON report krc wrote with --json")]
    NotAFile { file: String },
    #[error(
        "{file}: larger than {max} bytes, not a krc report; give the JSON report krc wrote with --json"
    )]
    TooBig { file: String, max: u64 },
    #[error(
        "{file}: not JSON ({what} at line {line}, column {column}); give the JSON report krc wrote with --json"
    )]
    Syntax {
        file: String,
        what: &'static str,
        line: usize,
        column: usize,
    },
    #[error(
        "{file}: not a krc.report/v1 document (a field is missing or of the wrong type at line {line}, column {column}){hint}"
    )]
    Shape {
        file: String,
        line: usize,
        column: usize,
        hint: &'static str,
    },
    #[error("{file}: its schema is not krc.report/v1{hint}")]
    Schema { file: String, hint: &'static str },
    #[error(
        "{file}: check {index} of phase {phase} has the unknown status or severity it names; a newer krc wrote it: merge with that krc"
    )]
    Unknown {
        file: String,
        phase: usize,
        index: usize,
    },
}

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

#[derive(Deserialize)]
struct HostDoc {
    #[serde(default)]
    schema: String,
    meta: serde_json::Map<String, serde_json::Value>,
    phases: Vec<Phase>,
    #[serde(default)]
    passed: Option<bool>,
    #[serde(default)]
    verdict: Option<String>,
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

/// Reads every file (on all cores: the parse is the merge's cost) and
/// builds the fleet; the first unreadable file, in the order given, is
/// the error.
pub(crate) fn read_fleet(files: &[PathBuf]) -> Result<Fleet, MergeError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = files.len().div_ceil(threads).max(1);
    let parsed: Vec<Result<Host, MergeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|f| read_host(f)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut hosts = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    label_hosts(&mut hosts);
    hosts.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.label.cmp(&b.label))
    });
    Ok(Fleet { hosts })
}

/// A path as an error line shows it: control characters written visibly.
pub(crate) fn shown(path: &Path) -> String {
    visible(&path.display().to_string())
}

/// Text from a report for a terminal line: control characters (an ANSI
/// escape in a hostname) and bidirectional overrides written visibly.
pub(crate) fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, MergeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = shown(path);
    let unreadable = |e: std::io::Error| MergeError::Unreadable {
        file: file.clone(),
        reason: e.kind().to_string(),
    };
    // O_NONBLOCK: opening a FIFO returns at once; it is then refused as
    // not a regular file before anything reads from it.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(unreadable)?;
    let m = f.metadata().map_err(unreadable)?;
    if !m.is_file() {
        return Err(MergeError::NotAFile { file });
    }
    if m.len() > MAX_REPORT_BYTES {
        return Err(MergeError::TooBig {
            file,
            max: MAX_REPORT_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    f.take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(MergeError::TooBig {
            file,
            max: MAX_REPORT_BYTES,
        });
    }
    Ok(bytes)
}

const FLEET_HINT: &str =
    " (it is a merged krc.fleet/v1 document: merge the hosts' own reports instead)";
const REPORT_HINT: &str = "; give the JSON report krc wrote with --json";

/// The schema a document names, if it is a JSON object naming one.
fn schema_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Only {
        schema: Option<String>,
    }
    serde_json::from_slice::<Only>(bytes).ok()?.schema
}

/// Parses one report.
pub(crate) fn parse_host(path: &Path, bytes: &[u8]) -> Result<Host, MergeError> {
    let file = shown(path);
    let fleet_hint = || {
        if schema_of(bytes).as_deref() == Some(FLEET_SCHEMA) {
            FLEET_HINT
        } else {
            REPORT_HINT
        }
    };
    let doc: HostDoc = serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            Category::Data => MergeError::Shape {
                file: file.clone(),
                line,
                column,
                hint: fleet_hint(),
            },
            Category::Syntax => MergeError::Syntax {
                file: file.clone(),
                what: "a syntax error",
                line,
                column,
            },
            Category::Eof => MergeError::Syntax {
                file: file.clone(),
                what: "it ends early",
                line,
                column,
            },
            Category::Io => MergeError::Syntax {
                file: file.clone(),
                what: "unreadable text",
                line,
                column,
            },
        }
    })?;
    if doc.schema != super::json::SCHEMA {
        return Err(MergeError::Schema {
            file,
            hint: fleet_hint(),
        });
    }
    for (pi, p) in doc.phases.iter().enumerate() {
        for (ci, c) in p.checks.iter().enumerate() {
            let status_ok = matches!(
                c.status.as_str(),
                "pass" | "fail" | "warn" | "skip" | "error"
            );
            let severity_ok = matches!(c.severity.as_str(), "required" | "advisory");
            if !status_ok || !severity_ok {
                return Err(MergeError::Unknown {
                    file,
                    phase: pi + 1,
                    index: ci + 1,
                });
            }
        }
    }
    let str_of = |k: &str| doc.meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let hostname = str_of("hostname")
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "unknown-host".to_string());
    let host_id = str_of("host_id").filter(|h| !h.is_empty());
    let mut host = Host {
        label: hostname.clone(),
        file,
        hostname,
        host_id,
        meta: doc.meta,
        phases: doc.phases,
        verdict: HostVerdict::Passed,
        verdict_reported: false,
    };
    let reported = doc.verdict.as_deref().and_then(|v| match v {
        "passed" => Some(HostVerdict::Passed),
        "failed" => Some(HostVerdict::Failed),
        "inconclusive" => Some(HostVerdict::Inconclusive),
        "reboot-required" => Some(HostVerdict::RebootRequired),
        "relogin-required" => Some(HostVerdict::ReloginRequired),
        // A verdict this krc does not know: the host is not judged
        // qualified on a word it cannot read.
        _ => Some(HostVerdict::Inconclusive),
    });
    host.verdict_reported = reported.is_some();
    host.verdict = reported.unwrap_or_else(|| {
        if doc.passed == Some(false) || !host.failed_ids().is_empty() {
            HostVerdict::Failed
        } else if !host.unjudged_ids().is_empty() {
            HostVerdict::Inconclusive
        } else {
            HostVerdict::Passed
        }
    });
    Ok(host)
}

fn read_host(path: &Path) -> Result<Host, MergeError> {
    let bytes = read_bounded(path)?;
    parse_host(path, &bytes)
}

/// Makes every label unique: a hostname shared by several reports gets
/// the host id's first 8 digits (`bookworm~3f2a9c01`), and reports that
/// still collide (no host id, or one host's two reports) a number.
fn label_hosts(hosts: &mut [Host]) {
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

#[derive(Serialize)]
struct FleetDoc<'a> {
    schema: &'static str,
    verdict: &'static str,
    exit_status: u8,
    counts: FleetCounts,
    hosts: Vec<HostDocOut<'a>>,
}

#[derive(Serialize)]
struct FleetCounts {
    hosts: usize,
    passed: usize,
    failed: usize,
    inconclusive: usize,
    reboot_required: usize,
    relogin_required: usize,
}

#[derive(Serialize)]
struct HostDocOut<'a> {
    label: &'a str,
    file: &'a str,
    hostname: &'a str,
    host_id: Option<&'a str>,
    verdict: &'static str,
    /// false: judged from `passed` and the checks (an older report).
    verdict_reported: bool,
    failed: Vec<&'a str>,
    unjudged: Vec<&'a str>,
    meta: &'a serde_json::Map<String, serde_json::Value>,
    phases: &'a [Phase],
}

/// The `krc.fleet/v1` document:
///
/// ```text
/// { "schema": "krc.fleet/v1", "verdict": "passed|failed|inconclusive",
///   "exit_status": N,
///   "counts": {hosts, passed, failed, inconclusive, reboot_required, relogin_required},
///   "hosts": [ {label, file, hostname, host_id, verdict, verdict_reported,
///               failed[], unjudged[], meta: {the host report's meta},
///               phases: [ {phase, suite, started, duration,
///                          checks: [ {id, title, severity, status, summary,
///                                     evidence[], remedy, duration, unjudged?} ]} ]} ] }
/// ```
///
/// Hosts come worst first (failed, inconclusive, reboot, relogin,
/// passed), then by label.
pub(crate) fn render_json(fleet: &Fleet, exit_status: u8) -> String {
    let doc = FleetDoc {
        schema: FLEET_SCHEMA,
        verdict: fleet.verdict().name(),
        exit_status,
        counts: FleetCounts {
            hosts: fleet.hosts.len(),
            passed: fleet.count(HostVerdict::Passed),
            failed: fleet.count(HostVerdict::Failed),
            inconclusive: fleet.count(HostVerdict::Inconclusive),
            reboot_required: fleet.count(HostVerdict::RebootRequired),
            relogin_required: fleet.count(HostVerdict::ReloginRequired),
        },
        hosts: fleet
            .hosts
            .iter()
            .map(|h| HostDocOut {
                label: &h.label,
                file: &h.file,
                hostname: &h.hostname,
                host_id: h.host_id.as_deref(),
                verdict: h.verdict.name(),
                verdict_reported: h.verdict_reported,
                failed: h.failed_ids(),
                unjudged: h.unjudged_ids(),
                meta: &h.meta,
                phases: &h.phases,
            })
            .collect(),
    };
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
