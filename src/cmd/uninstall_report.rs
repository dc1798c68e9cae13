//! `krc uninstall --junit/--json/--html`: what the uninstall did, as an
//! `uninstall` testsuite of one testcase, through the same records and
//! writers as every other report. The installer's events are shown on the
//! terminal as before and remembered here on the way.

use std::time::Instant;

use crate::checks::{Phase, Severity, Verdict};
use crate::install::event::ConfirmError;
use crate::install::{Event, Question, Sink, UninstallOutcome};
use crate::report::{CheckRecord, PhaseReport, Subject};

/// A sink that passes every event on and keeps what the report says.
pub(crate) struct Recorder<S: Sink> {
    inner: S,
    started: Instant,
    user: String,
    count: usize,
    lines: Vec<String>,
    /// Undone in the configuration, in effect at the user's next login.
    pending: Vec<String>,
}

impl<S: Sink> Recorder<S> {
    pub(crate) fn new(inner: S) -> Self {
        Recorder {
            inner,
            started: Instant::now(),
            user: String::new(),
            count: 0,
            lines: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The testsuite of an uninstall that ended with `outcome`.
    pub(crate) fn report(&self, outcome: UninstallOutcome) -> PhaseReport {
        let u = &self.user;
        let v = match outcome {
            UninstallOutcome::NothingRecorded => {
                Verdict::pass(format!("krc recorded no changes for {u}: nothing to undo"))
            }
            UninstallOutcome::Planned => Verdict::skip_after(
                "uninstall",
                format!("dry run: {} change(s) would be undone", self.lines.len()),
            ),
            UninstallOutcome::Declined => {
                Verdict::skip_after("uninstall", "declined: nothing was undone")
            }
            UninstallOutcome::Undone => Verdict::pass(format!(
                "every change krc recorded for {u} was undone ({})",
                self.count
            )),
            UninstallOutcome::Incomplete => Verdict::fail(format!(
                "{} of the changes krc recorded for {u} could not be undone",
                self.lines.len()
            ))
            .remedy("see each line: fix what it names, then run krc uninstall again"),
        };
        let v = self.lines.iter().fold(v, |v, l| v.evidence(l.clone()));
        let v = self.pending.iter().fold(v, |v, l| {
            v.evidence(format!("in effect at {u}'s next login: {l}"))
        });
        let record = CheckRecord::judged(
            Subject {
                id: "uninstall".into(),
                title: "undo what krc install recorded".into(),
                phase: Phase::Install,
                severity: Severity::Required,
            },
            v,
            self.started.elapsed(),
        );
        PhaseReport::of_records(Phase::Install, "uninstall", vec![record])
    }
}

impl<S: Sink> Sink for Recorder<S> {
    fn event(&mut self, e: &Event) {
        match e {
            Event::NothingRecorded { user } => self.user = user.clone(),
            Event::UndoPlan { user, changes } => {
                self.user = user.clone();
                self.lines = changes.iter().map(|c| c.trim().to_string()).collect();
            }
            Event::Uninstalled {
                user,
                count,
                problems,
                pending,
            } => {
                self.user = user.clone();
                self.count = *count;
                self.lines = problems.clone();
                self.pending = pending.clone();
            }
            _ => {}
        }
        self.inner.event(e);
    }

    fn confirm(&mut self, q: &Question) -> Result<bool, ConfirmError> {
        self.inner.confirm(q)
    }
}
