//! The state journal: what krc changed, so that a failed run can be undone
//! and `krc uninstall` undoes exactly that and nothing else. The root part
//! lives in `/var/lib/krc/journal.json`, the user part in
//! `~/.local/state/krc/journal.json`; each holds entries numbered across
//! both, so undo runs in exact reverse order. Backups of edited files sit
//! beside the journal in `backups/`. The journal is saved after every
//! change, so even a killed run leaves an accurate record.

use serde::{Deserialize, Serialize};

use super::exec::Cmd;
use super::fsops::{Meta, TreeFs};

pub(crate) const ROOT_STATE_DIR: &str = "/var/lib/krc";
const JOURNAL: &str = "journal.json";

/// One change made to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Change {
    CreatedDir {
        path: String,
    },
    CreatedFile {
        path: String,
        sha256: String,
    },
    /// An existing file was replaced; `backup` (a host path) holds the old
    /// content and `meta` its mode and owner.
    ReplacedFile {
        path: String,
        sha256: String,
        backup: String,
        meta: Meta,
    },
    CreatedSymlink {
        path: String,
        target: String,
    },
    Ran {
        cmd: Cmd,
        undo: Option<Cmd>,
    },
    /// Run `cmd` when undoing past this point.
    OnUndo {
        cmd: Cmd,
    },
    /// A path a command may write (the install script's outputs), as it was
    /// before the command: absent, or backed up.
    Watched {
        path: String,
        backup: Option<String>,
        meta: Option<Meta>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) step: String,
    pub(crate) change: Change,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PartFile {
    version: u32,
    /// Directories krc created to hold this journal: removed with it.
    created_dirs: Vec<String>,
    entries: Vec<Entry>,
}

/// Which part of the journal a change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Root,
    User,
}

#[derive(Debug)]
struct Part {
    dir: String,
    owner: Meta,
    data: PartFile,
}

/// Both parts of the journal, loaded.
#[derive(Debug)]
pub(crate) struct Journal {
    fs: TreeFs,
    root: Part,
    user: Part,
    /// The user's home: paths under it belong to the user part.
    home: String,
}

