//! Reading host reports for `krc report merge`: each file is opened
//! without blocking (a FIFO cannot hang the merge), must be a regular file
//! of at most [`MAX_REPORT_BYTES`], and is parsed by serde into the fields
//! the fleet needs. A malformed file is one line naming the file and the
//! line and column, never serde's own message, which can quote the
//! document's text (and so a secret).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::merge::{FLEET_SCHEMA, Fleet, Host, HostVerdict, Phase, label_hosts};

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
            // A reader that panicked must not drop its hosts silently.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
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
    let reported = doc.verdict.as_deref().map(|v| match v {
        "passed" => HostVerdict::Passed,
        "failed" => HostVerdict::Failed,
        "inconclusive" => HostVerdict::Inconclusive,
        "reboot-required" => HostVerdict::RebootRequired,
        "relogin-required" => HostVerdict::ReloginRequired,
        // A verdict this krc does not know: the host is not judged
        // qualified on a word it cannot read.
        _ => HostVerdict::Inconclusive,
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
