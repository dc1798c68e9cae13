//! `krc install`: judge every step, print the plan (`--dry-run`) or apply
//! the steps that are needed, in order, journaling each change; on a
//! failure at step k, undo this run's changes in reverse. A step that needs
//! a reboot stops the run with exit 3; the next run continues after it.

use std::path::PathBuf;
use std::time::Duration;

use super::exec::{CommandRunner, LiveRunner, TreeRunner};
use super::fetch::{self, Artifacts, Pins};
use super::fsops::TreeFs;
use super::journal::{Journal, Lock};
use super::options::Options;
use super::report::Outcome;
use super::show::{self, say};
use super::steps::{After, Ctx, PLAN, State, Step};
use crate::cmd::exit;
use crate::host::{Host, Origin};

pub(crate) struct Request {
    pub(crate) root: PathBuf,
    pub(crate) user: Option<String>,
    pub(crate) opts: Options,
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
    pub(crate) force: bool,
}

/// What the run ended with, for the reports.
pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) host: Option<Host>,
    pub(crate) steps: Vec<StepResult>,
}

/// One testcase of the install testsuite: a step, or what refused the run.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) outcome: Outcome,
    pub(crate) evidence: Vec<String>,
    pub(crate) remedy: Option<String>,
    pub(crate) duration: Duration,
}

impl StepResult {
    fn new(id: &str, title: &str, outcome: Outcome) -> StepResult {
        StepResult {
            id: id.to_string(),
            title: title.to_string(),
            outcome,
            evidence: Vec::new(),
            remedy: None,
            duration: Duration::ZERO,
        }
    }
}

/// Why the real run would stop before changing anything: found the same
/// way by `--dry-run`, which then exits non-zero and says so first.
#[derive(Debug, Default)]
struct Refusal {
    /// Paths krc must not write as root.
    paths: Vec<String>,
    /// Required checks that fail and that no step fixes.
    blockers: Vec<super::gate::Blocker>,
    /// The pins could not be loaded though the binary step is needed.
    pins: Option<String>,
}

impl Refusal {
    fn find(ctx: &Ctx<'_>, states: &[State], pins_err: Option<&str>) -> Refusal {
        let needed = needed(states);
        // A step fixes its checks only if it can apply here: one whose plan
        // fails (no grub and no grubby for cgroup-v2) leaves them blocking,
        // so the run refuses up front instead of failing at that step.
        let fixing: Vec<&str> = PLAN
            .iter()
            .filter(|s| needed.contains(&s.id) && (s.plan)(ctx).is_ok())
            .map(|s| s.id)
            .collect();
        Refusal {
            paths: refused_paths(ctx, states),
            blockers: if needed.is_empty() {
                Vec::new()
            } else {
                super::gate::blockers(ctx.host, &fixing, &ctx.opts.rootless)
            },
            pins: pins_err
                .filter(|_| needed.contains(&"k3s-binary"))
                .map(str::to_string),
        }
    }

    /// Whether the run stops here (`--force` passes the blockers only).
    fn stops(&self, force: bool) -> bool {
        !self.paths.is_empty() || self.pins.is_some() || (!self.blockers.is_empty() && !force)
    }

    /// The lines that say why, for the terminal.
    fn lines(&self, force: bool) -> Vec<String> {
        let mut out = Vec::new();
        if !self.paths.is_empty() {
            out.push("a path it would write is unsafe to write as root:".to_string());
            out.extend(self.paths.iter().map(|p| format!("  {p}")));
        }
        if !self.blockers.is_empty() {
            out.push(format!(
                "{} required check(s) fail that no step of krc install fixes{}:",
                self.blockers.len(),
                if force {
                    " (--force: installing anyway)"
                } else {
                    ""
                }
            ));
            out.extend(self.blockers.iter().map(|b| format!("  {b}")));
        }
        if let Some(p) = &self.pins {
            out.push(format!("the k3s binary cannot be verified: {p}"));
        }
        out
    }

