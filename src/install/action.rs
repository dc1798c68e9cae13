//! What a step does, as data: files to write, links to make, commands to
//! run. The same list is printed by `--dry-run` and applied by the
//! executor, and every application is journaled with what undoes it.

use std::io;

use super::exec::{Cmd, CommandRunner, Ran, RunError};
use super::fetch::FetchError;
use super::fsops::{Meta, sha256_hex};
use super::journal::{Change, Journal, JournalError, Undo};

/// Why an action failed. The file layer's, the journal's and a command's
/// errors already say what and where: they pass through unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Command(#[from] RunError),
    #[error(transparent)]
    Artifact(#[from] FetchError),
    /// A write, mkdir or read of the file layer, whose message names the
    /// path.
    #[error(transparent)]
    Fs(#[from] io::Error),
    #[error("failed to create {path}")]
    Symlink {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0} vanished before krc could back it up")]
    Vanished(String),
    #[error("failed to read {path} to back it up")]
    BackUp {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to write {path}")]
    ScriptCopy {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to create a directory in {base}")]
    TempDir {
        base: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to create a private directory in {0}")]
    NoTempName(String),
}

/// A file's content: bytes krc renders, or a verified downloaded artifact.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Bytes(Vec<u8>),
    Artifact {
        name: String,
        sha256: String,
        source: String,
    },
    /// The user unit, rendered at apply time from the verified upstream
    /// unit of `tag` for the binary at `k3s_bin` (`super::unit::render`).
    UserUnit {
        sha256: String,
        source: String,
        k3s_bin: String,
        tag: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    Write {
        path: String,
        content: Content,
        meta: Meta,
    },
    Symlink {
        path: String,
        target: String,
        meta: Meta,
    },
    /// A command; `undo` reverses it; `watch` are paths it may create or
    /// change, restored to their previous state on undo.
    Run {
        cmd: Cmd,
        undo: Option<Undo>,
        watch: Vec<String>,
        optional: bool,
    },
    /// A verified script artifact, run as `cmd` with its `INSTALL_SH`
    /// argument replaced by a private temporary copy.
    RunScript {
        artifact: String,
        sha256: String,
        source: String,
        cmd: Cmd,
        watch: Vec<String>,
    },
    /// `apt-get install`; its undo purges exactly the packages this run
    /// added (the named ones and the dependencies apt pulled in), as
    /// dpkg's status file lists them before and after.
    AptInstall { cmd: Cmd },
    /// Nothing now; on undo, once the later changes are reverted, do this
    /// (a daemon-reload after unit files are gone).
    OnUndo(Undo),
}

/// Resolves artifact names to verified bytes at apply time.
pub(crate) trait ArtifactStore {
    fn bytes(&self, name: &str) -> Result<&[u8], FetchError>;

    /// How the artifacts were trusted and each one's SHA-256, for the
    /// journal; None when nothing was fetched.
    fn verified(&self) -> Option<(&'static str, Vec<(String, String)>)> {
        None
    }
}

impl Action {
    /// The host paths this action may create or replace, each with
    /// whether krc itself replaces what is there (so it must be a regular
    /// file if it exists) or only a command may (a link there is skipped).
    pub(crate) fn paths(&self) -> Vec<(&str, bool)> {
        match self {
            Action::Write { path, .. } => vec![(path.as_str(), true)],
            Action::Symlink { path, .. } => vec![(path.as_str(), false)],
            Action::Run { watch, .. } | Action::RunScript { watch, .. } => {
                watch.iter().map(|w| (w.as_str(), false)).collect()
            }
            Action::AptInstall { .. } | Action::OnUndo(_) => Vec::new(),
        }
    }

    /// Applies the action, journaling each change before moving on: the
    /// notes it leaves for the step's evidence.
    pub(crate) fn apply(
        &self,
        step: &str,
        journal: &mut Journal,
        runner: &dyn CommandRunner,
        store: &dyn ArtifactStore,
    ) -> Result<Vec<String>, ActionError> {
        match self {
            Action::Write {
                path,
                content,
                meta,
            } => {
                let mut notes = Vec::new();
                let bytes: Vec<u8> = match content {
                    Content::Bytes(b) => b.clone(),
                    Content::Artifact { name, .. } => store.bytes(name)?.to_vec(),
                    Content::UserUnit { k3s_bin, tag, .. } => {
                        let upstream = store.bytes(super::fetch::UNIT_ARTIFACT)?;
                        notes.push(format!(
                            "{path}: upstream's k3s-rootless.service of k3s {tag} (sha256 {}), ExecStart running {k3s_bin}",
                            super::fsops::sha256_hex(upstream)
                        ));
                        super::unit::render(upstream, k3s_bin, tag)?.into_bytes()
                    }
                };
                write(step, path, &bytes, *meta, journal)?;
                Ok(notes)
            }
            Action::Symlink { path, target, meta } => {
                symlink(step, path, target, *meta, journal)?;
                Ok(Vec::new())
            }
            Action::AptInstall { cmd } => apt_install(step, cmd, journal, runner),
            Action::OnUndo(undo) => {
                journal.record(step, Change::OnUndo { undo: undo.clone() })?;
                Ok(Vec::new())
            }
            Action::RunScript {
                artifact,
                cmd,
                watch,
                ..
            } => run_script(step, artifact, cmd, watch, journal, runner, store),
            Action::Run {
                cmd,
                undo,
                watch,
                optional,
            } => run(step, cmd, undo, watch, *optional, journal, runner),
        }
    }
}

/// Writes `bytes` at `path` unless it already holds them with `meta`,
/// backing up what it replaces.
fn write(
    step: &str,
    path: &str,
    bytes: &[u8],
    meta: Meta,
    journal: &mut Journal,
) -> Result<(), ActionError> {
    let fs = journal.fs().clone();
    if fs.read(path).ok().as_deref() == Some(bytes) && fs.meta(path).is_some_and(|(_, m)| m == meta)
    {
        return Ok(());
    }
    make_parents(step, path, meta, journal)?;
    let sha256 = sha256_hex(bytes);
    match fs.meta(path) {
        Some(_) => {
            let (seq, old_meta) = back_up(journal, path)?;
            journal.record_at(
                seq,
                step,
                Change::ReplacedFile {
                    path: path.to_string(),
                    sha256,
                    meta: old_meta,
                },
            )?;
        }
        None => {
            journal.record(
                step,
                Change::CreatedFile {
                    path: path.to_string(),
                    sha256,
                },
            )?;
        }
    }
    // Journaled first: a crash between the two leaves an entry whose undo
    // finds the old content and does no harm. A write that failed changed
    // nothing: its entry and backup go.
    if let Err(e) = fs.write(path, bytes, meta) {
        forget_last(journal);
        return Err(e.into());
    }
    Ok(())
}

/// Makes the link `path -> target` unless it is there already.
fn symlink(
    step: &str,
    path: &str,
    target: &str,
    meta: Meta,
    journal: &mut Journal,
) -> Result<(), ActionError> {
    let fs = journal.fs().clone();
    if fs.read_link(path).as_deref() == Some(target) {
        return Ok(());
    }
    make_parents(
        step,
        path,
        Meta {
            mode: 0o755,
            ..meta
        },
        journal,
    )?;
    journal.record(
        step,
        Change::CreatedSymlink {
            path: path.to_string(),
            target: target.to_string(),
        },
    )?;
    if let Err(e) = fs.symlink(path, target, meta) {
        forget_last(journal);
        return Err(ActionError::Symlink {
            path: path.to_string(),
            source: e,
        });
    }
    Ok(())
}

/// Runs `apt-get install` and journals the packages it added.
fn apt_install(
    step: &str,
    cmd: &Cmd,
    journal: &mut Journal,
    runner: &dyn CommandRunner,
) -> Result<Vec<String>, ActionError> {
    let fs = journal.fs().clone();
    let before = super::dpkg::installed_packages(&fs);
    let seq = journal.record(
        step,
        Change::Ran {
            shown: cmd.shown(),
            undo: None,
        },
    )?;
    let ran = runner.run(cmd);
    // Whatever dpkg now lists that it did not before is this run's, even
    // when apt failed halfway.
    let added: Vec<String> = super::dpkg::installed_packages(&fs)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    journal.forget(seq)?;
    if !added.is_empty() {
        journal.record(
            step,
            Change::Ran {
                shown: cmd.shown(),
                undo: Some(Undo::AptPurge {
                    packages: added.clone(),
                }),
            },
        )?;
    }
    Ok(match ran? {
        Ran::Ok(_) => vec![format!("packages added: {}", added.join(" "))],
        Ran::NotRun(why) => vec![format!("not run ({why}): {}", cmd.shown())],
    })
}

/// Runs the verified script `artifact` from a private copy.
fn run_script(
    step: &str,
    artifact: &str,
    cmd: &Cmd,
    watch: &[String],
    journal: &mut Journal,
    runner: &dyn CommandRunner,
    store: &dyn ArtifactStore,
) -> Result<Vec<String>, ActionError> {
    if let Some((trust, sums)) = store.verified() {
        journal.record(
            step,
            Change::Verified {
                trust: trust.to_string(),
                sha256: sums.into_iter().collect(),
            },
        )?;
    }
    let dir = tempdir()?;
    let file = dir.join("install.sh");
    let result = (|| {
        std::fs::write(&file, store.bytes(artifact)?).map_err(|source| {
            ActionError::ScriptCopy {
                path: file.display().to_string(),
                source,
            }
        })?;
        let mut cmd = cmd.clone();
        for a in &mut cmd.argv {
            if a == "INSTALL_SH" {
                *a = file.display().to_string();
            }
        }
        run(step, &cmd, &None, watch, false, journal, runner)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs a command, journaled with its undo, and the paths it may change
/// backed up first.
fn run(
    step: &str,
    cmd: &Cmd,
    undo: &Option<Undo>,
    watch: &[String],
    optional: bool,
    journal: &mut Journal,
    runner: &dyn CommandRunner,
) -> Result<Vec<String>, ActionError> {
    let watched = watch_paths(step, watch, journal)?;
    let seq = journal.record(
        step,
        Change::Ran {
            shown: cmd.shown(),
            undo: undo.clone(),
        },
    )?;
    let ran = runner.run(cmd);
    // What the command left at each watched path: undo restores only a
    // path that still holds exactly that.
    let fs = journal.fs().clone();
    for (wseq, change) in watched {
        if let Change::Watched { path, meta, .. } = change {
            let after = fs.sha256(&path);
            journal.update(wseq, Change::Watched { path, meta, after })?;
        }
    }
    match ran {
        Ok(Ran::Ok(_)) => Ok(Vec::new()),
        Ok(Ran::NotRun(why)) => Ok(vec![format!("not run ({why}): {}", cmd.shown())]),
        // A command that failed is not undone by its inverse; only the
        // paths it watched are restored.
        Err(e) if optional => {
            journal.forget(seq)?;
            Ok(vec![format!("advisory, not applied: {e}")])
        }
        Err(e) => {
            journal.forget(seq)?;
            Err(e.into())
        }
    }
}

/// Journals the state of each path a command may create or change (a
/// file is backed up): the entries, to complete once the command ran.
fn watch_paths(
    step: &str,
    watch: &[String],
    journal: &mut Journal,
) -> Result<Vec<(u64, Change)>, ActionError> {
    let fs = journal.fs().clone();
    let mut watched = Vec::new();
    for w in watch {
        let change = match fs.meta(w) {
            Some((t, _)) if t.is_file() => {
                let (seq, meta) = back_up(journal, w)?;
                let change = Change::Watched {
                    path: w.clone(),
                    meta: Some(meta),
                    after: None,
                };
                journal.record_at(seq, step, change.clone())?;
                watched.push((seq, change));
                continue;
            }
            Some(_) => continue, // a link or directory it will not replace
            None => Change::Watched {
                path: w.clone(),
                meta: None,
                after: None,
            },
        };
        let seq = journal.record(step, change.clone())?;
        watched.push((seq, change));
    }
    Ok(watched)
}

/// A private directory (0700, a name no one can guess; mkdir never
/// follows a planted link) for the install script's copy.
fn tempdir() -> Result<std::path::PathBuf, ActionError> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::path::Path::new("/tmp");
    for _ in 0..100u32 {
        let d = base.join(format!("krc-install-{}", super::fsops::random_suffix()));
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(ActionError::TempDir {
                    base: base.display().to_string(),
                    source,
                });
            }
        }
    }
    Err(ActionError::NoTempName(base.display().to_string()))
}

/// Copies `path` into the journal's private backup area and returns the
/// seq its entry must take and the file's mode and owner.
fn back_up(journal: &mut Journal, path: &str) -> Result<(u64, Meta), ActionError> {
    let fs = journal.fs().clone();
    let meta = fs
        .meta(path)
        .map(|(_, m)| m)
        .ok_or_else(|| ActionError::Vanished(path.to_string()))?;
    let old = fs.read(path).map_err(|source| ActionError::BackUp {
        path: path.to_string(),
        source,
    })?;
    Ok((journal.back_up(&old)?, meta))
}

fn make_parents(
    step: &str,
    path: &str,
    meta: Meta,
    journal: &mut Journal,
) -> Result<(), ActionError> {
    let fs = journal.fs().clone();
    for d in fs.missing_parents(path) {
        journal.record(step, Change::CreatedDir { path: d.clone() })?;
        let dir_meta = Meta {
            mode: 0o755,
            ..meta
        };
        if let Err(e) = fs.mkdir(&d, dir_meta) {
            forget_last(journal);
            return Err(e.into());
        }
    }
    Ok(())
}

/// Drops the newest journal entry, and its backup, after the change it
/// announced failed before touching anything.
fn forget_last(journal: &mut Journal) {
    if let Some(seq) = journal.entries().last().map(|e| e.seq) {
        let _ = journal.drop_backup(seq);
        let _ = journal.forget(seq);
    }
}
