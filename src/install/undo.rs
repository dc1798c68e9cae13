//! Undoing one journaled change: the inverse of each kind of [`Change`].
//! Something changed since krc made it is left in place with a warning:
//! krc never removes what it did not write.

use super::exec::CommandRunner;
use super::journal::{Change, Journal};

/// Undoes one journaled change. Something changed since krc made it is
/// left in place with a warning: krc never removes what it did not write.
pub(crate) fn undo(
    change: &Change,
    journal: &Journal,
    runner: &dyn CommandRunner,
) -> Result<Option<String>, String> {
    let fs = journal.fs();
    match change {
        Change::CreatedDir { path } => {
            if !fs
                .remove_dir(path)
                .map_err(|e| format!("failed to remove {path}: {e}"))?
            {
                return Ok(Some(format!("{path} is not empty: left in place")));
            }
        }
        Change::CreatedFile { path, sha256 } => match fs.sha256(path) {
            None => {}
            Some(s) if s == *sha256 => fs
                .remove_file(path)
                .map_err(|e| format!("failed to remove {path}: {e}"))?,
            Some(_) => {
                return Ok(Some(format!(
                    "{path} changed since krc wrote it: left in place"
                )));
            }
        },
        Change::ReplacedFile {
            path,
            sha256,
            backup,
            meta,
        } => {
            let old = fs
                .read(backup)
                .map_err(|e| format!("backup {backup} of {path} is unreadable: {e}"))?;
            match fs.sha256(path) {
                Some(s) if s != *sha256 => {
                    return Ok(Some(format!(
                        "{path} changed since krc edited it: left in place; its old content is in {backup}"
                    )));
                }
                _ => fs.write(path, &old, *meta).map_err(|e| e.to_string())?,
            }
            fs.remove_file(backup).map_err(|e| e.to_string())?;
        }
        Change::CreatedSymlink { path, target } => {
            if fs.read_link(path).as_deref() == Some(target.as_str()) {
                fs.remove_file(path)
                    .map_err(|e| format!("failed to remove {path}: {e}"))?;
            }
        }
        Change::Ran {
            undo: Some(cmd), ..
        } => {
            runner.run(cmd).map_err(|e| e.to_string())?;
        }
        Change::Ran { undo: None, .. } => {}
        Change::OnUndo { cmd } => {
            runner.run(cmd).map_err(|e| e.to_string())?;
        }
        Change::Watched { path, backup, meta } => match (backup, meta) {
            (Some(b), Some(m)) => {
                let old = fs
                    .read(b)
                    .map_err(|e| format!("backup {b} of {path} is unreadable: {e}"))?;
                fs.write(path, &old, *m).map_err(|e| e.to_string())?;
                fs.remove_file(b).map_err(|e| e.to_string())?;
            }
            _ => {
                if fs.meta(path).is_some_and(|(t, _)| !t.is_dir()) {
                    fs.remove_file(path)
                        .map_err(|e| format!("failed to remove {path}: {e}"))?;
                }
            }
        },
    }
    Ok(None)
}
