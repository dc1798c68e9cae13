//! The plan: the reference procedure of DESIGN.md as ordered steps. Each
//! step judges from host facts whether the host already satisfies it, and
//! plans the actions that make it so; the journal records how to undo them.
//! Step ids are the `fixed_by` names of the check catalogue.

pub(crate) mod delegation;
mod host;
mod k3s;
mod kernel;

use super::action::Action;
use super::fetch::Pins;
use super::fsops::TreeFs;
use super::options::Options;
use crate::checks::{self, Status};
use crate::host::Host;

/// What a step reads.
pub(crate) struct Ctx<'a> {
    pub(crate) host: &'a Host,
    pub(crate) fs: &'a TreeFs,
    pub(crate) opts: &'a Options,
    /// Acting on the machine krc runs on (not a `--root` tree).
    pub(crate) live: bool,
    pub(crate) pins: Option<&'a Pins>,
}

impl Ctx<'_> {
    /// The check parameters of this install: its rootless settings, its pin.
    pub(crate) fn params(&self) -> checks::Params {
        let mut p = checks::Params {
            rootless: self.opts.rootless,
            ..checks::Params::default()
        };
        p.accept.k3s_version = Some(self.opts.pin.reference().to_string());
        p
    }
}

/// Where the host stands with respect to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Satisfied(String),
    Needed(String),
    /// The step's change is made but takes effect only after a reboot.
    RebootPending(String),
    /// The step cannot or need not run here; the reason says why.
    Skipped(String),
}

/// What the executor does once a step's actions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// Stop with exit 3: the change needs a reboot; the next run continues.
    Reboot,
    /// Wait for `~/.kube/k3s.yaml` and the API server.
    WaitApi,
    /// Make the new delegation take effect in the user's manager: restart
    /// it when the user has no login session, otherwise stop what needs it
    /// until the user's next login (exit 6).
    UserManager,
}

pub(crate) struct Step {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) state: fn(&Ctx<'_>) -> State,
    pub(crate) plan: fn(&Ctx<'_>) -> Result<Vec<Action>, String>,
    pub(crate) after: After,
}

/// Every step, in the order of the reference procedure.
pub(crate) static PLAN: &[Step] = &[
    host::PACKAGES,
    host::SUBIDS,
    host::CGROUP_V2,
    delegation::DELEGATION,
    host::SYSCTL,
    host::LINGER,
    kernel::KERNEL_MODULES,
    kernel::APPARMOR_PROFILE,
    k3s::BINARY,
    k3s::ROOTFUL_DISABLED,
    k3s::USER_UNIT,
    k3s::START,
    k3s::WAIT_API,
];

/// The verdict of catalogue check `id` on the host, judged with this
/// install's settings.
pub(crate) fn verdict(ctx: &Ctx<'_>, id: &str) -> checks::Verdict {
    match checks::find(id) {
        Some(c) => c.judge(&checks::Ctx {
            host: ctx.host,
            params: &ctx.params(),
        }),
        None => checks::Verdict::fail(format!("unknown check {id}")),
    }
}

/// Judges the catalogue check `id` on the host: (passed, summary).
pub(crate) fn check(ctx: &Ctx<'_>, id: &str) -> (bool, String) {
    let v = verdict(ctx, id);
    (v.status == Status::Pass, v.summary)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fixed_by_names_a_step() {
        for c in crate::checks::CATALOGUE {
            if let Some(step) = c.fixed_by {
                assert!(
                    super::PLAN.iter().any(|s| s.id == step),
                    "{} names unknown step {step}",
                    c.id
                );
            }
        }
    }
}
