//! `krc uninstall`: undo exactly what the journal recorded, newest first,
//! and nothing krc did not create. A file changed since krc wrote it is
//! left in place and named.

use std::path::PathBuf;

use super::apply::InstallError;
use super::journal::{Change, Entry, Journal, Lock};
use super::undo::rollback;
use super::{Event, Question, Sink, UninstallOutcome};
use crate::host::{Host, Origin};

pub(crate) struct Request {
    pub(crate) root: PathBuf,
    pub(crate) user: Option<String>,
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
}

fn describe(e: &Entry, journal: &Journal) -> String {
    match &e.change {
        Change::CreatedDir { path } => format!("remove directory {path} (if empty)"),
        Change::CreatedFile { path, .. } => {
            format!("remove file {path} (if unchanged since krc wrote it)")
        }
        Change::ReplacedFile { path, meta, .. } => format!(
            "restore {path} from {} ({:04o} {}:{})",
            journal.backup_path(e.seq),
            meta.mode,
            meta.uid,
            meta.gid
        ),
        Change::CreatedSymlink { path, target } => format!("remove symlink {path} -> {target}"),
        Change::Ran {
            shown,
            undo: Some(u),
        } => {
            format!("run {} (undoes: {shown})", u.shown())
        }
        Change::Ran { shown, undo: None } => format!("nothing for: {shown} (needs no undo)"),
        Change::OnUndo { undo } => format!("run {}", undo.shown()),
        Change::Verified { trust, .. } => {
            format!("nothing for: the k3s artifacts, verified ({trust}) (needs no undo)")
        }
        Change::Watched {
            path,
            meta: Some(_),
            ..
        } => format!(
            "restore {path} from {} (if unchanged since)",
            journal.backup_path(e.seq)
        ),
        Change::Watched {
            path, meta: None, ..
        } => format!("remove {path} if a command created it (and it is unchanged since)"),
    }
}

pub(crate) fn uninstall(
    req: &Request,
    sink: &mut dyn Sink,
) -> Result<UninstallOutcome, InstallError> {
    let host = Host::open(&req.root, req.user.as_deref())?;
    let live = host.origin() == Origin::Live;
    let u = host.user().clone();
    // The journal is root's (0700): even a dry run reads it as root.
    if live && !nix::unistd::geteuid().is_root() {
        return Err(InstallError::NeedsRoot);
    }
    let fs = super::apply::target_fs(&host, live)?;
    // The lock comes before the journal is read: a concurrent install
    // cannot change it under this uninstall.
    let _lock = if req.dry_run {
        None
    } else {
        Some(Lock::take(host.safe_root(), live)?)
    };
    let mut journal = Journal::load(&fs, u.uid)?;
    let entries = journal.entries();
    if entries.is_empty() {
        sink.event(&Event::NothingRecorded { user: u.name });
        return Ok(UninstallOutcome::NothingRecorded);
    }
    let changes: Vec<String> = entries
        .iter()
        .rev()
        .filter(|e| !matches!(e.change, Change::Ran { undo: None, .. }))
        .map(|e| format!("  [{}] {}", e.step, describe(e, &journal)))
        .collect();
    if req.dry_run {
        sink.event(&Event::UndoPlan {
            user: u.name,
            changes,
        });
        return Ok(UninstallOutcome::Planned);
    }
    if !req.yes && !sink.confirm(&Question::Undo(changes.clone()))? {
        sink.event(&Event::Declined);
        return Ok(UninstallOutcome::Declined);
    }
    let runner = super::apply::runner(&host, live);
    let left = rollback(&mut journal, 0, runner.as_ref());
    let problems = left.problems;
    let outcome = if problems.is_empty() {
        UninstallOutcome::Undone
    } else {
        UninstallOutcome::Incomplete
    };
    sink.event(&Event::Uninstalled {
        user: u.name,
        count: changes.len(),
        problems,
        pending: left.pending,
    });
    Ok(outcome)
}
