//! Live probes: the facts that files cannot give (can this user create a
//! user namespace? does their systemd manager answer?). A fixture tree
//! answers them from its `krc-fixture.toml`; under `--root` without an
//! answer, a probe is "not run" and the check says skipped, never passed.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::TargetUser;
use super::fixture::ProbeAnswers;

mod child;
pub(crate) mod limits;
pub(crate) mod userbus;
pub(crate) mod userns_probe;

pub(crate) use child::{Wait, run, run_with_timeout, spawn_piped};

/// The answer of a live probe, or why it did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe<T> {
    Answer(T),
    NotRun(String),
}

pub(crate) trait Probes: Send + Sync {
    /// Can a child process of `user` create a user namespace and use the
    /// capabilities it gets inside? `Err` is the failing step and errno.
    fn userns(&self, user: &TargetUser) -> Probe<Result<(), String>>;
    /// The state `systemctl --user is-system-running` reports for `user`.
    fn user_manager(&self, user: &TargetUser) -> Probe<Result<String, String>>;
    /// First line of `PROGRAM --version`.
    fn version(&self, program: &str) -> Probe<Result<String, String>>;
    /// Does a process hold the flock on this file?
    fn lock_held(&self, path: &str) -> Probe<bool>;
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes of the machine krc runs on.
pub(crate) struct LiveProbes;

impl Probes for LiveProbes {
    fn userns(&self, user: &TargetUser) -> Probe<Result<(), String>> {
        let me = nix::unistd::geteuid().as_raw();
        if me != 0 && me != user.uid {
            return Probe::NotRun(format!(
                "krc runs as uid {me}, not as {} (uid {}), and only root can switch users for this probe",
                user.name, user.uid
            ));
        }
        Probe::Answer(userns_probe::run(user))
    }

    fn user_manager(&self, user: &TargetUser) -> Probe<Result<String, String>> {
        let me = nix::unistd::geteuid().as_raw();
        let remote = me == 0 && user.uid != 0;
        if (remote || me == user.uid)
            && let Some(answer) = user_manager_without_systemctl(user, remote)
        {
            return Probe::Answer(answer);
        }
        // `systemctl --user -M USER@` and `runuser … systemctl --user`
        // start a manager that is not running (and with it
        // /run/user/UID): a preflight must leave the host as it found it.
        // The system manager says whether it runs without starting it.
        if remote && let Some(stopped) = manager_not_running(user.uid) {
            return Probe::Answer(Ok(stopped));
        }
        let mut cmd = Command::new("systemctl");
        clean_env(&mut cmd);
        if remote && super::systemd::live_machine_transport() {
            cmd.args([
                "--user",
                "-M",
                &format!("{}@", user.name),
                "is-system-running",
            ]);
        } else if remote {
            // systemd < 248 has no user@ machine transport: ask as the user,
            // through the user's runtime directory.
            cmd = Command::new("runuser");
            clean_env(&mut cmd);
            user_env(&mut cmd, user);
            cmd.args([
                "-u",
                &user.name,
                "--",
                "systemctl",
                "--user",
                "is-system-running",
            ]);
        } else if me == user.uid {
            // The user's own manager is found through the runtime dir.
            user_env(&mut cmd, user);
            cmd.args(["--user", "is-system-running"]);
        } else {
            return Probe::NotRun(format!(
                "krc runs as uid {me}, not as {} or root",
                user.name
            ));
        }
        match run_with_timeout(&mut cmd, PROBE_TIMEOUT) {
            Err(e) => Probe::Answer(Err(e)),
            // is-system-running exits non-zero for "degraded" and "starting"
            // too: the state word on stdout is the answer.
            Ok(out) if !out.stdout.trim().is_empty() && out.stderr.trim().is_empty() => {
                Probe::Answer(Ok(out.stdout.trim().to_string()))
            }
            Ok(out) => Probe::Answer(Err(first_line(&out.stderr, &out.stdout))),
        }
    }

    fn version(&self, program: &str) -> Probe<Result<String, String>> {
        let mut cmd = Command::new(program);
        clean_env(&mut cmd).arg("--version");
        let answer = run_with_timeout(&mut cmd, PROBE_TIMEOUT).and_then(|o| {
            let line = first_line(&o.stdout, &o.stderr);
            if o.status.success() {
                Ok(line)
            } else {
                Err(format!("{}: {line}", o.status))
            }
        });
        Probe::Answer(answer)
    }

