//! What the installer has to say, as typed events: the core emits them and
//! decides nothing about how they look; `cmd/` renders them on the
//! terminal and answers the one question the installer asks. A run ends
//! with an [`InstallOutcome`] (or an [`UninstallOutcome`]), which `cmd/`
//! maps to an exit status.

use std::path::PathBuf;
use std::time::Duration;

use super::report::Outcome;
use super::steps::State;

/// How `krc install` ended, as the core distinguishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InstallOutcome {
    /// Every step is satisfied now (or was already).
    Completed,
    /// `--dry-run`: the plan was shown; the real run would go ahead.
    Planned,
    /// The user answered no to the question: nothing changed.
    Declined,
    /// Stopped before changing anything (an unsafe path, a failing required
    /// check no step fixes, unverifiable pins); under `--dry-run`, the real
    /// run would.
    Refused,
    /// A step needs a reboot: the next run continues after it.
    RebootRequired,
    /// Done, except what needs the new delegation: it takes effect at the
    /// user's next login, and the same command run after it completes.
    ReloginRequired,
    /// A step failed and this run's changes were undone.
    Failed,
    /// A signal stopped the run between two actions; its changes were
    /// undone.
    Interrupted(i32),
}

/// How `krc uninstall` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UninstallOutcome {
    /// The journal holds nothing for the user.
    NothingRecorded,
    /// `--dry-run`: the changes that would be undone were shown.
    Planned,
    Declined,
    /// Every recorded change is undone.
    Undone,
    /// Some changes could not be undone (named in the event).
    Incomplete,
}

/// One step of the `--dry-run` plan.
#[derive(Debug, Clone)]
pub(crate) struct PlannedStep {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) state: State,
    /// For a needed step: each action as the dry run describes it (lines),
    /// or why the step cannot apply here.
    pub(crate) actions: Result<Vec<String>, String>,
    /// The step stops the run for a reboot once applied.
    pub(crate) then_reboot: bool,
}

/// Who the install is for, and where.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) user: String,
    pub(crate) uid: u32,
    /// The tree under `--root`; None on the live host.
    pub(crate) tree: Option<PathBuf>,
    /// The k3s release the run installs.
    pub(crate) pin: String,
}

/// The `--dry-run` report: the plan, and whether the real run would refuse.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) target: Target,
    /// Acting on the live host (not a `--root` tree).
    pub(crate) live: bool,
    pub(crate) steps: Vec<PlannedStep>,
    /// Why the pins could not be loaded, if so.
    pub(crate) pins_note: Option<String>,
    /// Why the real run would stop before changing anything.
    pub(crate) refusal: Option<Vec<String>>,
    /// Failing required checks that `--force` installs past.
    pub(crate) forced: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// `--dry-run`: everything it has to say.
    Planned(Plan),
    /// The real run begins.
    Started(Target),
    /// The run stops before any change; `force_passes`: `--force` would
    /// take it past (only failing checks stand in the way).
    Refused {
        lines: Vec<String>,
        force_passes: bool,
    },
    /// The artifacts were verified: how, and each one's SHA-256.
    Verified {
        trust: &'static str,
        sha256: Vec<(String, String)>,
    },
    /// `--force` installs past failing required checks.
    Forced(Vec<String>),
    /// The user said no.
    Declined,
    /// A step ended (`n` of `total`): how, and what its actions noted.
    StepFinished {
        n: usize,
        total: usize,
        id: &'static str,
        outcome: Outcome,
        notes: Vec<String>,
    },
    /// A test hook holds the run after step `n` (debug builds only; a
    /// release build never constructs it).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    Paused(usize),
    /// Still waiting for the API server (once a second).
    Waiting {
        attempt: usize,
        elapsed: Duration,
        timeout: Duration,
        last: String,
    },
    /// The wait is over, either way.
    WaitEnded,
    /// Step `n` failed and this run's changes were undone (`undone`: the
    /// steps whose changes went; `problems`: what could not be undone or
    /// is not as it was; `checked`: what krc verified is as it was).
    RolledBack {
        n: usize,
        id: &'static str,
        error: String,
        undone: Vec<String>,
        problems: Vec<String>,
        checked: Vec<String>,
    },
    RebootRequired,
    /// The delegation takes effect at `user`'s next login (`reason`: why
    /// krc did not restart the manager, and what to do).
    ReloginRequired {
        user: String,
        reason: String,
    },
    /// The run is done: `applied` steps changed the host.
    Completed {
        applied: usize,
    },
    /// `krc uninstall` found nothing recorded for `user`.
    NothingRecorded {
        user: String,
    },
    /// `krc uninstall --dry-run`: the changes, in the order they would be
    /// undone.
    UndoPlan {
        user: String,
        changes: Vec<String>,
    },
    /// `krc uninstall` is done.
    Uninstalled {
        user: String,
        count: usize,
        problems: Vec<String>,
        /// Undone in the configuration; in effect at the user's next login.
        pending: Vec<String>,
    },
}

/// Where the installer's events go, and who answers its question.
pub(crate) trait Sink {
    fn event(&mut self, e: &Event);
    /// Asks before changing the host (`what`: the step ids, or the changes
    /// to undo); Ok(false) leaves it as it is, an error stops the run.
    fn confirm(&mut self, q: &Question) -> Result<bool, ConfirmError>;
}

/// Why krc could not ask before changing the host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfirmError {
    /// Nobody to ask and no `--yes`: krc changes nothing unasked.
    #[error(
        "{} and stdin is not a terminal: pass --yes, or look first with --dry-run",
        .0.change()
    )]
    NoTerminal(Question),
}

/// What the installer asks before it changes the host.
#[derive(Debug, Clone)]
pub(crate) enum Question {
    /// Apply these steps?
    Apply(Vec<&'static str>),
    /// Undo these changes (as `krc uninstall` lists them)?
    Undo(Vec<String>),
}

impl Question {
    /// What answering yes would do, as the refusal to ask says it.
    fn change(&self) -> String {
        match self {
            Question::Apply(needed) => {
                format!("krc install would change this host ({})", needed.join(", "))
            }
            Question::Undo(_) => "krc uninstall would change this host".to_string(),
        }
    }
}

/// Collects the events; asks nobody (a question is an error).
#[cfg(test)]
impl Sink for Vec<Event> {
    fn event(&mut self, e: &Event) {
        self.push(e.clone());
    }
    fn confirm(&mut self, q: &Question) -> Result<bool, ConfirmError> {
        Err(ConfirmError::NoTerminal(q.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_the_refusal_says_what_would_change() {
        let e = ConfirmError::NoTerminal(Question::Apply(vec!["linger", "start"]));
        assert_eq!(
            e.to_string(),
            "krc install would change this host (linger, start) and stdin is not a terminal: pass --yes, or look first with --dry-run"
        );
        let e = ConfirmError::NoTerminal(Question::Undo(vec!["  [start] x".into()]));
        assert_eq!(
            e.to_string(),
            "krc uninstall would change this host and stdin is not a terminal: pass --yes, or look first with --dry-run"
        );
    }
}
