//! The install's own report: one testcase per step in an `install`
//! testsuite, through the same records and writers as the check suites.

use crate::checks::{Phase, Severity, Verdict};
use crate::report::{CheckRecord, PhaseReport, Subject};

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
    let records = steps
        .iter()
        .map(|r| {
            let mut v = r.outcome.verdict();
            v.evidence = r.evidence.clone();
            v.remedy = r.remedy.clone();
            CheckRecord::judged(
                Subject {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    phase: Phase::Install,
                    severity: Severity::Required,
                },
                v,
                r.duration,
            )
        })
        .collect();
    PhaseReport::of_records(Phase::Install, "install", records)
}
