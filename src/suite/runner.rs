//! The suite runner: every check becomes a libtest-mimic [`Trial`], so
//! `FILTER`, `--skip`, `--exact`, `--test-threads` behave as in `cargo test`.
//! libtest-mimic does not expose per-trial outcomes, so each trial records
//! its own [`CheckRecord`] (status, duration, evidence) into a shared sink
//! that prints them in suite order as soon as they are known.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::Suite;
use crate::checks::{Ctx, Phase, Severity, Status, Verdict};
use crate::host::Host;
use crate::report::terminal::Printer;
use crate::report::{CheckRecord, PhaseReport, RecordSink, Subject};

/// One unit of work for the runner: a check bound to its facts, or an
/// installer step, or an acceptance check.
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) phase: Phase,
    pub(crate) severity: Severity,
    /// The checks that must pass first ([`super::prereq`]).
    pub(crate) after: &'static [&'static str],
    pub(crate) run: Box<dyn FnOnce() -> Verdict + Send>,
}

impl Task {
    fn subject(&self) -> Subject {
        Subject {
            id: self.id.clone(),
            title: self.title.clone(),
            phase: self.phase,
            severity: self.severity,
        }
    }
}

/// The tasks of a suite of host checks.
pub(crate) fn host_tasks(suite: &Suite, host: &Arc<Host>) -> Vec<Task> {
    suite
        .entries
        .iter()
        .map(|e| {
            let host = Arc::clone(host);
            let entry = e.clone();
            Task {
                id: e.check.id.to_string(),
                title: e.check.title.to_string(),
                phase: e.check.phase,
                severity: e.severity,
                after: super::prereq::of(e.check.id),
                run: Box::new(move || {
                    entry.check.judge(&Ctx {
                        host: &host,
                        params: &entry.params,
                    })
                }),
            }
        })
        .collect()
}

/// The records a sink is fed as they are known (the terminal printer).
pub(crate) type Feed = Option<Arc<Mutex<dyn RecordSink>>>;

/// Records in suite order, feeding each to `feed` as soon as all before it
/// are known.
struct Sink {
    slots: Vec<Option<CheckRecord>>,
    next: usize,
    feed: Feed,
}

/// The sink, and the signal a check waiting for its prerequisites waits on.
type Shared = Arc<(Mutex<Sink>, Condvar)>;

/// Waits for the records of `prereqs` (suite indices) and returns the
/// skip verdict when one did not pass: a failure, or a skip for a failure
/// further up, whose check it names. A prerequisite always started before
/// (the trials run in [`order`]), so the wait ends when it does.
fn blocked_by(shared: &Shared, prereqs: &[usize]) -> Option<Verdict> {
    let (lock, ready) = &**shared;
    for &p in prereqs {
        let Ok(mut sink) = lock.lock() else {
            return None;
        };
        while sink.slots[p].is_none() {
            sink = match ready.wait(sink) {
                Ok(s) => s,
                Err(_) => return None,
            };
        }
        let r = sink.slots[p].as_ref()?;
        let root = match (r.status, &r.prerequisite) {
            (Status::Fail | Status::Error, _) => r.id.clone(),
            (Status::Skip, Some(root)) => root.clone(),
            _ => continue,
        };
        let via = if root == r.id {
            String::new()
        } else {
            format!(", so {} was not judged", r.id)
        };
        return Some(Verdict::skip_after(
            &root,
            format!("skip: {root} did not pass{via}: see {root}"),
        ));
    }
    None
}

/// The order trials start in: the suite's, except that a check starts
/// after its prerequisites (a stable topological order). libtest-mimic
/// hands trials to its workers in this order.
fn order(prereqs: &[Vec<usize>]) -> Vec<usize> {
    let mut done = vec![false; prereqs.len()];
    let mut out = Vec::with_capacity(prereqs.len());
    while out.len() < prereqs.len() {
        let next = (0..prereqs.len())
            .find(|&i| !done[i] && prereqs[i].iter().all(|&p| done[p]))
            // A cycle (a suite cannot make one; prereq's test forbids
            // it): run the rest in suite order; waits would not end, so
            // its prerequisites are dropped by the caller.
            .or_else(|| (0..prereqs.len()).find(|&i| !done[i]));
        let Some(i) = next else { break };
        done[i] = true;
        out.push(i);
    }
    out
}

impl Sink {
    fn put(&mut self, index: usize, record: CheckRecord) {
        self.slots[index] = Some(record);
        while let Some(Some(r)) = self.slots.get(self.next) {
            if let Some(f) = &self.feed
                && let Ok(mut f) = f.lock()
            {
                f.record(r);
            }
            self.next += 1;
        }
    }
}

/// `--list`: the checks the filters select, one per line (id, severity,
/// title), and how many.
pub(crate) fn list(tasks: &[Task], args: &Arguments, printer: &mut Printer) {
    let selected: Vec<&Task> = tasks
        .iter()
        .filter(|t| !args.is_filtered_out(&trial_stub(t)))
        .collect();
    let w = selected.iter().map(|t| t.id.len()).max().unwrap_or(0);
    for t in &selected {
        printer.line(&format!(
            "{:<w$}  {:<8}  {}",
            t.id,
            t.severity.name(),
            t.title
        ));
    }
    let n = selected.len();
    printer.line(&format!(
        "\n{n} check{} would run",
        if n == 1 { "" } else { "s" }
    ));
}

