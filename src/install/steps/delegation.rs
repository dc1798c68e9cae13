//! The delegation step (root): `Delegate=cpu cpuset io memory pids` for
//! every user manager, and then making it take effect for the target
//! user without ending anyone's session.
//!
//! A running user manager keeps the controllers it started with: k3s
//! started under it fails with "failed to find cpuset cgroup (v2)". The new
//! delegation takes effect when the manager starts again. krc restarts it
//! only when the user has no login session (a lingering service account);
//! restarting it under a logged-in user stops every user unit, a desktop
//! session included. Otherwise the install finishes what does not need the
//! new delegation and ends with "delegation takes effect at the user's next
//! login" (exit 6); the same command run after it completes the install.

use super::host::root_file;
use super::{After, Ctx, State, Step};
use crate::checks::delegation_config;
use crate::host::cgroup::effective_delegation;
use crate::install::action::{Action, Content};
use crate::install::exec::Cmd;
use crate::install::journal::Undo;
use crate::install::unit::delegate_drop_in;
use crate::layout::DELEGATE_DROP_IN;

const DELEGATED: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];

/// The steps that need the new delegation in effect (or would make a
/// logout keep the old manager running): deferred until the re-login.
pub(crate) const DEFERRED: &[&str] = &["linger", "start", "wait-api"];

pub(super) const DELEGATION: Step = Step {
    id: "delegation",
    title: "delegate cpu cpuset io memory pids to user managers",
    state: |ctx| {
        let u = ctx.host.user();
        let set = effective_delegation(&delegation_config(ctx.host, u.uid));
        let missing: Vec<&str> = DELEGATED
            .iter()
            .copied()
            .filter(|c| !set.iter().any(|s| s == c))
            .collect();
        if missing.is_empty() {
            State::Satisfied(format!(
                "user@.service is configured to delegate {}",
                set.join(" ")
            ))
        } else {
            State::Needed(format!(
                "user@.service does not delegate {}",
                missing.join(", ")
            ))
        }
    },
    plan: |ctx| {
        let reload = Cmd::root(&["systemctl", "daemon-reload"]);
        // Undo runs in reverse: the drop-in goes, then daemon-reload, then
        // the manager restarts (if it runs and the user has no session)
        // and gives the controllers back. Whether this run restarts the
        // manager is decided once the drop-in is in place (see
        // `install::manager::settle`).
        let uid = ctx.host.user().uid;
        Ok(vec![
            Action::OnUndo(Undo::RestartUserManager { uid }),
            Action::OnUndo(Undo::DaemonReload),
            Action::Write {
                path: DELEGATE_DROP_IN.into(),
                content: Content::Bytes(delegate_drop_in().into_bytes()),
                meta: root_file(ctx, DELEGATE_DROP_IN, 0o644),
            },
            Action::Run {
                cmd: reload,
                undo: None,
                watch: vec![],
                optional: false,
            },
        ])
    },
    after: After::UserManager,
};

/// The files whose `Delegate=` settings the user's manager runs with.
pub(crate) fn config_files(ctx: &Ctx<'_>) -> Vec<String> {
    let mut files: Vec<String> = delegation_config(ctx.host, ctx.host.user().uid)
        .into_iter()
        .map(|s| s.file)
        .collect();
    files.dedup();
    files
}
