//! The merged document of `krc report merge`, schema `krc.fleet/v1`.

use serde::Serialize;

use super::merge::{FLEET_SCHEMA, Fleet, HostVerdict, Phase};

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
