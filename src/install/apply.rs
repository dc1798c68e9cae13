//! `krc install`: judge every step, show the plan (`--dry-run`) or refuse
//! up front ([`refusal`](super::refusal)), ask, and apply the steps that
//! are needed ([`sequence`](super::sequence)). What it has to say goes to
//! a [`Sink`] as events; how it ended is an [`InstallOutcome`].

use std::path::PathBuf;
use std::time::Duration;

use super::event::{
    ConfirmError, Event, InstallOutcome, Plan, PlannedStep, Question, Sink, Target,
};
use super::exec::{CommandRunner, LiveRunner, TreeRunner};
use super::fetch::{self, Artifacts, FetchError, Pins};
use super::fsops::TreeFs;
use super::journal::{JournalError, Lock};
use super::options::Options;
use super::refusal::{Refusal, needed};
use super::report::Outcome;
use super::sequence;
use super::steps::{After, Ctx, PLAN, State};
use crate::host::{Host, HostError, Origin};

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
    pub(crate) outcome: InstallOutcome,
    pub(crate) host: Option<Host>,
    pub(crate) steps: Vec<StepResult>,
    /// How the artifacts were (or would be) verified, once that is known.
    pub(crate) trust: Option<super::trust::Trust>,
    /// Every artifact krc accepted and its SHA-256 (those it fetched; when
    /// it fetched none, the sums the installed binary was checked against).
    pub(crate) sha256: std::collections::BTreeMap<String, String>,
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
    pub(crate) fn new(id: &str, title: &str, outcome: Outcome) -> StepResult {
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

/// A home krc refuses to work in (`/etc/passwd`'s, for the target user).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HomeError {
    #[error(
        "the home of {user} is {home:?} (from /etc/passwd): rootless k3s needs a home directory of the user's own, such as /home/{user}; fix it with `usermod -d /home/{user} -m {user}`"
    )]
    Unusable { user: String, home: String },
    /// `kind`: "a directory" or "not a directory".
    #[error(
        "the home of {user} ({home}) is not a directory that belongs to {user} (it is {kind}, owner uid {owner}): krc writes the user's unit files there as root only into the user's own directory"
    )]
    NotOwn {
        user: String,
        home: String,
        kind: &'static str,
        owner: u32,
    },
}

/// The target's file layer, with the user rules below the user's home.
/// A home krc cannot safely work in is refused here, before anything.
pub(crate) fn target_fs(host: &Host, live: bool) -> Result<TreeFs, HomeError> {
    let u = host.user();
    let home = u.home.trim_end_matches('/');
    if !u.home.starts_with('/') || home.is_empty() || home.split('/').any(|c| c == "..") {
        return Err(HomeError::Unusable {
            user: u.name.clone(),
            home: u.home.clone(),
        });
    }
    let fs = TreeFs::new(host.safe_root(), live).with_home(home, u.uid, u.gid);
    if let Some((kind, meta)) = fs.meta(home) {
        let lenient = !live && !nix::unistd::geteuid().is_root();
        if !kind.is_dir() || (meta.uid != u.uid && !lenient) {
            return Err(HomeError::NotOwn {
                user: u.name.clone(),
                home: home.to_string(),
                kind: if kind.is_dir() {
                    "a directory"
                } else {
                    "not a directory"
                },
                owner: meta.uid,
            });
        }
    }
    Ok(fs)
}

