//! Applying the plan: every step in order, each journaled as it goes; on a
//! failure at step k (or a signal between two actions) this run's changes
//! are undone in reverse, and a step that needs a reboot stops the run so
//! the next one continues after it.

use std::time::{Duration, Instant};

use super::action::ActionError;
use super::apply::StepResult;
use super::exec::CommandRunner;
use super::fetch::Artifacts;
use super::journal::{Change, Journal, JournalError};
use super::manager::{self, ManagerError, Settle, UnitStates};
use super::report::Outcome;
use super::steps::{After, Ctx, PLAN, State, Step};
use super::undo::rollback;
use super::wait::WaitError;
use super::{Event, InstallOutcome, Sink};
use crate::host::Host;

/// Applies every step the host needs, and undoes the run if one fails:
/// how the run ended, and one result per step of the plan.
pub(crate) fn apply_all(
    ctx: &Ctx<'_>,
    runner: &dyn CommandRunner,
    artifacts: &Artifacts,
    wait_timeout: Duration,
    sink: &mut dyn Sink,
) -> Result<(InstallOutcome, Vec<StepResult>), JournalError> {
    let mut journal = Journal::load(ctx.fs, ctx.host.user().uid)?;
    let start_seq = journal.next_seq();
    // What a rollback must leave as it found it (live host only).
    let units = if ctx.live {
        UnitStates::read(runner, ctx.host.user().uid)
    } else {
        UnitStates::default()
    };
    // From here on a signal is noted and acted on between actions: the
    // run stops, undoes itself and writes its reports.
    let _deferred = super::signal::Deferred::new();
    let mut steps = Steps {
        ctx,
        journal: &mut journal,
        runner,
        artifacts,
        wait_timeout,
        sink: &mut *sink,
        results: Vec::new(),
        reboot: false,
        relogin: None,
    };
    let failed = steps.all();
    let Steps {
        mut results,
        reboot,
        relogin,
        ..
    } = steps;
    let stopped = if reboot {
        "waiting for the reboot"
    } else {
        "an earlier step failed"
    };
    for step in PLAN.iter().skip(results.len()) {
        results.push(StepResult::new(
            step.id,
            step.title,
            Outcome::NotRun(stopped.into()),
        ));
    }
    if let Some((n, error)) = failed {
        let left = rollback(&mut journal, start_seq, runner);
        let mut problems = left.problems;
        problems.extend(left.pending);
        let u = ctx.host.user();
        let (mut checked, units_off) = units.compare(runner, ctx.fs, u.uid, &u.name);
        problems.extend(units_off);
        if problems.is_empty() {
            checked.insert(
                0,
                "every file krc restored has the content it had before (SHA-256 compared)".into(),
            );
        }
        let mut undone = Vec::new();
        for r in results.iter_mut() {
            if let Outcome::Applied(s) = &r.outcome {
                r.outcome = Outcome::Undone(format!("{s} (undone: step {n} failed)"));
                undone.push(r.id.clone());
            }
        }
        sink.event(&Event::RolledBack {
            n,
            id: PLAN[n - 1].id,
            error,
            undone,
            problems,
            checked,
        });
        let outcome = match super::signal::received() {
            Some(sig) => InstallOutcome::Interrupted(sig),
            None => InstallOutcome::Failed,
        };
        return Ok((outcome, results));
    }
    if reboot {
        sink.event(&Event::RebootRequired);
        return Ok((InstallOutcome::RebootRequired, results));
    }
    if let Some(reason) = relogin {
        sink.event(&Event::ReloginRequired {
            user: ctx.host.user().name.clone(),
            reason,
        });
        return Ok((InstallOutcome::ReloginRequired, results));
    }
    let applied = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Applied(_)))
        .count();
    sink.event(&Event::Completed { applied });
    Ok((InstallOutcome::Completed, results))
}

/// `KRC_FAULT_STEP=k` (a test hook, compiled into debug builds only): make
/// step k (1-based) fail after its actions are applied, to prove that
/// every earlier change is undone.
#[cfg(debug_assertions)]
fn fault_step() -> Option<usize> {
    std::env::var("KRC_FAULT_STEP").ok()?.parse().ok()
}

