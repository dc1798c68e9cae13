//! The state journal: what krc changed, so that a failed run can be undone
//! and `krc uninstall` undoes exactly that and nothing else.
//!
//! It is root's and only root's: `/var/lib/krc/<uid>/journal.json` (0600)
//! in a directory of mode 0700, with backups of edited files beside it in
//! `backups/<seq>`. Every part of that path is opened without following
//! links and checked to belong to krc's own uid and be writable by no one
//! else, so the target user can neither plant entries nor read backups.
//! The journal holds no command line: an undo is one of the operations of
//! [`Undo`], whose command krc computes and whose values it checks. It is
//! saved after every change, so even a killed run leaves an accurate record.

use std::io;

use serde::{Deserialize, Serialize};

use super::exec::Cmd;
use super::fsops::{Kind, Meta, TreeFs};

pub(crate) const STATE_DIR: &str = "/var/lib/krc";
const JOURNAL: &str = "journal.json";
const VERSION: u32 = 2;

/// The directory of the journal for the user with this uid.
pub(crate) fn state_dir(uid: u32) -> String {
    format!("{STATE_DIR}/{uid}")
}

/// How krc reverses a command: a closed set of operations. The journal
/// names the operation and its values; the command line is built here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub(crate) enum Undo {
    /// `apt-get purge` of exactly the packages a run added.
    AptPurge {
        packages: Vec<String>,
    },
    DnfRemove {
        packages: Vec<String>,
    },
    /// `sysctl -w KEY=VALUE`: a forwarding key back to its old value.
    Sysctl {
        key: String,
        value: String,
    },
    DisableLinger {
        user: String,
    },
    EnableRootfulK3s,
    DaemonReload,
    /// `systemctl try-restart user@UID.service`.
    RestartUserManager {
        uid: u32,
    },
    UserDaemonReload,
    /// `systemctl --user try-restart k3s-rootless.service`.
    UserRestartK3s,
    /// `systemctl --user disable --now k3s-rootless.service`.
    UserDisableK3s,
    /// `update-grub`: regenerate the boot configuration from the defaults.
    UpdateGrub,
    /// `grubby --update-kernel=ALL --remove-args=systemd.unified_cgroup_hierarchy=1`.
    GrubbyRemoveFlag,
    /// `apparmor_parser -R /etc/apparmor.d/krc-k3s`: unload krc's profile.
    AppArmorUnload,
}

