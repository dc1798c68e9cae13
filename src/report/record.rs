//! What a run produced: one [`CheckRecord`] per check, grouped by phase.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::checks::{Phase, Severity, Status};

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

impl CheckRecord {
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
}