    fn lock_held(&self, path: &str) -> Probe<bool> {
        use std::os::fd::AsRawFd;
        // The lock sits in the user's home: a FIFO there must not hang
        // root, a symlink must not make root lock some other file.
        let root = match super::rootdir::RootDir::open(std::path::Path::new("/")) {
            Ok(r) => r,
            Err(e) => return Probe::NotRun(format!("failed to open /: {e}")),
        };
        let f = match root.open_path(path, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Probe::Answer(false),
            Err(e) => return Probe::NotRun(lock_unusable(path, &e.to_string())),
        };
        match super::rootdir::fstat(&f) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
            Ok(st) => {
                let why = super::rootdir::not_regular(super::rootdir::kind_name(st.st_mode));
                return Probe::NotRun(lock_unusable(path, &why.to_string()));
            }
            Err(e) => return Probe::NotRun(lock_unusable(path, &e.to_string())),
        }
        // SAFETY: flock on a descriptor we own; released with the file.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            Probe::Answer(false)
        } else {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                Probe::Answer(true)
            } else {
                Probe::NotRun(format!("flock({path}) failed: {e}"))
            }
        }
    }
}

/// What `systemctl` would answer, found without running it (see
/// [`userbus`]); None when only systemctl can tell.
fn user_manager_without_systemctl(
    user: &TargetUser,
    remote: bool,
) -> Option<Result<String, String>> {
    if !remote && !userbus::sd_booted() {
        return Some(Ok("offline".to_string()));
    }
    if remote && let Some(err) = userbus::system_bus_absent() {
        return Some(Err(err));
    }
    let socket = format!("/run/user/{}/systemd/private", user.uid);
    userbus::system_state(std::path::Path::new(&socket), user.uid).map(Ok)
}

/// "offline (…)" when the system manager reports `user@UID.service` in a
/// state other than running or starting; None when it runs, or when
/// systemctl could not say (then the user's manager is asked).
fn manager_not_running(uid: u32) -> Option<String> {
    let unit = format!("user@{uid}.service");
    let mut cmd = Command::new("systemctl");
    clean_env(&mut cmd).args(["is-active", &unit]);
    let out = run_with_timeout(&mut cmd, PROBE_TIMEOUT).ok()?;
    // is-active prints the state and exits non-zero for every state but
    // active; a word that is not a unit state (an error) says nothing.
    let state = out.stdout.split_whitespace().next()?;
    match state {
        "active" | "activating" | "reloading" | "refreshing" => None,
        "inactive" | "failed" | "deactivating" | "maintenance" => Some(format!(
            "offline (not asked: `systemctl is-active {unit}` says {state}, and asking the user's manager would start it)"
        )),
        _ => None,
    }
}

fn lock_unusable(path: &str, why: &str) -> String {
    format!(
        "{path} was not opened: {why}; RootlessKit's lock is a regular file of the user: if no rootless k3s runs, remove it"
    )
}

/// Every child starts from an empty environment: root's (tokens, test
/// hooks, proxies) is not the child's business. PATH is the k3s unit's,
/// so a program found here is the one k3s will find.
pub(crate) fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", super::UNIT_PATH)
        .env("LANG", "C.UTF-8")
}

/// What a process of `user` expects to find: who it is, its home, and the
/// runtime directory through which `systemctl --user` reaches its manager.
pub(crate) fn user_env<'a>(cmd: &'a mut Command, user: &TargetUser) -> &'a mut Command {
    cmd.env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", user.uid))
}

fn first_line(a: &str, b: &str) -> String {
    a.lines()
        .chain(b.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_string()
}

/// Answers from a fixture's `[probes]` table.
pub(crate) struct FixtureProbes {
    answers: ProbeAnswers,
}

impl FixtureProbes {
    pub(crate) fn new(answers: ProbeAnswers) -> Self {
        FixtureProbes { answers }
    }
}

fn not_in_fixture(what: &str) -> String {
    format!(
        "live probe not run: --root reads a directory tree and its krc-fixture.toml has no [probes] {what}"
    )
}

impl Probes for FixtureProbes {
    fn userns(&self, _user: &TargetUser) -> Probe<Result<(), String>> {
        match self.answers.userns.as_deref() {
            None => Probe::NotRun(not_in_fixture("userns")),
            Some("ok") => Probe::Answer(Ok(())),
            Some(err) => Probe::Answer(Err(err.to_string())),
        }
    }

    fn user_manager(&self, _user: &TargetUser) -> Probe<Result<String, String>> {
        match self.answers.user_manager.as_deref() {
            None => Probe::NotRun(not_in_fixture("user_manager")),
            Some(
                s @ ("running" | "degraded" | "starting" | "initializing" | "maintenance"
                | "stopping"),
            ) => Probe::Answer(Ok(s.to_string())),
            Some(err) => Probe::Answer(Err(err.to_string())),
        }
    }

    fn version(&self, program: &str) -> Probe<Result<String, String>> {
        match self.answers.versions.get(program) {
            None => Probe::NotRun(not_in_fixture(&format!("versions.\"{program}\""))),
            Some(v) => Probe::Answer(Ok(v.clone())),
        }
    }

    fn lock_held(&self, _path: &str) -> Probe<bool> {
        match self.answers.rootless_lock_held {
            None => Probe::NotRun(not_in_fixture("rootless_lock_held")),
            Some(b) => Probe::Answer(b),
        }
    }
}
