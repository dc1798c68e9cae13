//! What a run produced: one [`CheckRecord`] per check, grouped by phase.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::redact::{redact, redact_all};

use crate::checks::{Phase, Severity, Status, Verdict};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckRecord {
    pub(crate) id: String,
    pub(crate) phase: Phase,
    pub(crate) group: String,
    pub(crate) title: String,
    pub(crate) severity: Severity,
    pub(crate) status: Status,
    pub(crate) summary: String,
    pub(crate) evidence: Vec<String>,
    pub(crate) remedy: Option<String>,
    #[serde(serialize_with = "secs")]
    pub(crate) duration: Duration,
    /// A skip for missing facts or probes, not for a failed prerequisite:
    /// the check could not be judged (a required one makes the run
    /// inconclusive, exit status 5).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) unjudged: bool,
    /// A skip because this check did not pass first (its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prerequisite: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
}

/// `--warnings-as-failures`, set once from the command line before any
/// check runs: a warning is then a failure in every report and the exit
/// status. Process-wide because it is a policy of the whole run (all
/// phases of `krc run` too), not a property of one check.
static WARNINGS_AS_FAILURES: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_warnings_as_failures(on: bool) {
    WARNINGS_AS_FAILURES.store(on, Ordering::Relaxed);
}

pub(crate) fn warnings_as_failures() -> bool {
    WARNINGS_AS_FAILURES.load(Ordering::Relaxed)
}

/// The end of a summary that was a warning and fails under
/// `--warnings-as-failures` (JUnit gives it the type `krc.warn`).
pub(crate) const WARNING_FAILED: &str = "(a warning, failed by --warnings-as-failures)";

/// What a record is about: a check, an install step, or an acceptance
/// check reported without running.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) phase: Phase,
    pub(crate) severity: Severity,
}

/// Where records go as soon as they are known, in suite order: the
/// terminal printer, or nowhere.
pub(crate) trait RecordSink: Send {
    fn record(&mut self, r: &CheckRecord);
}

impl CheckRecord {
    /// The record of a verdict that took `duration`: the severity applied
    /// (an advisory failure warns; `--warnings-as-failures` fails a
    /// warning) and every text redacted, whoever made the verdict.
    pub(crate) fn judged(subject: Subject, mut v: Verdict, duration: Duration) -> CheckRecord {
        let Subject {
            id,
            title,
            phase,
            severity,
        } = subject;
        if severity == Severity::Advisory && v.status == Status::Fail {
            v.status = Status::Warn;
            v.summary = format!("{} (advisory)", v.summary);
        }
        if v.status == Status::Warn && warnings_as_failures() {
            v.status = Status::Fail;
            v.summary = format!("{} {WARNING_FAILED}", v.summary);
        }
        let group = id.split('.').next().unwrap_or(&id).to_string();
        // Install steps skip when satisfied: that is a verdict. A check's
        // skip is unjudged unless a prerequisite decided it.
        let unjudged = v.status == Status::Skip && v.after.is_none() && phase != Phase::Install;
        CheckRecord {
            group,
            id,
            phase,
            title,
            severity,
            status: v.status,
            summary: redact(&v.summary),
            evidence: redact_all(&v.evidence),
            remedy: v.remedy.as_deref().map(redact),
            duration,
            unjudged,
            prerequisite: v.after,
        }
    }

    /// A required check that could not be judged: the run is inconclusive.
    pub(crate) fn unjudged_required(&self) -> bool {
        self.unjudged && self.severity == Severity::Required
    }

    /// Does this record make the run fail (exit status 1)?
    pub(crate) fn blocks(&self) -> bool {
        matches!(self.status, Status::Fail | Status::Error)
            && (self.severity == Severity::Required || warnings_as_failures())
    }

