//! `krc uninstall`: undo exactly what the journal recorded, newest first,
//! and nothing krc did not create. A file changed since krc wrote it is
//! left in place and named.

use std::path::PathBuf;

use super::apply::rollback;
use super::exec::{CommandRunner, LiveRunner, TreeRunner};
use super::journal::{Change, Entry, Journal, Lock};
use super::show::say;
use crate::cmd::exit;
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

pub(crate) fn uninstall(req: &Request) -> Result<u8, String> {
    let host = Host::open(&req.root, req.user.as_deref()).map_err(|e| e.to_string())?;
    let live = host.origin() == Origin::Live;
    let u = host.user().clone();
    let me = nix::unistd::geteuid().as_raw();
    // The journal is root's (0700): even a dry run reads it as root.
    if live && me != 0 {
        return super::sudo::reexec(&u.name);
    }
    let fs = super::apply::target_fs(&host, live)?;
    // The lock comes before the journal is read: a concurrent install
    // cannot change it under this uninstall.
    let _lock = if req.dry_run {
        None
    } else {
        Some(Lock::take(host.root(), live)?)
    };
    let journal = Journal::load(&fs, u.uid)?;
    let entries = journal.entries();
    if entries.is_empty() {
        say(&format!(
            "krc uninstall: krc recorded no changes for {} on this host; nothing to undo.",
            u.name
        ));
        return Ok(exit::OK);
    }
    let shown: Vec<String> = entries
        .iter()
        .rev()
        .filter(|e| !matches!(e.change, Change::Ran { undo: None, .. }))
        .map(|e| format!("  [{}] {}", e.step, describe(e, &journal)))
        .collect();
    if req.dry_run {
        say(&format!(
            "krc uninstall --dry-run: {} change(s) krc recorded for {} would be undone, in this order; nothing is changed:",
            shown.len(),
            u.name
        ));
        for s in &shown {
            say(s);
        }
        return Ok(exit::OK);
    }
    if !req.yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err("krc uninstall would change this host and stdin is not a terminal: pass --yes, or look first with --dry-run".into());
        }
        for s in &shown {
            say(s);
        }
        print!("undo these {} change(s)? [y/N] ", shown.len());
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            say("nothing changed.");
            return Ok(exit::OK);
        }
    }
    let runner: Box<dyn CommandRunner> = if live {
        Box::new(LiveRunner {
            user: u.name.clone(),
            machine: crate::host::systemd::machine_transport(&host),
        })
    } else {
        Box::new(TreeRunner)
    };
    let mut journal = journal;
    let problems = rollback(&mut journal, 0, runner.as_ref());
    if problems.is_empty() {
        say(&format!(
            "krc uninstall: undid {} change(s); krc's changes for {} are gone.",
            shown.len(),
            u.name
        ));
        Ok(exit::OK)
    } else {
        say("krc uninstall: these changes could not be undone; fix them by hand:");
        for p in problems {
            say(&format!("  {p}"));
        }
        Ok(exit::FAILED)
    }
}