#[cfg(not(debug_assertions))]
fn fault_step() -> Option<usize> {
    None
}

/// `KRC_PAUSE_AT_STEP=k` (a test hook, debug builds only): after step k,
/// say so and wait (up to 30 s) for a signal, so a test can deliver a real
/// one mid-install.
fn pause_after(n: usize, sink: &mut dyn Sink) {
    #[cfg(debug_assertions)]
    if std::env::var("KRC_PAUSE_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        == Some(n)
    {
        sink.event(&Event::Paused(n));
        let until = Instant::now() + Duration::from_secs(30);
        while super::signal::received().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (n, sink);
}

/// Why a step failed. The install report records it as one line of text
/// (the error and its causes, see [`super::fetch::chain`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error("interrupted by {0}: krc stopped between two actions and undoes this run")]
    Interrupted(&'static str),
    /// The step could not work out its actions (its plan says why).
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Api(#[from] WaitError),
    #[error(
        "the systemd manager of {user} did not start within 30s ({dir} has no bus): check `loginctl user-status {user}`"
    )]
    NoUserManager { user: String, dir: String },
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error("injected fault at step {0} (KRC_FAULT_STEP={0}, a test hook)")]
    Fault(usize),
}

/// The steps of one run, applied in order.
struct Steps<'a, 'c> {
    ctx: &'a Ctx<'c>,
    journal: &'a mut Journal,
    runner: &'a dyn CommandRunner,
    artifacts: &'a Artifacts,
    wait_timeout: Duration,
    sink: &'a mut dyn Sink,
    results: Vec<StepResult>,
    reboot: bool,
    /// The delegation takes effect at the user's next login: why, and
    /// what to do.
    relogin: Option<String>,
}

impl Steps<'_, '_> {
    /// Applies every step until one fails (its number and why), a reboot
    /// is needed, or a signal arrives (a failure too: the run is undone).
    fn all(&mut self) -> Option<(usize, String)> {
        let fault = fault_step();
        for (k, step) in PLAN.iter().enumerate() {
            let n = k + 1;
            let clock = Instant::now();
            let mut notes = Vec::new();
            let deferred = self.relogin.is_some()
                && super::steps::delegation::DEFERRED.contains(&step.id)
                && !matches!((step.state)(self.ctx), State::Satisfied(_));
            let result = if deferred {
                Ok(Outcome::NotRun(format!(
                    "waiting for {}'s next login: the new delegation is not in effect yet",
                    self.ctx.host.user().name
                )))
            } else {
                self.one(step, &mut notes)
            };
            let result = result.and_then(|o| {
                if fault == Some(n) {
                    Err(StepError::Fault(n))
                } else {
                    Ok(o)
                }
            });
            // The step's result is text in the reports: the error and its
            // causes become one line here.
            let result = result.map_err(|e| super::fetch::chain(&e));
            let outcome = match &result {
                Ok(o) => o.clone(),
                Err(e) => Outcome::Failed(e.clone()),
            };
            let mut r = StepResult::new(step.id, step.title, outcome);
            r.duration = clock.elapsed();
            self.sink.event(&Event::StepFinished {
                n,
                total: PLAN.len(),
                id: step.id,
                outcome: r.outcome.clone(),
                notes: notes.clone(),
            });
            r.evidence = notes;
            if result.is_err() {
                r.remedy = Some("see the evidence; krc undid this run's changes, fix the cause and run krc install again".into());
            }
            self.results.push(r);
            if let Err(e) = result {
                return Some((n, e));
            }
            if self.reboot {
                return None;
            }
            pause_after(n, self.sink);
        }
        None
    }

    fn interrupted() -> Result<(), StepError> {
        match super::signal::received() {
            Some(sig) => Err(StepError::Interrupted(super::signal::name(sig))),
            None => Ok(()),
        }
    }

