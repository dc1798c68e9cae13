//! Undoing one journaled change: the inverse of each kind of [`Change`],
//! and a run of them newest first ([`rollback`]). Something changed since
//! krc made it is left in place with a warning: krc never removes or
//! overwrites what it did not write. Each undo checks what it claims: a
//! removed file is gone, a restored one has its old content (by SHA-256),
//! a restarted user manager is active and answers on its bus; what is not
//! so is reported, never counted as undone.

use super::exec::CommandRunner;
use super::fetch::chain;
use super::fsops::TreeFs;
use super::fsops::sha256_hex;
use super::journal::{Change, Entry, Journal, Undo};

/// What a rollback could not do.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// Could not be undone, or is not as it was: fix by hand.
    pub(crate) problems: Vec<String>,
    /// Undone in the configuration, in effect only at the user's next
    /// login (krc never ends a session).
    pub(crate) pending: Vec<String>,
}

/// Undoes every journal entry numbered `from` or later, newest first.
/// Returns what could not be undone, and what takes effect later.
pub(crate) fn rollback(journal: &mut Journal, from: u64, runner: &dyn CommandRunner) -> Leftovers {
    let mut problems = Vec::new();
    let mut pending = Vec::new();
    let mut entries: Vec<_> = journal
        .entries()
        .into_iter()
        .filter(|e| e.seq >= from)
        .collect();
    entries.reverse();
    for e in entries {
        if let Some(note) = manager_pending(&e, journal, runner) {
            pending.push(format!("{}: {note}", e.step));
            if let Err(err) = journal.forget(e.seq) {
                problems.push(format!("journal: {}", chain(&err)));
            }
            continue;
        }
        match undo(&e, journal, runner) {
            Ok(None) => {}
            Ok(Some(warning)) => problems.push(format!("{}: {warning}", e.step)),
            Err(err) => {
                problems.push(format!("{}: {err}", e.step));
                continue; // keep it journaled: `krc uninstall` can retry
            }
        }
        if let Err(err) = journal.forget(e.seq) {
            problems.push(format!("journal: {}", chain(&err)));
        }
    }
    Leftovers { problems, pending }
}

/// For the undo that restarts the user's manager while the user is logged
/// in: what takes effect at the next login instead.
fn manager_pending(entry: &Entry, journal: &Journal, runner: &dyn CommandRunner) -> Option<String> {
    let (Change::Ran {
        undo: Some(Undo::RestartUserManager { uid }),
        ..
    }
    | Change::OnUndo {
        undo: Undo::RestartUserManager { uid },
    }) = &entry.change
    else {
        return None;
    };
    if super::manager::manager_state(runner, *uid).as_deref() != Some("active") {
        return None;
    }
    let record = logind_sessions(journal, *uid);
    (!record.none()).then(|| {
        format!(
            "{} keeps the delegated controllers until the user's next login ({}): krc does not end a session",
            super::manager::unit(*uid),
            record.describe()
        )
    })
}

fn logind_sessions(journal: &Journal, uid: u32) -> super::manager::Sessions {
    super::manager::sessions_now(journal.fs(), uid)
}