    /// A failure that is a warning failed by `--warnings-as-failures`.
    pub(crate) fn is_failed_warning(&self) -> bool {
        self.status == Status::Fail && self.summary.ends_with(WARNING_FAILED)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PhaseReport {
    pub(crate) phase: Phase,
    pub(crate) suite: String,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) records: Vec<CheckRecord>,
}

impl PhaseReport {
    /// A testsuite of records made without the runner (install steps,
    /// acceptance that could not run), timed by their own durations.
    pub(crate) fn of_records(phase: Phase, suite: &str, records: Vec<CheckRecord>) -> PhaseReport {
        let duration = records.iter().map(|r| r.duration).sum();
        PhaseReport {
            phase,
            suite: suite.to_string(),
            started: SystemTime::now() - duration,
            duration,
            records,
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts::of(&self.records)
    }
}

/// The records that decide a report's verdict. In a `krc run` report
/// (one with an install phase) the preflight testsuite is the host as
/// found, whose failures the install fixes: the verdict comes from the
/// install and the acceptance, as the exit status does.
pub(crate) fn deciding(phases: &[PhaseReport]) -> impl Iterator<Item = &CheckRecord> {
    let has_install = phases.iter().any(|p| p.phase == Phase::Install);
    phases
        .iter()
        .filter(move |p| !(has_install && p.phase == Phase::Preflight))
        .flat_map(|p| &p.records)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) warned: usize,
    pub(crate) skipped: usize,
    pub(crate) errors: usize,
}

impl Counts {
    pub(crate) fn of(records: &[CheckRecord]) -> Counts {
        let mut c = Counts::default();
        for r in records {
            match r.status {
                Status::Pass => c.passed += 1,
                Status::Fail => c.failed += 1,
                Status::Warn => c.warned += 1,
                Status::Skip => c.skipped += 1,
                Status::Error => c.errors += 1,
            }
        }
        c
    }

    /// `3 passed, 1 failed, 2 warned, 0 skipped` (and `, 1 error` if any).
    pub(crate) fn line(&self) -> String {
        let mut s = format!(
            "{} passed, {} failed, {} warned, {} skipped",
            self.passed, self.failed, self.warned, self.skipped
        );
        if self.errors > 0 {
            s.push_str(&format!(
                ", {} error{}",
                self.errors,
                if self.errors == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

/// Facts about the run that every report carries.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunMeta {
    pub(crate) hostname: String,
    pub(crate) kernel: String,
    pub(crate) user: String,
    pub(crate) root: String,
    pub(crate) krc_version: String,
    /// The k3s release or commit the run pins, when it knows one.
    pub(crate) k3s: Option<String>,
    /// How the install verified the k3s artifacts ("pinned", "release
    /// checksums over TLS"), when it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trust: Option<String>,
    /// Every artifact krc accepted, by name, and its SHA-256.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) sha256: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(severity: Severity) -> Subject {
        Subject {
            id: "net.cidr".into(),
            title: "t".into(),
            phase: Phase::Preflight,
            severity,
        }
    }

    /// A record made without the runner gets the runner's rules: the
    /// severity, the redaction, the duration it is given.
    #[test]
    fn a_verdict_becomes_a_record_by_one_rule() {
        let v =
            Verdict::fail("token: s3cr3t-value").evidence("client-key-data: QUJDRA==".to_string());
        let r = CheckRecord::judged(
            subject(Severity::Advisory),
            v.clone(),
            Duration::from_millis(7),
        );
        assert_eq!(r.status, Status::Warn);
        assert!(r.summary.ends_with("(advisory)"), "{}", r.summary);
        assert!(!format!("{r:?}").contains("s3cr3t") && !format!("{r:?}").contains("QUJDRA"));
        assert_eq!(
            (r.group.as_str(), r.duration),
            ("net", Duration::from_millis(7))
        );
        let r = CheckRecord::judged(subject(Severity::Required), v, Duration::ZERO);
        assert_eq!(r.status, Status::Fail);
        assert!(r.blocks());
    }
}
