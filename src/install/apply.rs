//! `krc install`: judge every step, print the plan (`--dry-run`) or apply
//! the steps that are needed, in order, journaling each change; on a
//! failure at step k, undo this run's changes in reverse. A step that needs
//! a reboot stops the run with exit 3; the next run continues after it.

use std::path::PathBuf;
use std::time::Duration;

use super::action::Action;
use super::exec::{CommandRunner, LiveRunner, TreeRunner};
use super::fetch::{self, Artifacts, Pins};
use super::fsops::TreeFs;
use super::journal::{Journal, Lock};
use super::options::Options;
use super::report::Outcome;
use super::show::{self, say};
use super::steps::{After, Ctx, PLAN, State};
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
    pub(crate) steps: Vec<(&'static str, &'static str, Outcome, Vec<String>)>,
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

pub(crate) fn install(req: &Request) -> Result<Run, String> {
    let host = Host::open(&req.root, req.user.as_deref()).map_err(|e| e.to_string())?;
    let live = host.origin() == Origin::Live;
    let u = host.user().clone();
    if u.uid == 0 {
        return Err(
            "rootless k3s must run as an unprivileged user, not root: pass --user NAME".into(),
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if live && me != 0 && me != u.uid {
        return Err(format!(
            "krc runs as uid {me}: run it as {} or as root with --user {}",
            u.name, u.name
        ));
    }
    let fs = target_fs(&host, live)?;
    let (pins, pins_err) = match Pins::load(&req.opts) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    let runner: Box<dyn CommandRunner> = if live {
        Box::new(LiveRunner {
            user: u.name.clone(),
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
    let refused = refused_paths(&ctx, &states);
    if req.dry_run {
        show::plan(&ctx, &states, me, pins_err.as_deref());
        for r in &refused {
            say(&format!("krc install would refuse: {r}"));
        }
        // The report of a dry run says what each step would do.
        let steps = PLAN
            .iter()
            .zip(&states)
            .map(|(p, s)| {
                let outcome = match s {
                    State::Satisfied(t) => Outcome::Satisfied(t.clone()),
                    State::Needed(t) | State::RebootPending(t) => {
                        Outcome::Skipped(format!("dry run: would apply: {t}"))
                    }
                    State::Skipped(t) => Outcome::Skipped(t.clone()),
                };
                (p.id, p.title, outcome, Vec::new())
            })
            .collect();
        return Ok(Run {
            code: exit::OK,
            host: Some(host),
            steps,
        });
    }
    let needed: Vec<&str> = PLAN
        .iter()
        .zip(&states)
        .filter(|(_, s)| matches!(s, State::Needed(_) | State::RebootPending(_)))
        .map(|(p, _)| p.id)
        .collect();
    if live && me != 0 && !needed.is_empty() {
        return Err(super::sudo::REEXEC.into());
    }
    show::heading(&host, &req.opts);
    let _lock = Lock::take(host.root(), live)?;
    if !refused.is_empty() {
        say(
            "krc install: refusing before any change: a path it would write is unsafe to write as root:",
        );
        for r in &refused {
            say(&format!("  {r}"));
        }
        return Ok(Run {
            code: exit::FAILED,
            host: Some(host),
            steps: Vec::new(),
        });
    }
    if !needed.is_empty() {
        let blockers = super::gate::blockers(&host, &needed);
        if !blockers.is_empty() {
            say(&format!(
                "krc install: refusing: {} required check(s) fail that no step of krc install fixes:",
                blockers.len()
            ));
            for b in &blockers {
                say(&format!("  {b}"));
            }
            if !req.force {
                say(
                    "Fix them (see `krc explain ID`) and run krc install again, or pass --force to install anyway.",
                );
                return Ok(Run {
                    code: exit::FAILED,
                    host: Some(host),
                    steps: Vec::new(),
                });
            }
            say("--force: installing anyway.");
        }
    }
    let artifacts = if needed.contains(&"k3s-binary") {
        let pins = pins
            .as_ref()
            .ok_or_else(|| pins_err.clone().unwrap_or_default())?;
        fetch::fetch_all(&req.opts, pins)?
    } else {
        Artifacts::default()
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
    let fault = fault_step();
    let mut outcomes: Vec<(&'static str, &'static str, Outcome, Vec<String>)> = Vec::new();
    let mut failed: Option<(usize, String)> = None;
    let mut reboot = false;
    for (k, step) in PLAN.iter().enumerate() {
        let n = k + 1;
        let mut evidence = Vec::new();
        let result: Result<Outcome, String> = (|| {
            let state = (step.state)(&ctx);
            let outcome = match state {
                State::Satisfied(s) => Outcome::Satisfied(s),
                State::Skipped(s) => Outcome::Skipped(s),
                State::RebootPending(s) => {
                    reboot = true;
                    Outcome::Applied(format!("reboot pending: {s}"))
                }
                State::Needed(why) => {
                    if live && step.id == "start" {
                        wait_runtime_dir(&host)?;
                    }
                    let actions: Vec<Action> = (step.plan)(&ctx)?;
                    for a in &actions {
                        evidence.extend(a.apply(
                            step.id,
                            &mut journal,
                            runner.as_ref(),
                            &artifacts,
                        )?);
                    }
                    match step.after {
                        After::Reboot => {
                            reboot = true;
                            Outcome::Applied(format!(
                                "{why}: boot configuration changed, a reboot is required"
                            ))
                        }
                        After::WaitApi => {
                            let kc = fs.path(&format!("{}/.kube/k3s.yaml", u.home));
                            Outcome::Applied(super::wait::wait_for_api(
                                &kc,
                                Duration::from_secs(req.opts.wait_timeout),
                            )?)
                        }
                        After::Continue => Outcome::Applied(format!("before: {why}")),
                    }
                }
            };
            if fault == Some(n) {
                return Err(format!(
                    "injected fault at step {n} (KRC_FAULT_STEP={n}, a test hook)"
                ));
            }
            Ok(outcome)
        })();
        match result {
            Ok(o) => {
                show::step_line(n, step.id, &o);
                for note in &evidence {
                    say(&format!("{:>30}{note}", ""));
                }
                outcomes.push((step.id, step.title, o, evidence));
                if reboot {
                    break;
                }
            }
            Err(e) => {
                show::step_line(n, step.id, &Outcome::Failed(e.clone()));
                outcomes.push((step.id, step.title, Outcome::Failed(e.clone()), evidence));
                failed = Some((n, e));
                break;
            }
        }
    }
    for step in PLAN.iter().skip(outcomes.len()) {
        let why = if reboot {
            "waiting for the reboot"
        } else {
            "an earlier step failed"
        };
        outcomes.push((step.id, step.title, Outcome::NotRun(why.into()), Vec::new()));
    }
    if let Some((n, e)) = failed {
        let problems = rollback(&mut journal, start_seq, runner.as_ref());
        for (id, _, o, _) in outcomes.iter_mut() {
            if let Outcome::Applied(s) = o {
                *o = Outcome::Undone(format!("{s} (undone: step {n} failed)"));
                say(&format!("  undone: {id}"));
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
        return Ok(Run {
            code: exit::FAILED,
            host: Some(host),
            steps: outcomes,
        });
    }
    if reboot {
        show::reboot_required();
        return Ok(Run {
            code: exit::REBOOT_REQUIRED,
            host: Some(host),
            steps: outcomes,
        });
    }
    show::done(&outcomes);
    Ok(Run {
        code: exit::OK,
        host: Some(host),
        steps: outcomes,
    })
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
