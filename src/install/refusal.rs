//! Why the real install would stop before changing anything: paths krc
//! must not write as root, required checks that fail and that no step
//! fixes, pins that cannot be loaded. `--dry-run` finds them the same way.

use super::apply::StepResult;
use super::report::Outcome;
use super::steps::{Ctx, PLAN, State};

/// Why the real run would stop before changing anything: found the same
/// way by `--dry-run`, which then exits non-zero and says so first.
#[derive(Debug, Default)]
pub(crate) struct Refusal {
    /// Paths krc must not write as root.
    pub(crate) paths: Vec<String>,
    /// Required checks that fail and that no step fixes.
    pub(crate) blockers: Vec<super::gate::Blocker>,
    /// The pins could not be loaded though the binary step is needed.
    pub(crate) pins: Option<String>,
    /// Needed steps that cannot apply on this host (their plan fails: no
    /// apt-get or dnf for packages, no grub or grubby for cgroup-v2): the
    /// real run would fail there, so it stops up front and a dry run says
    /// so. `--force` does not pass them: nothing could be applied.
    pub(crate) unplannable: Vec<String>,
    /// The command that writes pins for this run's k3s.
    pins_remedy: String,
}

impl Refusal {
    pub(crate) fn find(ctx: &Ctx<'_>, states: &[State], pins_err: Option<&str>) -> Refusal {
        let needed = needed(states);
        // A step fixes its checks only if it can apply here: one whose plan
        // fails (no grub and no grubby for cgroup-v2) leaves them blocking,
        // so the run refuses up front instead of failing at that step.
        let mut fixing: Vec<&str> = Vec::new();
        let mut unplannable = Vec::new();
        for (i, s) in PLAN.iter().enumerate() {
            if !needed.contains(&s.id) {
                continue;
            }
            match (s.plan)(ctx) {
                Ok(_) => fixing.push(s.id),
                Err(e) => unplannable.push(format!(
                    "step {}/{} {} cannot apply on this host: {e}",
                    i + 1,
                    PLAN.len(),
                    s.id
                )),
            }
        }
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
            pins_remedy: pins_remedy(&ctx.opts.pin),
            unplannable,
        }
    }

    /// Whether `--force` would let the run go on: only blockers stop it.
    pub(crate) fn force_passes(&self) -> bool {
        !self.blockers.is_empty()
            && self.paths.is_empty()
            && self.pins.is_none()
            && self.unplannable.is_empty()
    }

    /// Whether the run stops here (`--force` passes the blockers only).
    pub(crate) fn stops(&self, force: bool) -> bool {
        !self.paths.is_empty()
            || self.pins.is_some()
            || !self.unplannable.is_empty()
            || (!self.blockers.is_empty() && !force)
    }

    /// The lines that say why, for the terminal.
    pub(crate) fn lines(&self, force: bool) -> Vec<String> {
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
        if !self.unplannable.is_empty() {
            out.push("the run would fail at a step that cannot apply here:".to_string());
            out.extend(self.unplannable.iter().map(|u| format!("  {u}")));
        }
        out
    }

    /// The install testsuite of a refused run: what refused it, then
    /// every step as not run.
    pub(crate) fn results(&self, states: &[State]) -> Vec<StepResult> {
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
            r.remedy = Some(self.pins_remedy.clone());
            out.push(r);
        }
        if !self.unplannable.is_empty() {
            let mut r = StepResult::new(
                "gate.steps",
                "every step the host needs can apply on it",
                Outcome::Failed(format!(
                    "refused: {} needed step(s) cannot apply on this host",
                    self.unplannable.len()
                )),
            );
            r.evidence = self.unplannable.clone();
            r.remedy =
                Some("do by hand what each named step says, then run krc install again".into());
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

/// Write the pins, review them, install with them (docs/install.md,
/// "Pins, mirror, offline bundle").
fn pins_remedy(pin: &super::options::K3sPin) -> String {
    let r = pin.reference();
    match pin {
        super::options::K3sPin::Version(_) => format!(
            "krc pins {r} --output pins.toml && krc install --k3s-version {r} --pins pins.toml"
        ),
        super::options::K3sPin::Commit(_) => format!(
            "krc pins {r} --mirror URL --output pins.toml && krc install --k3s-commit {r} --mirror URL --pins pins.toml"
        ),
    }
}

/// The ids of the steps the host needs.
pub(crate) fn needed(states: &[State]) -> Vec<&'static str> {
    PLAN.iter()
        .zip(states)
        .filter(|(_, s)| matches!(s, State::Needed(_) | State::RebootPending(_)))
        .map(|(p, _)| p.id)
        .collect()
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