    /// Applies one step if the host needs it: how it ended, its actions'
    /// notes in `notes`.
    fn one(&mut self, step: &Step, notes: &mut Vec<String>) -> Result<Outcome, StepError> {
        Self::interrupted()?;
        let ctx = self.ctx;
        let why = match (step.state)(ctx) {
            State::Satisfied(s) if step.after == After::UserManager => {
                return self.user_manager(Outcome::Satisfied(s), notes);
            }
            State::Satisfied(s) => return Ok(Outcome::Satisfied(s)),
            State::Skipped(s) => return Ok(Outcome::Skipped(s)),
            State::RebootPending(s) => {
                self.reboot = true;
                return Ok(Outcome::Applied(format!("reboot pending: {s}")));
            }
            State::Needed(why) => why,
        };
        if ctx.live && step.id == "start" {
            wait_runtime_dir(ctx.host)?;
        }
        for a in (step.plan)(ctx).map_err(StepError::Plan)? {
            Self::interrupted()?;
            notes.extend(a.apply(step.id, self.journal, self.runner, self.artifacts)?);
        }
        Self::interrupted()?;
        Ok(match step.after {
            After::Reboot => {
                self.reboot = true;
                Outcome::Applied(format!(
                    "{why}: boot configuration changed, a reboot is required"
                ))
            }
            After::WaitApi => {
                let home = &ctx.host.user().home;
                let kc = ctx.fs.path(&crate::layout::kubeconfig_path(home));
                Outcome::Applied(super::wait::wait_for_api(
                    &kc,
                    self.wait_timeout,
                    super::signal::received,
                    self.sink,
                )?)
            }
            After::Continue => Outcome::Applied(format!("before: {why}")),
            After::UserManager => {
                return self.user_manager(Outcome::Applied(format!("before: {why}")), notes);
            }
        })
    }

    /// After the delegation step: restarts the user's manager if it runs
    /// with the old delegation and the user has no login session, or
    /// notes that the delegation waits for the user's next login.
    fn user_manager(
        &mut self,
        done: Outcome,
        notes: &mut Vec<String>,
    ) -> Result<Outcome, StepError> {
        let ctx = self.ctx;
        let files = super::steps::delegation::config_files(ctx);
        let text = done.text().to_string();
        match manager::effect(ctx.host, ctx.fs, self.runner, ctx.live, &files) {
            Settle::InEffect(s) => {
                notes.push(s);
                Ok(done)
            }
            Settle::Restart(why) => {
                let uid = ctx.host.user().uid;
                notes.push(why);
                self.journal
                    .record(
                        "delegation",
                        Change::Ran {
                            shown: format!("systemctl restart {}", manager::unit(uid)),
                            undo: None,
                        },
                    )
                    .map_err(ActionError::from)?;
                notes.extend(manager::restart(self.runner, uid)?);
                Ok(Outcome::Applied(format!(
                    "{text}; restarted {} with the new delegation",
                    manager::unit(uid)
                )))
            }
            Settle::Relogin(why) => {
                self.relogin = Some(why.clone());
                Ok(Outcome::Applied(format!(
                    "{text}; delegation takes effect at {}'s next login: {why}",
                    ctx.host.user().name
                )))
            }
        }
    }
}

/// After `loginctl enable-linger` logind starts the user's manager; the
/// user steps need it.
fn wait_runtime_dir(host: &Host) -> Result<(), StepError> {
    let dir = host.user().runtime_dir();
    for _ in 0..60 {
        if host.exists(&format!("{dir}/systemd/private")) || host.exists(&format!("{dir}/bus")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(StepError::NoUserManager {
        user: host.user().name.clone(),
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::EACCES)
    }

    #[test]
    fn a_step_failure_is_one_line_with_each_cause_once() {
        let e = StepError::from(ActionError::Symlink {
            path: "/home/alice/.config/systemd/user/k3s.service".into(),
            source: denied(),
        });
        // The action's message is the step's, its cause after it, once.
        assert_eq!(
            super::super::fetch::chain(&e),
            "failed to create /home/alice/.config/systemd/user/k3s.service: Permission denied (os error 13)"
        );
        let e = StepError::from(WaitError::TimedOut {
            secs: 5,
            last: "/home/alice/.kube/k3s.yaml does not exist yet".into(),
        });
        assert_eq!(
            super::super::fetch::chain(&e),
            "k3s did not come up within 5s: /home/alice/.kube/k3s.yaml does not exist yet"
        );
    }
}