    /// The install testsuite of a refused run: what refused it, then
    /// every step as not run.
    fn results(&self, states: &[State]) -> Vec<StepResult> {
        let mut out = Vec::new();
        if !self.paths.is_empty() {
            let mut r = StepResult::new(
                "gate.paths",
                "every path krc would write is safe to write as root",
                Outcome::Failed(format!(
                    "refused: {} path(s) krc must not write as root",
                    self.paths.len()
                )),
            );
            r.evidence = self.paths.clone();
            r.remedy = Some("replace each link named above with the real directory or file (see docs/security.md), then run krc install again".into());
            out.push(r);
        }
        for b in &self.blockers {
            let mut r = StepResult::new(
                b.id,
                b.title,
                Outcome::Failed(format!("blocks the install: {}", b.summary)),
            );
            r.remedy = b.remedy.clone();
            out.push(r);
        }
        if let Some(p) = &self.pins {
            let mut r = StepResult::new(
                "gate.pins",
                "the k3s artifacts can be verified against pinned sha256 sums",
                Outcome::Failed(p.clone()),
            );
            r.remedy = Some(
                "pass --pins FILE (see docs/install.md) or --offline DIR with a pins.toml".into(),
            );
            out.push(r);
        }
        for (step, state) in PLAN.iter().zip(states) {
            let why = match state {
                State::Satisfied(s) => {
                    format!("the install refused (this step was satisfied: {s})")
                }
                State::Skipped(s) => {
                    format!("the install refused (this step would be skipped: {s})")
                }
                State::Needed(s) | State::RebootPending(s) => {
                    format!("the install refused before changing anything (needed: {s})")
                }
            };
            out.push(StepResult::new(step.id, step.title, Outcome::NotRun(why)));
        }
        out
    }
}