/// The sysctl keys krc sets and may set back.
pub(crate) const SYSCTL_KEYS: &[&str] = &["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

fn package_name_ok(p: &str) -> bool {
    // Debian and RPM package names, with a multi-arch qualifier.
    !p.is_empty()
        && p.len() <= 128
        && p.as_bytes()[0].is_ascii_alphanumeric()
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.:_".contains(c))
}

fn user_name_ok(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && !u.starts_with('-')
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
}

impl Undo {
    /// The command that performs this undo, after checking its values.
    pub(crate) fn cmd(&self) -> Result<Cmd, UndoRefused> {
        use crate::layout::UNIT as UNIT_NAME;
        let bad = |what: &'static str| Err(UndoRefused(what));
        Ok(match self {
            Undo::AptPurge { packages } | Undo::DnfRemove { packages } => {
                if packages.is_empty() || !packages.iter().all(|p| package_name_ok(p)) {
                    return bad("package names are not plain package names");
                }
                let mut argv: Vec<&str> = match self {
                    Undo::AptPurge { .. } => vec!["apt-get", "purge", "-y", "-q"],
                    _ => vec!["dnf", "remove", "-y"],
                };
                argv.extend(packages.iter().map(String::as_str));
                let c = Cmd::root(&argv);
                if matches!(self, Undo::AptPurge { .. }) {
                    c.env("DEBIAN_FRONTEND", "noninteractive")
                } else {
                    c
                }
            }
            Undo::Sysctl { key, value } => {
                if !SYSCTL_KEYS.contains(&key.as_str())
                    || value.is_empty()
                    || !value.chars().all(|c| c.is_ascii_digit())
                {
                    return bad("not a forwarding sysctl krc sets");
                }
                Cmd::root(&["sysctl", "-w", &format!("{key}={value}")])
            }
            Undo::DisableLinger { user } => {
                if !user_name_ok(user) {
                    return bad("not a user name");
                }
                Cmd::root(&["loginctl", "disable-linger", user])
            }
            Undo::EnableRootfulK3s => Cmd::root(&["systemctl", "enable", "k3s.service"]),
            Undo::DaemonReload => Cmd::root(&["systemctl", "daemon-reload"]),
            Undo::RestartUserManager { uid } => {
                Cmd::root(&["systemctl", "try-restart", &format!("user@{uid}.service")])
            }
            Undo::UserDaemonReload => Cmd::user(&["systemctl", "--user", "daemon-reload"]),
            Undo::UserRestartK3s => Cmd::user(&["systemctl", "--user", "try-restart", UNIT_NAME]),
            Undo::UserDisableK3s => {
                Cmd::user(&["systemctl", "--user", "disable", "--now", UNIT_NAME])
            }
            Undo::UpdateGrub => Cmd::root(&["update-grub"]),
            Undo::AppArmorUnload => Cmd::root(&[
                "apparmor_parser",
                "-R",
                crate::checks::userns::K3S_APPARMOR_FILE,
            ]),
            Undo::GrubbyRemoveFlag => Cmd::root(&[
                "grubby",
                "--update-kernel=ALL",
                &format!("--remove-args={}", crate::host::boot::UNIFIED_FLAG),
            ]),
        })
    }

    /// The command as the plan and `uninstall --dry-run` show it.
    pub(crate) fn shown(&self) -> String {
        self.cmd()
            .map(|c| c.shown())
            .unwrap_or_else(|e| e.to_string())
    }
}

/// An undo whose values are not ones krc writes: the journal was edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry refused: {0}")]
pub(crate) struct UndoRefused(&'static str);

/// Why a journal krc reads is not one krc wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidJournal {
    #[error("journal version {found} (this krc writes {VERSION})")]
    Version { found: u32 },
    #[error("journal of uid {found}, not {wanted}")]
    Uid { found: u32, wanted: u32 },
    #[error("entry seq {0} is out of order")]
    Seq(u64),
    // The refusal says "journal entry refused: ..." itself: one line.
    #[error("entry {seq}: {undo}")]
    Undo { seq: u64, undo: UndoRefused },
    #[error("created_dirs names {0}, outside krc's state")]
    CreatedDir(String),
}

/// What went wrong with the journal, its backups or the install lock.
/// Each message says what krc was doing and on which path; the OS error,
/// when there is one, is the source (printed as a `caused by:` line).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    /// A part of krc's state is not krc's own: a link or special file,
    /// someone else's, or writable by others.
    #[error(
        "refusing krc state {path}: {why}; krc keeps its journal and backups only in places that are its own. Move it away and check who made it"
    )]
    Refused { path: String, why: String },
    #[error("{path}: not a {wanted}")]
    WrongKind { path: String, wanted: &'static str },
    /// The journal is root's and krc runs as someone else.
    #[error("{path} is root's: run this krc command with sudo")]
    RootOnly { path: String },
    /// Reading, writing or creating part of krc's state failed; `doing`
    /// says what (the OS error names the path).
    #[error("failed to {doing}")]
    Io {
        doing: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a krc journal; move it away only if you know krc did not write it")]
    Malformed {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: String, why: InvalidJournal },
    #[error("journal: seq {0} is out of order")]
    SeqOutOfOrder(u64),
    #[error("backup {path} is missing")]
    BackupMissing { path: String },
    #[error("failed to serialize the journal")]
    Serialize(#[source] serde_json::Error),
    #[error(
        "failed to open the lock {path}; if it is a link or not krc's, remove it, then run this again"
    )]
    LockUnopenable {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the lock {path} is not krc's (owner uid {uid}, mode {mode:o}): remove it, then run this again"
    )]
    LockNotKrcs { path: String, uid: u32, mode: u32 },
    #[error(
        "another krc install or uninstall is running ({path} is locked); wait for it to finish, then run this again"
    )]
    LockHeld { path: String },
    #[error("failed to lock {path}")]
    LockFailed {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl JournalError {
    fn io(doing: impl Into<String>) -> impl FnOnce(io::Error) -> JournalError {
        let doing = doing.into();
        move |source| JournalError::Io { doing, source }
    }
}

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
    /// An existing file was replaced; its old content is in the backup of
    /// this entry's seq, `meta` is its old mode and owner.
    ReplacedFile {
        path: String,
        sha256: String,
        meta: Meta,
    },
    CreatedSymlink {
        path: String,
        target: String,
    },
    /// A command ran (`shown` is for people); `undo` reverses it.
    Ran {
        shown: String,
        undo: Option<Undo>,
    },
    /// The artifacts the step went on with: how they were trusted and each
    /// one's SHA-256, so the journal says what was installed (no undo).
    Verified {
        trust: String,
        sha256: std::collections::BTreeMap<String, String>,
    },
    /// Run `undo` when undoing past this point.
    OnUndo {
        undo: Undo,
    },
    /// A path a command may write (the install script's outputs), as it was
    /// before the command: absent, or backed up (`meta` set). `after` is
    /// its hash once the command ran: a file changed since is left alone.
    Watched {
        path: String,
        meta: Option<Meta>,
        #[serde(default)]
        after: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) step: String,
    pub(crate) change: Change,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalFile {
    version: u32,
    uid: u32,
    /// Directories krc created to hold this journal: removed with it.
    created_dirs: Vec<String>,
    entries: Vec<Entry>,
}

/// The journal of one target user, loaded.
#[derive(Debug)]
pub(crate) struct Journal {
    fs: TreeFs,
    dir: String,
    owner: Meta,
    data: JournalFile,
}

/// The largest seq a journal may hold: far beyond any real use, far from
/// overflow.
const MAX_SEQ: u64 = 1 << 40;

impl Journal {
    /// Loads the journal of uid `uid`, refusing state that is not krc's own.
    pub(crate) fn load(fs: &TreeFs, uid: u32) -> Result<Journal, JournalError> {
        let me = nix::unistd::geteuid().as_raw();
        let mygid = nix::unistd::getegid().as_raw();
        let dir = state_dir(uid);
        let file = format!("{dir}/{JOURNAL}");
        let empty = JournalFile {
            version: VERSION,
            uid,
            created_dirs: Vec::new(),
            entries: Vec::new(),
        };
        let shown = |p: &str| fs.path(p).display().to_string();
        for d in [STATE_DIR, dir.as_str()] {
            match own(fs, d)? {
                Some(Kind::Dir) | None => {}
                Some(_) => {
                    return Err(JournalError::WrongKind {
                        path: shown(d),
                        wanted: "directory",
                    });
                }
            }
        }
        let data = match own(fs, &file)? {
            None => empty,
            Some(Kind::File) => {
                let bytes = fs.read(&file).map_err(|e| {
                    if e.kind() == io::ErrorKind::PermissionDenied && me != 0 {
                        JournalError::RootOnly { path: shown(&file) }
                    } else {
                        JournalError::io(format!("read the journal {}", shown(&file)))(e)
                    }
                })?;
                decode(&bytes, uid, &shown(&file))?
            }
            Some(_) => {
                return Err(JournalError::WrongKind {
                    path: shown(&file),
                    wanted: "regular file",
                });
            }
        };
        Ok(Journal {
            fs: fs.clone(),
            dir,
            owner: Meta::new(0o700, me, mygid),
            data,
        })
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.data.entries.iter().map(|e| e.seq).max().unwrap_or(0) + 1
    }

    /// Every entry, oldest first.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.data.entries.clone()
    }

    /// Where the backup made for entry `seq` lives (a host path).
    pub(crate) fn backup_path(&self, seq: u64) -> String {
        format!("{}/backups/{seq}", self.dir)
    }

    /// Copies `bytes` (a file's old content) into the private backup area
    /// under the seq its entry will get.
    pub(crate) fn back_up(&mut self, bytes: &[u8]) -> Result<u64, JournalError> {
        self.ensure_dir()?;
        let backups = format!("{}/backups", self.dir);
        if own(&self.fs, &backups)?.is_none() {
            self.fs
                .mkdir(&backups, self.owner)
                .map_err(JournalError::io("make the journal's backup directory"))?;
        }
        let seq = self.next_seq();
        let private = Meta {
            mode: 0o600,
            ..self.owner
        };
        self.fs
            .write(&self.backup_path(seq), bytes, private)
            .map_err(JournalError::io("save a backup"))?;
        Ok(seq)
    }

    /// Reads the backup of entry `seq`.
    pub(crate) fn backup(&self, seq: u64) -> Result<Vec<u8>, JournalError> {
        let p = self.backup_path(seq);
        own(&self.fs, &p)?.ok_or_else(|| JournalError::BackupMissing { path: p.clone() })?;
        self.fs
            .read(&p)
            .map_err(JournalError::io(format!("read backup {p}")))
    }

    pub(crate) fn drop_backup(&self, seq: u64) -> Result<(), JournalError> {
        let p = self.backup_path(seq);
        self.fs
            .remove_file(&p)
            .map_err(JournalError::io(format!("remove backup {p}")))
    }

    fn ensure_dir(&mut self) -> Result<(), JournalError> {
        for d in self.fs.missing_parents(&format!("{}/{JOURNAL}", self.dir)) {
            // /var/lib may be missing in a bare tree: it gets the usual 0755.
            let meta = if d.starts_with(STATE_DIR) {
                self.owner
            } else {
                Meta {
                    mode: 0o755,
                    ..self.owner
                }
            };
            self.fs
                .mkdir(&d, meta)
                .map_err(JournalError::io("make krc's state directory"))?;
            self.data.created_dirs.push(d);
        }
        Ok(())
    }

    /// Records a change (journal first, then the change is made).
    pub(crate) fn record(&mut self, step: &str, change: Change) -> Result<u64, JournalError> {
        let seq = self.next_seq();
        self.record_at(seq, step, change)?;
        Ok(seq)
    }

    /// Records a change under a seq reserved by [`Journal::back_up`].
    pub(crate) fn record_at(
        &mut self,
        seq: u64,
        step: &str,
        change: Change,
    ) -> Result<(), JournalError> {
        if seq < self.next_seq() || seq > MAX_SEQ {
            return Err(JournalError::SeqOutOfOrder(seq));
        }
        self.ensure_dir()?;
        self.data.entries.push(Entry {
            seq,
            step: step.to_string(),
            change,
        });
        self.save()
    }

    /// Replaces the change of entry `seq` (a watched path's hash after the
    /// command).
    pub(crate) fn update(&mut self, seq: u64, change: Change) -> Result<(), JournalError> {
        if let Some(e) = self.data.entries.iter_mut().find(|e| e.seq == seq) {
            e.change = change;
            self.save()?;
        }
        Ok(())
    }

    /// Forgets an entry (after it was undone).
    pub(crate) fn forget(&mut self, seq: u64) -> Result<(), JournalError> {
        let before = self.data.entries.len();
        self.data.entries.retain(|e| e.seq != seq);
        if self.data.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    fn save(&mut self) -> Result<(), JournalError> {
        let file = format!("{}/{JOURNAL}", self.dir);
        if self.data.entries.is_empty() {
            // Nothing recorded: leave no trace, not even the directories
            // krc made for the journal.
            self.fs
                .remove_file(&file)
                .map_err(JournalError::io(format!(
                    "remove the empty journal {}",
                    self.fs.path(&file).display()
                )))?;
            let _ = self.fs.remove_dir(&format!("{}/backups", self.dir));
            for d in self.data.created_dirs.drain(..).rev() {
                let _ = self.fs.remove_dir(&d);
            }
            return Ok(());
        }
        let mut text = serde_json::to_string_pretty(&self.data).map_err(JournalError::Serialize)?;
        text.push('\n');
        let private = Meta {
            mode: 0o600,
            ..self.owner
        };
        self.fs
            .write(&file, text.as_bytes(), private)
            .map_err(JournalError::io("save the journal"))
    }

    pub(crate) fn fs(&self) -> &TreeFs {
        &self.fs
    }
}

/// What is at a path of krc's state, checked to be a directory or file
/// of krc's own: not a link, owned by the uid krc runs as, writable by no
/// one else. None when absent.
fn own(fs: &TreeFs, host_path: &str) -> Result<Option<Kind>, JournalError> {
    let shown = fs.path(host_path).display().to_string();
    let Some((kind, meta)) = fs
        .private_meta(host_path)
        .map_err(JournalError::io(format!("examine krc state {shown}")))?
    else {
        return Ok(None);
    };
    let me = nix::unistd::geteuid().as_raw();
    let why = if !matches!(kind, Kind::File | Kind::Dir) {
        "it is not a regular file or directory".to_string()
    } else if meta.uid != me {
        format!("it belongs to uid {}, not {me}", meta.uid)
    } else if meta.mode & 0o022 != 0 {
        format!("others can write it (mode {:04o})", meta.mode)
    } else {
        return Ok(Some(kind));
    };
    Err(JournalError::Refused { path: shown, why })
}

/// The journal file's bytes, if they are a valid journal of `uid` (`path`
/// is only for messages).
pub(crate) fn decode(bytes: &[u8], uid: u32, path: &str) -> Result<JournalFile, JournalError> {
    let data: JournalFile =
        serde_json::from_slice(bytes).map_err(|source| JournalError::Malformed {
            path: path.to_string(),
            source,
        })?;
    validate(&data, uid).map_err(|why| JournalError::Invalid {
        path: path.to_string(),
        why,
    })?;
    Ok(data)
}

/// A journal krc wrote has increasing seqs in range, its own uid, and
/// undo operations whose values pass [`Undo::cmd`].
fn validate(data: &JournalFile, uid: u32) -> Result<(), InvalidJournal> {
    if data.version != VERSION {
        return Err(InvalidJournal::Version {
            found: data.version,
        });
    }
    if data.uid != uid {
        return Err(InvalidJournal::Uid {
            found: data.uid,
            wanted: uid,
        });
    }
    let mut last = 0;
    for e in &data.entries {
        if e.seq <= last || e.seq > MAX_SEQ {
            return Err(InvalidJournal::Seq(e.seq));
        }
        last = e.seq;
        let undo = match &e.change {
            Change::Ran { undo: Some(u), .. } | Change::OnUndo { undo: u } => Some(u),
            _ => None,
        };
        if let Some(u) = undo {
            u.cmd()
                .map_err(|undo| InvalidJournal::Undo { seq: e.seq, undo })?;
        }
    }
    for d in &data.created_dirs {
        if !(d == STATE_DIR || d == "/var/lib" || d == "/var" || d.starts_with(STATE_DIR)) {
            return Err(InvalidJournal::CreatedDir(d.clone()));
        }
    }
    Ok(())
}

/// Holds an exclusive lock for the life of the value: two installs (or an
/// install and an uninstall) never interleave. On the live host the lock
/// is `/run/krc.lock`, a root-owned file no user can create or hold; in a
/// `--root` tree it is the tree's directory itself.
pub(crate) struct Lock {
    _file: std::fs::File,
}

pub(crate) const LOCK_FILE: &str = "/run/krc.lock";

impl Lock {
    /// `root`: the host's root descriptor; a tree's lock is taken on
    /// that very directory, never on whatever its path names by now.
    pub(crate) fn take(root: &crate::safefs::Root, live: bool) -> Result<Lock, JournalError> {
        if live {
            Lock::take_file(std::path::Path::new(LOCK_FILE))
        } else {
            let path = root.top();
            let fd =
                crate::safefs::sys::openat(root.fd(), ".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .map_err(JournalError::io(format!("open {path} to lock it")))?;
            Lock::hold(std::fs::File::from(fd), &path)
        }
    }

    /// Locks a file of root's own: created 0600 if absent, never through a
    /// link, and refused when someone else made it.
    fn take_file(path: &std::path::Path) -> Result<Lock, JournalError> {
        use std::os::unix::fs::OpenOptionsExt;
        let shown = path.display().to_string();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| JournalError::LockUnopenable {
                path: shown.clone(),
                source,
            })?;
        let st = nix::sys::stat::fstat(&f).map_err(|e| JournalError::LockFailed {
            path: shown.clone(),
            source: e.into(),
        })?;
        let me = nix::unistd::geteuid().as_raw();
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid != me || st.st_mode & 0o022 != 0
        {
            return Err(JournalError::LockNotKrcs {
                path: shown,
                uid: st.st_uid,
                mode: st.st_mode,
            });
        }
        Lock::hold(f, &shown)
    }

    fn hold(file: std::fs::File, shown: &str) -> Result<Lock, JournalError> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; the lock is released when it closes.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(JournalError::LockHeld {
                    path: shown.to_string(),
                });
            }
            return Err(JournalError::LockFailed {
                path: shown.to_string(),
                source: e,
            });
        }
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_a_file_of_krcs_own() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("krc.lock");
        // Held by krc: a second taker is told to wait.
        let held = Lock::take_file(&p).unwrap();
        let e = Lock::take_file(&p).err().unwrap().to_string();
        assert!(
            e.contains("another krc install or uninstall is running"),
            "{e}"
        );
        drop(held);
        // Anyone may flock `/`: that no longer blocks krc.
        let slash = std::fs::File::open("/").unwrap();
        let _slash = Lock::hold(slash, "/").unwrap();
        let _ok = Lock::take_file(&p).unwrap();
        // A planted link or FIFO is refused, never followed or waited on.
        let link = d.path().join("link.lock");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(Lock::take_file(&link).is_err());
        let fifo = d.path().join("fifo.lock");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = Lock::take_file(&fifo).err().unwrap().to_string();
        assert!(e.contains("is not krc's"), "{e}");
        // Someone else's file.
        if nix::unistd::geteuid().is_root() {
            let other = d.path().join("other.lock");
            std::fs::write(&other, b"").unwrap();
            std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
            let e = Lock::take_file(&other).err().unwrap().to_string();
            assert!(e.contains("is not krc's"), "{e}");
        }
    }

    #[test]
    fn undo_values_are_checked() {
        let ok = Undo::AptPurge {
            packages: vec!["uidmap".into(), "libsubid4:amd64".into()],
        };
        assert_eq!(
            ok.cmd().unwrap().argv,
            ["apt-get", "purge", "-y", "-q", "uidmap", "libsubid4:amd64"]
        );
        for bad in [
            Undo::AptPurge {
                packages: vec!["-o=APT::X".into()],
            },
            Undo::AptPurge {
                packages: vec!["a b".into()],
            },
            Undo::Sysctl {
                key: "kernel.core_pattern".into(),
                value: "1".into(),
            },
            Undo::Sysctl {
                key: "net.ipv4.ip_forward".into(),
                value: "1;sh".into(),
            },
            Undo::DisableLinger {
                user: "--all".into(),
            },
        ] {
            assert!(bad.cmd().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn journals_with_wrapping_seqs_or_foreign_uids_are_refused() {
        let entry = |seq| Entry {
            seq,
            step: "x".into(),
            change: Change::CreatedDir { path: "/x".into() },
        };
        let mut j = JournalFile {
            version: VERSION,
            uid: 1000,
            created_dirs: vec![],
            entries: vec![entry(1), entry(u64::MAX)],
        };
        assert!(validate(&j, 1000).is_err());
        j.entries = vec![entry(2), entry(1)];
        assert!(validate(&j, 1000).is_err());
        j.entries = vec![entry(1), entry(2)];
        assert!(validate(&j, 1000).is_ok());
        assert!(validate(&j, 1001).is_err());
        j.created_dirs = vec!["/etc".into()];
        assert!(validate(&j, 1000).is_err());
    }
}
