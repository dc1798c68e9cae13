//! The install's own report: one testcase per step in an `install`
//! testsuite, through the same records and writers as the check suites.

use std::sync::{Arc, Mutex};

use crate::checks::{Phase, Severity, Status, Verdict};
use crate::report::PhaseReport;
use crate::report::terminal::Printer;
use crate::suite::runner::{self, Task};

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

/// Runs the outcomes through the suite runner so the report writers see
/// ordinary records (durations are the runner's, not the steps').
pub(crate) fn phase_report(
    steps: &[(&'static str, &'static str, Outcome, Vec<String>)],
) -> PhaseReport {
    let tasks: Vec<Task> = steps
        .iter()
        .map(|(id, title, outcome, evidence)| {
            let mut v = outcome.verdict();
            v.evidence = evidence.clone();
            if v.status == Status::Fail {
                v.remedy = Some("see the evidence; krc undid this run's changes, fix the cause and run krc install again".into());
            }
            Task {
                id: (*id).to_string(),
                title: (*title).to_string(),
                phase: Phase::Install,
                severity: Severity::Required,
                run: Box::new(move || v),
            }
        })
        .collect();
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        ..Default::default()
    };
    let quiet = Arc::new(Mutex::new(Printer::to_writer(Box::new(std::io::sink()), 0)));
    runner::run(Phase::Install, "install", tasks, &args, Some(quiet))
}
