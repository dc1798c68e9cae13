//! `user.unprivileged`: rootless k3s is for a user who is not root.

use super::{Check, Ctx, Phase, Severity, Verdict};
use crate::host::FactError;

pub(crate) const UNPRIVILEGED: Check = Check {
    id: "user.unprivileged",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the target user is not root",
    fixed_by: None,
    run: unprivileged,
    explain: "\
Verifies that the user krc qualifies (--user, else SUDO_USER, else the invoking user) is not root.

Why: rootless k3s exists so that a container escape lands in an unprivileged user's account, not on the host's real root. Running the rootless unit as root gives no isolation. Upstream does not refuse it: RootlessKit only warns \"Running RootlessKit as the root user is unsupported\" (rootless-containers/rootlesskit:pkg/parent/parent.go) and goes on; the failure here is krc's policy, because such an install has none of the protection it is for. Every other preflight check is judged for this user: their subordinate ids, their runtime directory, their delegated cgroup.

Fix: run krc as that user (`krc preflight`), or as root name them with `sudo krc preflight --user NAME`. Create a dedicated user with `sudo useradd -m k3s-user` if there is none.",
};

pub(super) fn unprivileged(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let seen = format!(
        "target user: {} (uid {}, gid {}, home {})",
        u.name, u.uid, u.gid, u.home
    );
    if u.uid == 0 {
        return Ok(Verdict::fail(format!("the target user {} is root (uid 0): rootless k3s as root isolates nothing (RootlessKit only warns \"unsupported\"; krc refuses)", u.name))
            .evidence(seen)
            .remedy("run krc as the user who will run k3s, or name them: sudo krc preflight --user NAME\n(create one if needed: sudo useradd -m k3s-user)"));
    }
    Ok(Verdict::pass(format!("{} (uid {}) is not root", u.name, u.uid)).evidence(seen))
}