impl Journal {
    pub(crate) fn load(fs: &TreeFs, home: &str, uid: u32, gid: u32) -> Result<Journal, String> {
        let load = |dir: &str, owner: Meta| -> Result<Part, String> {
            let file = format!("{dir}/{JOURNAL}");
            let data = match fs.read(&file) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    format!("{}: not a krc journal ({e}); move it away only if you know krc did not write it", fs.path(&file).display())
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => PartFile { version: 1, ..Default::default() },
                Err(e) => return Err(format!("failed to read {}: {e}", fs.path(&file).display())),
            };
            Ok(Part {
                dir: dir.to_string(),
                owner,
                data,
            })
        };
        Ok(Journal {
            fs: fs.clone(),
            // Readable by all, so the user can see what krc did (`krc uninstall
            // --dry-run` without sudo); backups of edited files stay 0600.
            root: load(ROOT_STATE_DIR, Meta::new(0o755, 0, 0))?,
            user: load(
                &format!("{home}/.local/state/krc"),
                Meta::new(0o700, uid, gid),
            )?,
            home: home.to_string(),
        })
    }

    pub(crate) fn side_of_path(&self, path: &str) -> Side {
        if path.starts_with(&format!("{}/", self.home.trim_end_matches('/'))) {
            Side::User
        } else {
            Side::Root
        }
    }

    fn part(&mut self, side: Side) -> &mut Part {
        match side {
            Side::Root => &mut self.root,
            Side::User => &mut self.user,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.root
            .data
            .entries
            .iter()
            .chain(&self.user.data.entries)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Every entry, oldest first.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .root
            .data
            .entries
            .iter()
            .chain(&self.user.data.entries)
            .cloned()
            .collect();
        all.sort_by_key(|e| e.seq);
        all
    }

    /// Where a backup of `path` goes (a host path in the state directory).
    pub(crate) fn backup_path(&mut self, side: Side, seq: u64) -> Result<String, String> {
        self.ensure_dir(side)?;
        let dir = format!("{}/backups", self.part(side).dir);
        if !self.fs.exists(&dir) {
            let owner = self.part(side).owner;
            // Backups hold other files' old contents: private.
            let private = Meta {
                mode: 0o700,
                ..owner
            };
            self.fs.mkdir(&dir, private).map_err(|e| e.to_string())?;
        }
        Ok(format!("{dir}/{seq}"))
    }

    fn ensure_dir(&mut self, side: Side) -> Result<(), String> {
        let fs = self.fs.clone();
        let part = self.part(side);
        for d in fs.missing_parents(&format!("{}/{JOURNAL}", part.dir)) {
            // Intermediate directories (~/.local/state) get the usual 0755.
            let meta = if d == part.dir {
                part.owner
            } else {
                Meta {
                    mode: 0o755,
                    ..part.owner
                }
            };
            fs.mkdir(&d, meta).map_err(|e| e.to_string())?;
            part.data.created_dirs.push(d);
        }
        Ok(())
    }

    pub(crate) fn record(&mut self, side: Side, step: &str, change: Change) -> Result<u64, String> {
        let seq = self.next_seq();
        self.ensure_dir(side)?;
        self.part(side).data.entries.push(Entry {
            seq,
            step: step.to_string(),
            change,
        });
        self.save(side)?;
        Ok(seq)
    }

    /// Forgets an entry (after it was undone).
    pub(crate) fn forget(&mut self, seq: u64) -> Result<(), String> {
        for side in [Side::Root, Side::User] {
            let part = self.part(side);
            let before = part.data.entries.len();
            part.data.entries.retain(|e| e.seq != seq);
            if part.data.entries.len() != before {
                self.save(side)?;
            }
        }
        Ok(())
    }

    fn save(&mut self, side: Side) -> Result<(), String> {
        let fs = self.fs.clone();
        let part = self.part(side);
        let file = format!("{}/{JOURNAL}", part.dir);
        if part.data.entries.is_empty() {
            // Nothing recorded: leave no trace, not even the directories
            // krc made for the journal.
            fs.remove_file(&file).map_err(|e| e.to_string())?;
            let _ = fs.remove_dir(&format!("{}/backups", part.dir));
            for d in part.data.created_dirs.drain(..).rev() {
                let _ = fs.remove_dir(&d);
            }
            return Ok(());
        }
        let mut text = serde_json::to_string_pretty(&part.data).map_err(|e| e.to_string())?;
        text.push('\n');
        let mode = if part.owner.uid == 0 { 0o644 } else { 0o600 };
        fs.write(&file, text.as_bytes(), Meta { mode, ..part.owner })
            .map_err(|e| e.to_string())
    }

    pub(crate) fn owner(&self, side: Side) -> Meta {
        match side {
            Side::Root => self.root.owner,
            Side::User => self.user.owner,
        }
    }

    pub(crate) fn fs(&self) -> &TreeFs {
        &self.fs
    }
}

/// Holds an exclusive flock on the target root for the life of the value:
/// two installs (or an install and an uninstall) never interleave.
pub(crate) struct Lock {
    _dir: std::fs::File,
}

impl Lock {
    pub(crate) fn take(root: &std::path::Path) -> Result<Lock, String> {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(root)
            .map_err(|e| format!("failed to open {} to lock it: {e}", root.display()))?;
        // SAFETY: flock on a descriptor we own; the lock is released when it closes.
        let r = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(format!(
                    "another krc install or uninstall is running on {} (it holds the lock); wait for it to finish, then run this again",
                    root.display()
                ));
            }
            return Err(format!("failed to lock {}: {e}", root.display()));
        }
        Ok(Lock { _dir: dir })
    }
}
