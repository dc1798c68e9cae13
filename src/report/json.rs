//! The JSON report, schema `krc.report/v1` (documented in the README):
//!
//! ```text
//! { "schema": "krc.report/v1", "meta": {hostname, kernel, user, root, krc_version, k3s,
//!   trust?, sha256?},
//!   "phases": [ { "phase", "suite", "started", "duration",
//!                 "counts": {passed, failed, warned, skipped, errors},
//!                 "checks": [ {id, phase, group, title, severity, status,
//!                              summary, evidence[], remedy, duration,
//!                              unjudged?, prerequisite?} ] } ],
//!   "passed": bool, "verdict": "passed" | "failed" | "inconclusive" |
//!   "reboot-required" | "relogin-required", "exit_status": N }
//! ```
//!
//! `unjudged: true` marks a skip for missing facts or probes (a required
//! one makes the verdict `inconclusive`); `prerequisite` names the check
//! whose failure a skip follows. `passed` is `verdict == "passed"`.
//!
//! Fields are only ever added within v1; a rename or removal is v2.

use serde::Serialize;

use super::{CheckRecord, Counts, PhaseReport, RunMeta};
use crate::fsutil::utc_timestamp;

pub(crate) const SCHEMA: &str = "krc.report/v1";

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    meta: &'a RunMeta,
    phases: Vec<PhaseDoc<'a>>,
    passed: bool,
    verdict: &'static str,
    exit_status: u8,
}

/// How the run ended, as krc exits: the verdict in words and the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ending {
    pub(crate) verdict: &'static str,
    pub(crate) exit_status: u8,
}

#[derive(Serialize)]
struct PhaseDoc<'a> {
    phase: &'static str,
    suite: &'a str,
    started: String,
    duration: f64,
    counts: Counts,
    checks: &'a [CheckRecord],
}

pub(crate) fn render(meta: &RunMeta, phases: &[PhaseReport], ending: Ending) -> String {
    let doc = Doc {
        schema: SCHEMA,
        meta,
        phases: phases
            .iter()
            .map(|p| PhaseDoc {
                phase: p.phase.name(),
                suite: &p.suite,
                started: format!("{}Z", utc_timestamp(p.started)),
                duration: p.duration.as_secs_f64(),
                counts: p.counts(),
                checks: &p.records,
            })
            .collect(),
        passed: ending.verdict == "passed",
        verdict: ending.verdict,
        exit_status: ending.exit_status,
    };
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