/// Why the installer ended without an outcome to report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// The run needs root (steps to apply, a journal to read) and krc runs
    /// as the target user: the caller runs krc again through `sudo -n`.
    #[error("the install needs root for some steps")]
    NeedsRoot,
    #[error(transparent)]
    Host(#[from] HostError),
    /// The journal or the lock: refused, unreadable, held by another run.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The artifacts could not be fetched or did not match their pins.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The user's home is not one krc can safely write into.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// Nobody could be asked before changing the host.
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
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

/// Who the run is for and where, as the events name it.
fn target(host: &Host, opts: &Options) -> Target {
    let u = host.user();
    Target {
        user: u.name.clone(),
        uid: u.uid,
        tree: (host.origin() == Origin::Tree).then(|| host.root().to_path_buf()),
        pin: opts.pin.to_string(),
    }
}

/// The user to install for, and the uid krc runs as, or why krc must not
/// go on as it runs.
fn who(host: &Host, live: bool) -> Result<u32, InstallError> {
    let u = host.user();
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
    Ok(me)
}

pub(crate) fn install(req: &Request, sink: &mut dyn Sink) -> Result<Run, InstallError> {
    let host = Host::open(&req.root, req.user.as_deref())?;
    let live = host.origin() == Origin::Live;
    let me = who(&host, live)?;
    let fs = target_fs(&host, live)?;
    let (pins, pins_err) = match Pins::load(&req.opts) {
        Ok(p) => (Some(p), None),
        // The plan and the refusal quote it as one line.
        Err(e) => (None, Some(fetch::chain(&e))),
    };
    let ctx = Ctx {
        host: &host,
        fs: &fs,
        opts: &req.opts,
        live,
        pins: pins.as_ref(),
    };
    let states: Vec<State> = PLAN.iter().map(|s| (s.state)(&ctx)).collect();
    pause_after_facts();
    let refusal = Refusal::find(&ctx, &states, pins_err.as_deref());
    let mut accepted = Vec::new();
    let (outcome, steps) = if req.dry_run {
        dry_run(&ctx, &states, &refusal, req, me, pins_err, sink)
    } else {
        let needed = needed(&states);
        if live && me != 0 && !needed.is_empty() {
            return Err(InstallError::NeedsRoot);
        }
        sink.event(&Event::Started(target(&host, &req.opts)));
        let _lock = Lock::take(host.safe_root(), live)?;
        if refusal.stops(req.force) {
            sink.event(&Event::Refused {
                lines: refusal.lines(req.force),
                force_passes: refusal.force_passes(),
            });
            (InstallOutcome::Refused, refusal.results(&states))
        } else {
            if !refusal.blockers.is_empty() {
                sink.event(&Event::Forced(refusal.lines(req.force)));
            }
            let artifacts = match pins.as_ref() {
                // The user unit is an artifact of the same tag as the binary.
                Some(pins) if needed.contains(&"k3s-binary") || needed.contains(&"user-unit") => {
                    fetch::fetch_all(&req.opts, pins)?
                }
                _ => Artifacts::default(),
            };
            accepted = artifacts.accepted();
            if let Some(p) = &pins
                && !accepted.is_empty()
            {
                sink.event(&Event::Verified {
                    trust: p.trust.label(),
                    sha256: accepted.clone(),
                });
            }
            if !needed.is_empty() && !req.yes && !sink.confirm(&Question::Apply(needed))? {
                sink.event(&Event::Declined);
                (InstallOutcome::Declined, Vec::new())
            } else {
                let runner = runner(&host, live);
                let wait = Duration::from_secs(req.opts.wait_timeout);
                sequence::apply_all(&ctx, runner.as_ref(), &artifacts, wait, sink)?
            }
        }
    };
    let sha256 = if accepted.is_empty() {
        pins.as_ref().map(|p| p.sha256.clone()).unwrap_or_default()
    } else {
        accepted.into_iter().collect()
    };
    Ok(Run {
        outcome,
        host: Some(host),
        steps,
        trust: pins.as_ref().map(|p| p.trust),
        sha256,
    })
}

/// `KRC_PAUSE_AFTER_FACTS=FILE` (a test hook, debug builds only): once
/// the host's facts are read, say so on stderr and wait (up to 30 s) until
/// FILE exists, so a test can swap a `--root` tree between krc's first
/// read and its first write, deterministically.
fn pause_after_facts() {
    #[cfg(debug_assertions)]
    if let Some(flag) = std::env::var_os("KRC_PAUSE_AFTER_FACTS") {
        eprintln!("krc: paused after reading the facts");
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while !std::path::Path::new(&flag).exists() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs the host's commands: on the live host for real, in a tree as a
/// record of what would run.
pub(crate) fn runner(host: &Host, live: bool) -> Box<dyn CommandRunner> {
    if live {
        Box::new(LiveRunner {
            user: host.user().name.clone(),
            machine: crate::host::systemd::machine_transport(host),
        })
    } else {
        Box::new(TreeRunner)
    }
}

/// `--dry-run`: the plan, and whether the real run would refuse (said
/// first, and the run is refused then).
fn dry_run(
    ctx: &Ctx<'_>,
    states: &[State],
    refusal: &Refusal,
    req: &Request,
    me: u32,
    pins_note: Option<String>,
    sink: &mut dyn Sink,
) -> (InstallOutcome, Vec<StepResult>) {
    let stops = refusal.stops(req.force);
    let machine = crate::host::systemd::machine_transport(ctx.host);
    let user = &ctx.host.user().name;
    let planned = PLAN
        .iter()
        .zip(states)
        .map(|(step, state)| PlannedStep {
            id: step.id,
            title: step.title,
            state: state.clone(),
            actions: match state {
                State::Needed(_) => (step.plan)(ctx).map(|actions| {
                    actions
                        .iter()
                        .map(|a| a.describe(ctx.fs, user, me, machine))
                        .collect()
                }),
                _ => Ok(Vec::new()),
            },
            then_reboot: step.after == After::Reboot,
        })
        .collect();
    sink.event(&Event::Planned(Plan {
        target: target(ctx.host, ctx.opts),
        live: ctx.live,
        steps: planned,
        pins_note,
        refusal: stops.then(|| refusal.lines(req.force)),
        forced: if stops {
            Vec::new()
        } else {
            refusal.lines(req.force)
        },
    }));
    if stops {
        return (InstallOutcome::Refused, refusal.results(states));
    }
    let steps = PLAN
        .iter()
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
        .collect();
    (InstallOutcome::Planned, steps)
}