/// The ids of the steps the host needs.
fn needed(states: &[State]) -> Vec<&'static str> {
    PLAN.iter()
        .zip(states)
        .filter(|(_, s)| matches!(s, State::Needed(_) | State::RebootPending(_)))
        .map(|(p, _)| p.id)
        .collect()
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
fn pause_after(n: usize) {
    #[cfg(debug_assertions)]
    if std::env::var("KRC_PAUSE_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        == Some(n)
    {
        say(&format!(
            "krc install: paused after step {n} (KRC_PAUSE_AT_STEP, a test hook)"
        ));
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while super::signal::received().is_none() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = n;
}

/// The target's file layer, with the user rules below the user's home.
/// A home krc cannot safely work in is refused here, before anything.
pub(crate) fn target_fs(host: &Host, live: bool) -> Result<TreeFs, String> {
    let u = host.user();
    let home = u.home.trim_end_matches('/');
    if !u.home.starts_with('/') || home.is_empty() || home.split('/').any(|c| c == "..") {
        return Err(format!(
            "the home of {} is {:?} (from /etc/passwd): rootless k3s needs a home directory of the user's own, such as /home/{}; fix it with `usermod -d /home/{} -m {}`",
            u.name, u.home, u.name, u.name, u.name
        ));
    }
    let fs = TreeFs::new(host.root(), live).with_home(home, u.uid);
    if let Some((kind, meta)) = fs.meta(home) {
        let lenient = !live && !nix::unistd::geteuid().is_root();
        if !kind.is_dir() || (meta.uid != u.uid && !lenient) {
            return Err(format!(
                "the home of {} ({home}) is not a directory that belongs to {} (it is {}, owner uid {}): krc writes the user's unit files there as root only into the user's own directory",
                u.name,
                u.name,
                if kind.is_dir() {
                    "a directory"
                } else {
                    "not a directory"
                },
                meta.uid
            ));
        }
    }
    Ok(fs)
}

/// Why `krc install` ended without a [`Run`] to report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// Steps are needed and krc runs as the target user: the caller runs
    /// krc again through `sudo -n`.
    #[error("the install needs root for some steps")]
    NeedsRoot,
    /// Stopped before anything changed, or a failure outside the steps
    /// (the message says which and what to do).
    #[error("{0}")]
    Failed(String),
}

impl From<String> for InstallError {
    fn from(s: String) -> Self {
        InstallError::Failed(s)
    }
}

pub(crate) fn install(req: &Request) -> Result<Run, InstallError> {
    let host = Host::open(&req.root, req.user.as_deref()).map_err(|e| e.to_string())?;
    let live = host.origin() == Origin::Live;
    let u = host.user().clone();
    if u.uid == 0 {
        return Err(InstallError::Failed(
            "rootless k3s must run as an unprivileged user, not root: pass --user NAME".into(),
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if live && me != 0 && me != u.uid {
        return Err(InstallError::Failed(format!(
            "krc runs as uid {me}: run it as {} or as root with --user {}",
            u.name, u.name
        )));
    }
    let fs = target_fs(&host, live)?;
    let (pins, pins_err) = match Pins::load(&req.opts) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    let runner: Box<dyn CommandRunner> = if live {
        Box::new(LiveRunner {
            user: u.name.clone(),
            machine: crate::host::systemd::machine_transport(&host),
        })
    } else {
        Box::new(TreeRunner)
    };
    let ctx = Ctx {
        host: &host,
        fs: &fs,
        opts: &req.opts,
        live,
        pins: pins.as_ref(),
    };
    let states: Vec<State> = PLAN.iter().map(|s| (s.state)(&ctx)).collect();
    let refusal = Refusal::find(&ctx, &states, pins_err.as_deref());
    if req.dry_run {
        let (code, steps) = dry_run(&ctx, &states, &refusal, req, me, pins_err.as_deref());
        return Ok(Run {
            code,
            host: Some(host),
            steps,
        });
    }
    let needed = needed(&states);
    if live && me != 0 && !needed.is_empty() {
        return Err(InstallError::NeedsRoot);
    }
    show::heading(&host, &req.opts);
    let _lock = Lock::take(host.root(), live)?;
    if refusal.stops(req.force) {
        say("krc install: refusing before any change:");
        for l in refusal.lines(req.force) {
            say(&format!("  {l}"));
        }
        if !refusal.blockers.is_empty() && refusal.paths.is_empty() && refusal.pins.is_none() {
            say(
                "Fix them (see `krc explain ID`) and run krc install again, or pass --force to install anyway.",
            );
        }
        return Ok(Run {
            code: exit::FAILED,
            steps: refusal.results(&states),
            host: Some(host),
        });
    }
    if !refusal.blockers.is_empty() {
        for l in refusal.lines(req.force) {
            say(&format!("krc install: {l}"));
        }
    }
    let artifacts = match pins.as_ref() {
        Some(pins) if needed.contains(&"k3s-binary") => fetch::fetch_all(&req.opts, pins)?,
        _ => Artifacts::default(),
    };
    if !needed.is_empty() && !req.yes && !show::confirm(&needed)? {
        say("nothing changed.");
        return Ok(Run {
            code: exit::OK,
            host: Some(host),
            steps: Vec::new(),
        });
    }
    let mut journal = Journal::load(&fs, u.uid)?;
    let start_seq = journal.next_seq();
    // From here on a signal is noted and acted on between actions: the
    // run stops, undoes itself and writes its reports.
    let _deferred = super::signal::Deferred::new();
    let mut run = Steps {
        ctx: &ctx,
        journal: &mut journal,
        runner: runner.as_ref(),
        artifacts: &artifacts,
        wait_timeout: Duration::from_secs(req.opts.wait_timeout),
        results: Vec::new(),
        reboot: false,
    };
    let failed = run.all();
    let (mut results, reboot) = (run.results, run.reboot);
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
    if let Some((n, e)) = failed {
        let problems = rollback(&mut journal, start_seq, runner.as_ref());
        for r in results.iter_mut() {
            if let Outcome::Applied(s) = &r.outcome {
                r.outcome = Outcome::Undone(format!("{s} (undone: step {n} failed)"));
                say(&format!("  undone: {}", r.id));
            }
        }
        say(&format!(
            "krc install: step {n} ({}) failed: {e}",
            PLAN[n - 1].id
        ));
        if problems.is_empty() {
            say("every change this run made was undone; the host is as it was before.");
        } else {
            say("these changes could not be undone; fix them by hand:");
            for p in problems {
                say(&format!("  {p}"));
            }
        }
        let code = match super::signal::received() {
            Some(sig) => super::signal::exit_status(sig),
            None => exit::FAILED,
        };
        return Ok(Run {
            code,
            host: Some(host),
            steps: results,
        });
    }
    if reboot {
        show::reboot_required();
        return Ok(Run {
            code: exit::REBOOT_REQUIRED,
            host: Some(host),
            steps: results,
        });
    }
    show::done(&results);
    Ok(Run {
        code: exit::OK,
        host: Some(host),
        steps: results,
    })
}

/// `--dry-run`: the plan, and whether the real run would refuse (said
/// first, and the exit status is 1 then).
fn dry_run(
    ctx: &Ctx<'_>,
    states: &[State],
    refusal: &Refusal,
    req: &Request,
    me: u32,
    pins_err: Option<&str>,
) -> (u8, Vec<StepResult>) {
    let stops = refusal.stops(req.force);
    if stops {
        say("krc install --dry-run: the real run would refuse before changing anything:");
        for l in refusal.lines(req.force) {
            say(&format!("  {l}"));
        }
        say("");
    }
    show::plan(ctx, states, me, pins_err);
    if !stops && !refusal.blockers.is_empty() {
        for l in refusal.lines(req.force) {
            say(&l);
        }
    }
    let steps = if stops {
        refusal.results(states)
    } else {
        PLAN.iter()
            .zip(states)
            .map(|(p, s)| {
                let outcome = match s {
                    State::Satisfied(t) => Outcome::Satisfied(t.clone()),
                    State::Needed(t) | State::RebootPending(t) => {
                        Outcome::Skipped(format!("dry run: would apply: {t}"))
                    }
                    State::Skipped(t) => Outcome::Skipped(t.clone()),
                };
                StepResult::new(p.id, p.title, outcome)
            })
            .collect()
    };
    (if stops { exit::FAILED } else { exit::OK }, steps)
}

/// The steps of one run, applied in order.
struct Steps<'a, 'c> {
    ctx: &'a Ctx<'c>,
    journal: &'a mut Journal,
    runner: &'a dyn CommandRunner,
    artifacts: &'a Artifacts,
    wait_timeout: Duration,
    results: Vec<StepResult>,
    reboot: bool,
}

impl Steps<'_, '_> {
    /// Applies every step until one fails (its number and why), a reboot
    /// is needed, or a signal arrives (a failure too: the run is undone).
    fn all(&mut self) -> Option<(usize, String)> {
        let fault = fault_step();
        for (k, step) in PLAN.iter().enumerate() {
            let n = k + 1;
            let clock = std::time::Instant::now();
            let mut evidence = Vec::new();
            let result = self.one(step, &mut evidence).and_then(|o| {
                if fault == Some(n) {
                    Err(format!(
                        "injected fault at step {n} (KRC_FAULT_STEP={n}, a test hook)"
                    ))
                } else {
                    Ok(o)
                }
            });
            let outcome = match &result {
                Ok(o) => o.clone(),
                Err(e) => Outcome::Failed(e.clone()),
            };
            show::step_line(n, step.id, &outcome);
            for note in &evidence {
                say(&format!("{:>30}{note}", ""));
            }
            let mut r = StepResult::new(step.id, step.title, outcome);
            r.evidence = evidence;
            r.duration = clock.elapsed();
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
            pause_after(n);
        }
        None
    }

    fn interrupted() -> Result<(), String> {
        match super::signal::received() {
            Some(sig) => Err(format!(
                "interrupted by {}: krc stopped between two actions and undoes this run",
                super::signal::name(sig)
            )),
            None => Ok(()),
        }
    }

    fn one(&mut self, step: &Step, evidence: &mut Vec<String>) -> Result<Outcome, String> {
        Self::interrupted()?;
        let ctx = self.ctx;
        let why = match (step.state)(ctx) {
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
        for a in (step.plan)(ctx)? {
            Self::interrupted()?;
            evidence.extend(a.apply(step.id, self.journal, self.runner, self.artifacts)?);
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
                let kc = ctx.fs.path(&format!("{home}/.kube/k3s.yaml"));
                Outcome::Applied(super::wait::wait_for_api(&kc, self.wait_timeout)?)
            }
            After::Continue => Outcome::Applied(format!("before: {why}")),
        })
    }
}

/// Every path a needed step would write that krc must not write as root
/// (a link on the way, a directory below the home that is not the user's,
/// a file that is a link or has other links): refused up front, so the
/// install stops before it changes anything.
fn refused_paths(ctx: &Ctx<'_>, states: &[State]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (step, state) in PLAN.iter().zip(states) {
        if !matches!(state, State::Needed(_)) {
            continue;
        }
        for action in (step.plan)(ctx).unwrap_or_default() {
            for (p, replaced) in action.paths() {
                if let Err(e) = ctx.fs.check_writable(p, replaced)
                    && !out.contains(&e.to_string())
                {
                    out.push(e.to_string());
                }
            }
        }
    }
    out
}

/// Undoes every journal entry numbered `from` or later, newest first.
/// Returns what could not be undone.
pub(crate) fn rollback(
    journal: &mut Journal,
    from: u64,
    runner: &dyn CommandRunner,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut entries: Vec<_> = journal
        .entries()
        .into_iter()
        .filter(|e| e.seq >= from)
        .collect();
    entries.reverse();
    for e in entries {
        match super::undo::undo(&e, journal, runner) {
            Ok(None) => {}
            Ok(Some(warning)) => problems.push(format!("{}: {warning}", e.step)),
            Err(err) => {
                problems.push(format!("{}: {err}", e.step));
                continue; // keep it journaled: `krc uninstall` can retry
            }
        }
        if let Err(err) = journal.forget(e.seq) {
            problems.push(format!("journal: {err}"));
        }
    }
    problems
}

/// After `loginctl enable-linger` logind starts the user's manager; the
/// user steps need it.
fn wait_runtime_dir(host: &Host) -> Result<(), String> {
    let dir = host.user().runtime_dir();
    for _ in 0..60 {
        if host.exists(&format!("{dir}/systemd/private")) || host.exists(&format!("{dir}/bus")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "the systemd manager of {} did not start within 30s ({dir} has no bus): check `loginctl user-status {}`",
        host.user().name,
        host.user().name
    ))
}
