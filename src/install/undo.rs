//! Undoing one journaled change: the inverse of each kind of [`Change`],
//! and a run of them newest first ([`rollback`]). Something changed since
//! krc made it is left in place with a warning: krc never removes or
//! overwrites what it did not write.

use super::exec::CommandRunner;
use super::fetch::chain;
use super::journal::{Change, Entry, Journal};

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
    problems
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
            Some(s) if s == *sha256 => fs
                .remove_file(path)
                .map_err(|e| format!("failed to remove {path}: {e}"))?,
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
            journal.drop_backup(entry.seq).map_err(|e| chain(&e))?;
        }
        Change::CreatedSymlink { path, target } => {
            if fs.read_link(path).as_deref() == Some(target.as_str()) {
                fs.remove_file(path)
                    .map_err(|e| format!("failed to remove {path}: {e}"))?;
            }
        }
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
                    journal.drop_backup(entry.seq).map_err(|e| chain(&e))?;
                }
                None => {
                    if fs.meta(path).is_some_and(|(t, _)| !t.is_dir()) {
                        fs.remove_file(path)
                            .map_err(|e| format!("failed to remove {path}: {e}"))?;
                    }
                }
            }
        }
    }
    Ok(None)
}
