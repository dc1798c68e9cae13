//! Host facts: everything krc reads about a machine, behind one [`Host`]
//! rooted at a directory (`/` on a real host, a fixture tree in tests).
//!
//! Files are read relative to the root; what a tree in git cannot hold
//! (owners, setuid bits, device nodes, answers of live probes) comes from the
//! tree's `krc-fixture.toml` (see `fixtures/README.md`). Parsers live in the
//! submodules and are pure functions of text, so checks stay pure judgments.

pub(crate) mod accept;
pub(crate) mod boot;
pub(crate) mod cgroup;
pub(crate) mod fixture;
pub(crate) mod fsfacts;
pub(crate) mod k3sconfig;
pub(crate) mod kernel;
pub(crate) mod net;
pub(crate) mod probes;
pub(crate) mod procs;
pub(crate) mod record;
pub(crate) mod rootdir;
pub(crate) mod subids;
pub(crate) mod sysctl;
pub(crate) mod systemd;
pub(crate) mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use fixture::FixtureMeta;
pub(crate) use fsfacts::{FileKind, FileStat};
pub(crate) use probes::{Probe, Probes};
pub(crate) use users::{TargetUser, UserDb};

/// Why a fact could not be read. Checks turn this into an `error` outcome
/// that names the file (and the line, for a parse error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactError {
    Missing {
        path: String,
    },
    Unreadable {
        path: String,
        reason: String,
    },
    Malformed {
        path: String,
        line: usize,
        reason: String,
    },
}

/// A configuration file must be text: the first line holding bytes that
/// were not UTF-8 or control characters (tabs aside) is malformed.
pub(crate) fn plain_text(text: &str, path: &str) -> Result<(), FactError> {
    for (i, line) in text.lines().enumerate() {
        if line
            .chars()
            .any(|c| c == '\u{FFFD}' || (c.is_control() && c != '\t'))
        {
            return Err(FactError::malformed(
                path,
                i + 1,
                "not text (binary or control characters)",
            ));
        }
    }
    Ok(())
}

impl FactError {
    pub(crate) fn malformed(path: &str, line: usize, reason: impl Into<String>) -> Self {
        FactError::Malformed {
            path: path.to_string(),
            line,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactError::Missing { path } => write!(f, "{path} does not exist"),
            FactError::Unreadable { path, reason } => write!(f, "failed to read {path}: {reason}"),
            FactError::Malformed { path, line, reason } => {
                write!(f, "{path}:{line}: malformed: {reason}")
            }
        }
    }
}

/// Where the host's facts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The machine krc runs on (`--root /` or no `--root`).
    Live,
    /// A directory tree given with `--root`; live probes do not run.
    Tree,
}