fn trial_stub(t: &Task) -> Trial {
    Trial::test(t.id.clone(), || Ok(()))
}

pub(crate) fn run(
    phase: Phase,
    suite_name: &str,
    tasks: Vec<Task>,
    args: &Arguments,
    feed: Feed,
) -> PhaseReport {
    let started = SystemTime::now();
    let clock = Instant::now();
    let selected: Vec<Task> = tasks
        .into_iter()
        .filter(|t| !args.is_filtered_out(&trial_stub(t)))
        .collect();
    let shared: Shared = Arc::new((
        Mutex::new(Sink {
            slots: vec![None; selected.len()],
            next: 0,
            feed: feed.clone(),
        }),
        Condvar::new(),
    ));
    let mut prereqs: Vec<Vec<usize>> = selected
        .iter()
        .map(|t| {
            t.after
                .iter()
                .filter_map(|p| selected.iter().position(|s| s.id == *p))
                .collect()
        })
        .collect();
    let start = order(&prereqs);
    // Only prerequisites that start earlier are waited for.
    for (pos, &i) in start.iter().enumerate() {
        prereqs[i].retain(|p| start[..pos].contains(p));
    }
    let mut tasks: Vec<Option<Task>> = selected.into_iter().map(Some).collect();
    let trials: Vec<Trial> = start
        .iter()
        .filter_map(|&index| Some((index, tasks[index].take()?)))
        .map(|(index, task)| {
            let shared = Arc::clone(&shared);
            let after = std::mem::take(&mut prereqs[index]);
            let id = task.id.clone();
            Trial::ignorable_test(id, move || {
                let record = match blocked_by(&shared, &after) {
                    Some(skip) => CheckRecord::judged(task.subject(), skip, Duration::ZERO),
                    None => execute(task),
                };
                let outcome = match record.status {
                    Status::Pass | Status::Warn => Ok(Completion::Completed),
                    Status::Skip => Ok(Completion::ignored_with(record.summary.clone())),
                    Status::Fail | Status::Error => Err(Failed::from(record.summary.clone())),
                };
                let (lock, ready) = &*shared;
                if let Ok(mut s) = lock.lock() {
                    s.put(index, record);
                }
                ready.notify_all();
                outcome
            })
        })
        .collect();
    let mut harness = args.clone();
    // Never more workers than checks: `--test-threads` is bounded by the
    // command line, and extra threads would only wait.
    harness.test_threads = workers(phase, harness.test_threads, trials.len());
    harness.list = false;
    // krc prints its own report; libtest-mimic's printer writes nowhere.
    harness.logfile = Some("/dev/null".to_string());
    let _ = libtest_mimic::run(&harness, trials);
    let records = shared.0.lock().map(|s| s.slots.clone()).unwrap_or_default();
    PhaseReport {
        phase,
        suite: suite_name.to_string(),
        started,
        duration: clock.elapsed(),
        records: records.into_iter().flatten().collect(),
    }
}

/// Workers for preflight when `--test-threads` is not given: its checks
/// mostly wait (on a live probe's child, a netlink answer, procfs), not
/// compute, so the probes of different checks overlap instead of running
/// one after another, whatever the number of cores.
const PREFLIGHT_WORKERS: usize = 4;

/// How many checks run at once: the command line's choice, else preflight's
/// own, else libtest's default (the number of cores); never more than the
/// checks.
fn workers(phase: Phase, asked: Option<usize>, tasks: usize) -> Option<usize> {
    let most = tasks.max(1);
    match asked {
        Some(n) => Some(n.clamp(1, most)),
        None if phase == Phase::Preflight => Some(PREFLIGHT_WORKERS.min(most)),
        None => None,
    }
}

/// Runs one task: timed, panic-proof, redacted, with its severity applied.
fn execute(task: Task) -> CheckRecord {
    let clock = Instant::now();
    let subject = task.subject();
    let run = task.run;
    // Asked to stop: a check not yet started is not started.
    let run: Box<dyn FnOnce() -> Verdict + Send> = match crate::stop::requested() {
        Some(sig) => {
            let why = format!("not run: interrupted by {}", crate::stop::name(sig));
            Box::new(move || Verdict::skip(why))
        }
        None => run,
    };
    let v = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Verdict {
            status: Status::Error,
            summary: format!("internal error: the check panicked: {msg}"),
            evidence: Vec::new(),
            remedy: Some("this is a bug in krc: please report it with this output".into()),
            after: None,
        }
    });
    CheckRecord::judged(subject, v, clock.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_overlaps_its_checks_unless_told_otherwise() {
        assert_eq!(workers(Phase::Preflight, None, 20), Some(PREFLIGHT_WORKERS));
        assert_eq!(workers(Phase::Preflight, None, 2), Some(2));
        assert_eq!(workers(Phase::Preflight, Some(1), 20), Some(1));
        assert_eq!(workers(Phase::Preflight, Some(64), 20), Some(20));
        assert_eq!(workers(Phase::Acceptance, None, 20), None);
        assert_eq!(workers(Phase::Install, Some(0), 0), Some(1));
    }
}
