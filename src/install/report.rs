//! The install's own report: one testcase per step in an `install`
//! testsuite, through the same records and writers as the check suites.

use crate::checks::{Phase, Severity, Verdict};
use crate::report::{CheckRecord, PhaseReport};

/// How a step ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Satisfied(String),
    Applied(String),
    Failed(String),
    /// Applied, then undone because a later step failed.
    Undone(String),
    Skipped(String),
    /// Not reached: the run stopped before it.
    NotRun(String),
}

impl Outcome {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::Satisfied(_) => "satisfied",
            Outcome::Applied(_) => "applied",
            Outcome::Failed(_) => "FAILED",
            Outcome::Undone(_) => "undone",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotRun(_) => "not run",
        }
    }

    pub(crate) fn text(&self) -> &str {
        match self {
            Outcome::Satisfied(s)
            | Outcome::Applied(s)
            | Outcome::Failed(s)
            | Outcome::Undone(s)
            | Outcome::Skipped(s)
            | Outcome::NotRun(s) => s,
        }
    }

    fn verdict(&self) -> Verdict {
        let s = format!("{}: {}", self.label().to_lowercase(), self.text());
        match self {
            Outcome::Satisfied(_) | Outcome::Applied(_) => Verdict::pass(s),
            Outcome::Failed(_) => Verdict::fail(s),
            Outcome::Undone(_) | Outcome::Skipped(_) | Outcome::NotRun(_) => Verdict::skip(s),
        }
    }
}

/// The install testsuite, built from the step results directly: the
/// durations are the steps' own, and the same redaction as every record.
pub(crate) fn phase_report(steps: &[super::apply::StepResult]) -> PhaseReport {
    use crate::report::redact::{redact, redact_all};
    let records = steps
        .iter()
        .map(|r| {
            let v = r.outcome.verdict();
            CheckRecord {
                group: r.id.split('.').next().unwrap_or(&r.id).to_string(),
                id: r.id.clone(),
                phase: Phase::Install,
                title: r.title.clone(),
                severity: Severity::Required,
                status: v.status,
                summary: redact(&v.summary),
                evidence: redact_all(&r.evidence),
                remedy: r.remedy.as_deref().map(redact),
                duration: r.duration,
            }
        })
        .collect();
    PhaseReport {
        phase: Phase::Install,
        suite: "install".into(),
        started: std::time::SystemTime::now()
            - steps
                .iter()
                .map(|r| r.duration)
                .sum::<std::time::Duration>(),
        duration: steps.iter().map(|r| r.duration).sum(),
        records,
    }
}