/// The machine under qualification, rooted at a directory.
pub(crate) struct Host {
    root: PathBuf,
    /// The root, open: every host path resolves inside it.
    dir: Arc<rootdir::RootDir>,
    origin: Origin,
    fixture: FixtureMeta,
    users: UserDb,
    user: TargetUser,
    probes: Box<dyn Probes>,
    /// Live facts acceptance needs (the cluster, host ports, the user's
    /// unit); none unless a command attaches them.
    accept: Box<dyn accept::AcceptProbes>,
    /// What this run reads, for `krc capture` (live host only).
    recorder: Option<Arc<record::Recorder>>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("root", &self.root)
            .field("origin", &self.origin)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Errors that stop krc before any check runs (exit status 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostError {
    #[error("--root {0}: not a directory")]
    RootNotDir(String),
    #[error("--root {path}: failed to open it")]
    RootUnopenable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fixture(#[from] fixture::FixtureError),
    #[error("cannot read the host's users: {0}")]
    UserDb(String),
    #[error("user {user:?} not found in {passwd}; pass --user NAME with a user of this host")]
    UnknownUser { user: String, passwd: String },
}

impl Host {
    /// Opens the host at `root` for the target user `user` (None: the
    /// invoking user, `SUDO_USER` under sudo, or the fixture's own user).
    pub(crate) fn open(root: &Path, user: Option<&str>) -> Result<Host, HostError> {
        Host::open_with(root, user, None)
    }

    /// The live host, every fact it reads and every probe's answer
    /// recorded (`krc capture`).
    pub(crate) fn open_recording(
        user: Option<&str>,
    ) -> Result<(Host, Arc<record::Recorder>), HostError> {
        let rec = Arc::new(record::Recorder::default());
        let host = Host::open_with(Path::new("/"), user, Some(Arc::clone(&rec)))?;
        Ok((host, rec))
    }

    fn open_with(
        root: &Path,
        user: Option<&str>,
        recorder: Option<Arc<record::Recorder>>,
    ) -> Result<Host, HostError> {
        if !root.is_dir() {
            return Err(HostError::RootNotDir(root.display().to_string()));
        }
        let unopenable = |source| HostError::RootUnopenable {
            path: root.display().to_string(),
            source,
        };
        let root = root.canonicalize().map_err(unopenable)?;
        // Opened once: every read, and the installer's every write,
        // resolves from this descriptor, so renaming the tree (or
        // swapping it for a link to `/`) later changes nothing. Whether it
        // is the live host is judged on the descriptor itself.
        let dir = rootdir::RootDir::open(&root).map_err(unopenable)?;
        let origin = if dir.is_tree() {
            Origin::Tree
        } else {
            Origin::Live
        };
        let root = if dir.is_tree() {
            root
        } else {
            PathBuf::from("/")
        };
        let fixture = FixtureMeta::load(&root, &dir)?;
        let reader = RootedFs {
            root: root.clone(),
            dir: Arc::new(dir),
            fixture: fixture.clone(),
            recorder: recorder.clone(),
        };
        let users = UserDb::load(&reader).map_err(|e| {
            let shown = match &e {
                FactError::Missing { path }
                | FactError::Unreadable { path, .. }
                | FactError::Malformed { path, .. } => path,
            };
            HostError::UserDb(
                e.to_string()
                    .replacen(shown.as_str(), &reader.display(shown), 1),
            )
        })?;
        let wanted = match user {
            Some(u) => u.to_string(),
            None => default_user_name(origin, &fixture, &users),
        };
        // Users from NSS (LDAP, sssd) are not in /etc/passwd on a live host.
        let nss = || {
            (origin == Origin::Live)
                .then(|| users::nss_lookup(&wanted))
                .flatten()
        };
        let user = users
            .resolve(&wanted)
            .or_else(nss)
            .ok_or_else(|| HostError::UnknownUser {
                user: wanted.clone(),
                passwd: reader.display("/etc/passwd"),
            })?;
        // Below the user's home no link is followed, whoever owns it.
        let dir = Arc::new(reader.dir.with_home(&user.home));
        let probes: Box<dyn Probes> = match (origin, &recorder) {
            (Origin::Live, Some(rec)) => Box::new(record::RecordingProbes {
                live: probes::LiveProbes,
                rec: Arc::clone(rec),
            }),
            (Origin::Live, None) => Box::new(probes::LiveProbes),
            (Origin::Tree, _) => Box::new(probes::FixtureProbes::new(fixture.probes.clone())),
        };
        // Only the live host is recorded: a tree already is its record.
        let recorder = recorder.filter(|_| origin == Origin::Live);
        Ok(Host {
            root,
            dir,
            origin,
            fixture,
            users,
            user,
            probes,
            accept: Box::new(accept::NoProbes),
            recorder,
        })
    }

    /// The recorder of a `krc capture` run, if this is one.
    pub(crate) fn recorder(&self) -> Option<&record::Recorder> {
        self.recorder.as_deref()
    }

    /// Reads and stats `paths` through the layer when recording, for facts
    /// a live run takes from elsewhere (the kubeconfig's own descriptor,
    /// sock_diag for /proc/net/tcp) but a tree reads from these files.
    pub(crate) fn note_files(&self, paths: &[&str]) {
        if self.recorder.is_some() {
            for p in paths {
                let _ = self.read_bytes_opt(p);
                let _ = self.stat(p);
            }
        }
    }

    /// Attaches the live acceptance facts (`krc accept`).
    pub(crate) fn with_accept_probes(mut self, p: Box<dyn accept::AcceptProbes>) -> Host {
        self.accept = p;
        self
    }

    pub(crate) fn accept_probes(&self) -> &dyn accept::AcceptProbes {
        self.accept.as_ref()
    }

    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    /// The live-probe answers of the fixture tree (empty on a live host).
    pub(crate) fn fixture_probes(&self) -> &fixture::ProbeAnswers {
        &self.fixture.probes
    }

    /// What the fixture tree says it describes, if it is one.
    pub(crate) fn description(&self) -> Option<&str> {
        self.fixture.description.as_deref()
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The root descriptor of the file layer (with the user's home set):
    /// the installer writes through it, never by path.
    pub(crate) fn safe_root(&self) -> &crate::safefs::Root {
        self.dir.root()
    }

    pub(crate) fn user(&self) -> &TargetUser {
        &self.user
    }

    pub(crate) fn probes(&self) -> &dyn Probes {
        self.probes.as_ref()
    }

    pub(crate) fn fs(&self) -> RootedFs {
        RootedFs {
            root: self.root.clone(),
            dir: Arc::clone(&self.dir),
            fixture: self.fixture.clone(),
            recorder: self.recorder.clone(),
        }
    }

    /// Reads a host file (an absolute host path such as `/proc/cgroups`).
    pub(crate) fn read(&self, path: &str) -> Result<String, FactError> {
        self.fs().read(path)
    }

    /// Reads a file that may legitimately be absent.
    pub(crate) fn read_opt(&self, path: &str) -> Result<Option<String>, FactError> {
        match self.read(path) {
            Ok(s) => Ok(Some(s)),
            Err(FactError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes of a binary host file (`/proc/config.gz`) that may be absent.
    pub(crate) fn read_bytes_opt(&self, path: &str) -> Result<Option<Vec<u8>>, FactError> {
        match self.fs().read_bytes(path) {
            Ok(b) => Ok(Some(b)),
            Err(FactError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn stat(&self, path: &str) -> Result<Option<FileStat>, FactError> {
        self.fs().stat(path)
    }

    /// Is something there? A path krc will not stat (a user's symlink that
    /// root does not follow) is there: the check that reads it then says
    /// why, rather than reporting it absent.
    pub(crate) fn exists(&self, path: &str) -> bool {
        matches!(
            self.stat(path),
            Ok(Some(_)) | Err(FactError::Unreadable { .. })
        )
    }

    /// Entries of a host directory, sorted; empty when it does not exist.
    pub(crate) fn list_dir(&self, path: &str) -> Vec<String> {
        self.fs().list_dir(path)
    }

    /// Finds a program on the PATH the k3s unit uses, as a host path.
    pub(crate) fn which(&self, program: &str) -> Option<String> {
        UNIT_PATH
            .split(':')
            .map(|dir| format!("{dir}/{program}"))
            .find(|p| matches!(self.stat(p), Ok(Some(st)) if st.kind == FileKind::File))
    }

    /// The host's passwd and group.
    pub(crate) fn user_db(&self) -> &UserDb {
        &self.users
    }

    /// A display name for a uid, from the host's passwd.
    pub(crate) fn owner_name(&self, uid: u32) -> String {
        self.users
            .name_of(uid)
            .map(str::to_string)
            .unwrap_or_else(|| uid.to_string())
    }

    pub(crate) fn group_name(&self, gid: u32) -> String {
        self.users
            .group_name_of(gid)
            .map(str::to_string)
            .unwrap_or_else(|| gid.to_string())
    }
}

/// The PATH of the upstream `k3s-rootless.service`: what k3s itself will see.
pub(crate) const UNIT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn default_user_name(origin: Origin, fixture: &FixtureMeta, users: &UserDb) -> String {
    if origin == Origin::Tree
        && let Some(u) = &fixture.user
    {
        return u.clone();
    }
    if let Ok(u) = std::env::var("SUDO_USER")
        && !u.is_empty()
        && u != "root"
    {
        return u;
    }
    let uid = nix::unistd::getuid().as_raw();
    users
        .name_of(uid)
        .map(str::to_string)
        .unwrap_or_else(|| uid.to_string())
}

/// File access under a root, with fixture overrides for metadata. Every
/// read, stat and listing resolves inside the root (see [`rootdir`]);
/// [`RootedFs::path`] is only for naming files and for callers that hand a
/// path to another program.
#[derive(Clone)]
pub(crate) struct RootedFs {
    root: PathBuf,
    dir: Arc<rootdir::RootDir>,
    fixture: FixtureMeta,
    recorder: Option<Arc<record::Recorder>>,
}

impl RootedFs {
    pub(crate) fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// How to name a host path in messages: as the host sees it, plus the
    /// tree it was read from when that is not `/`.
    pub(crate) fn display(&self, host_path: &str) -> String {
        if self.root == Path::new("/") {
            host_path.to_string()
        } else {
            self.path(host_path).display().to_string()
        }
    }

    pub(crate) fn read(&self, host_path: &str) -> Result<String, FactError> {
        self.read_bytes(host_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    pub(crate) fn read_bytes(&self, host_path: &str) -> Result<Vec<u8>, FactError> {
        let read = self.dir.read(host_path);
        if let Some(rec) = &self.recorder {
            rec.read(host_path, &read);
        }
        match read {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FactError::Missing {
                path: host_path.to_string(),
            }),
            Err(e) => Err(FactError::Unreadable {
                path: host_path.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    pub(crate) fn stat(&self, host_path: &str) -> Result<Option<FileStat>, FactError> {
        let stat = self.dir.stat(host_path);
        let on_disk = stat
            .as_ref()
            .ok()
            .map(|(st, fd)| fsfacts::from_stat(st, fd));
        if let Some(rec) = &self.recorder {
            rec.stat(
                host_path,
                match &stat {
                    Ok(_) => Ok(on_disk.as_ref()),
                    Err(e) => Err((e, is_missing(e))),
                },
            );
        }
        let on_disk = match stat {
            Ok(_) => on_disk,
            Err(e) if is_missing(&e) => None,
            Err(e) => {
                return Err(FactError::Unreadable {
                    path: host_path.to_string(),
                    reason: e.to_string(),
                });
            }
        };
        Ok(fsfacts::overlay(
            on_disk,
            host_path,
            &self.fixture,
            self.root != Path::new("/"),
        ))
    }

    pub(crate) fn list_dir(&self, host_path: &str) -> Vec<String> {
        let listed = self.dir.list_dir(host_path);
        let ok = listed.is_ok();
        let mut names = listed.unwrap_or_default();
        names.sort();
        if let Some(rec) = &self.recorder
            && ok
        {
            rec.list(host_path, &names);
        }
        names
    }
}

/// Absent, as a check means it: no such file, or a path through a file.
fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}