/// Undoes one journaled change; `Ok(Some(warning))` when something was
/// deliberately left in place.
pub(crate) fn undo(
    entry: &Entry,
    journal: &Journal,
    runner: &dyn CommandRunner,
) -> Result<Option<String>, String> {
    let fs = journal.fs();
    match &entry.change {
        Change::CreatedDir { path } => {
            if !fs
                .remove_dir(path)
                .map_err(|e| format!("failed to remove {path}: {e}"))?
            {
                return Ok(Some(format!("{path} is not empty: left in place")));
            }
        }
        Change::CreatedFile { path, sha256 } => match fs.sha256(path) {
            None if !fs.exists(path) => {}
            Some(s) if s == *sha256 => {
                fs.remove_file(path)
                    .map_err(|e| format!("failed to remove {path}: {e}"))?;
                gone(fs, path)?;
            }
            _ => {
                return Ok(Some(format!(
                    "{path} changed since krc wrote it: left in place"
                )));
            }
        },
        Change::ReplacedFile { path, sha256, meta } => {
            match fs.sha256(path) {
                Some(s) if s == *sha256 => {}
                None if !fs.exists(path) => {}
                _ => {
                    return Ok(Some(format!(
                        "{path} changed since krc edited it: left in place; its old content is in {}",
                        journal.backup_path(entry.seq)
                    )));
                }
            }
            let old = journal.backup(entry.seq).map_err(|e| chain(&e))?;
            fs.write(path, &old, *meta).map_err(|e| e.to_string())?;
            restored(fs, path, &old)?;
            journal.drop_backup(entry.seq).map_err(|e| chain(&e))?;
        }
        Change::CreatedSymlink { path, target } => {
            if fs.read_link(path).as_deref() == Some(target.as_str()) {
                fs.remove_file(path)
                    .map_err(|e| format!("failed to remove {path}: {e}"))?;
            }
        }
        Change::Ran {
            undo: Some(Undo::RestartUserManager { uid }),
            ..
        }
        | Change::OnUndo {
            undo: Undo::RestartUserManager { uid },
        } => return restart_manager(*uid, runner),
        Change::Ran { undo: Some(u), .. } | Change::OnUndo { undo: u } => {
            let cmd = u.cmd().map_err(|e| e.to_string())?;
            runner.run(&cmd).map_err(|e| e.to_string())?;
        }
        Change::Ran { undo: None, .. } | Change::Verified { .. } => {}
        Change::Watched { path, meta, after } => {
            // The command may have left the path as it was, written it, or
            // (killed early) not reached it: only what it left is undone.
            let now = fs.sha256(path);
            if now != *after && fs.exists(path) {
                return Ok(Some(format!(
                    "{path} changed since krc's command wrote it: left in place{}",
                    if meta.is_some() {
                        format!("; its old content is in {}", journal.backup_path(entry.seq))
                    } else {
                        String::new()
                    }
                )));
            }
            match meta {
                Some(m) => {
                    let old = journal.backup(entry.seq).map_err(|e| chain(&e))?;
                    fs.write(path, &old, *m).map_err(|e| e.to_string())?;
                    restored(fs, path, &old)?;
                    journal.drop_backup(entry.seq).map_err(|e| chain(&e))?;
                }
                None => {
                    if fs.meta(path).is_some_and(|(t, _)| !t.is_dir()) {
                        fs.remove_file(path)
                            .map_err(|e| format!("failed to remove {path}: {e}"))?;
                        gone(fs, path)?;
                    }
                }
            }
        }
    }
    Ok(None)
}

/// A file krc removed is gone.
fn gone(fs: &TreeFs, path: &str) -> Result<(), String> {
    if fs.exists(path) {
        return Err(format!(
            "{path} is still there after krc removed it: check who writes it (`ls -l {path}`)"
        ));
    }
    Ok(())
}

/// A file krc restored holds its old content, compared by SHA-256.
fn restored(fs: &TreeFs, path: &str, old: &[u8]) -> Result<(), String> {
    let want = sha256_hex(old);
    match fs.sha256(path) {
        Some(now) if now == want => Ok(()),
        now => Err(format!(
            "{path} does not have its old content after krc restored it (SHA-256 {} instead of {want}): compare it with the backup in krc's journal",
            now.as_deref().unwrap_or("none")
        )),
    }
}

/// Gives the user's manager back its old delegation (the drop-in is gone
/// by now): a restart, only when it runs (a logged-in user's is left to
/// the next login, see [`manager_pending`]), checked to leave it active
/// with a bus that answers.
fn restart_manager(uid: u32, runner: &dyn CommandRunner) -> Result<Option<String>, String> {
    match super::manager::manager_state(runner, uid).as_deref() {
        // Not running (or a --root tree): it starts with the old delegation.
        Some("active") => super::manager::restart(runner, uid)
            .map(|_| None)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}
