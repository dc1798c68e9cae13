//! The target user's systemd manager (`user@UID.service`): whether the user
//! has a login session, restarting the manager so it picks up new cgroup
//! delegation (with the retries systemd 247 needs), and checking that it
//! runs and its bus answers afterwards.
//!
//! Restarting the manager stops every user unit of that user, a desktop
//! session included, so krc restarts it only for an account with no login
//! session (a lingering service account). Whether there is one, logind
//! says in `/run/systemd/users/UID`: a root-owned file in a root-owned
//! directory the user cannot plant anything in, read like every host fact
//! (bounded, without following links).

use std::time::Duration;

use super::exec::{Cmd, CommandRunner, Ran, RunError};
use super::fsops::TreeFs;
use crate::host::Host;

/// How many times krc starts a manager whose restart failed: systemd 247
/// can fail one restart with "Failed to attach to cgroup … Device or
/// resource busy" (systemd issue 23163) while the old processes drain.
const ATTEMPTS: u32 = 3;

/// How long the manager's bus may take to answer after it started.
const BUS_WAIT: Duration = Duration::from_secs(15);

/// What logind says about the user's login sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sessions {
    /// No session: no logind record, or a record without sessions (a
    /// lingering account).
    None,
    /// The session ids logind lists.
    Some(Vec<String>),
    /// logind's record could not be read: krc acts as if there were a
    /// session (it never restarts a manager it cannot judge).
    Unknown(String),
}

/// logind's record for the user (`/run/systemd/users/UID`).
pub(crate) fn record_path(uid: u32) -> String {
    format!("/run/systemd/users/{uid}")
}

/// The user's login sessions, as logind records them.
pub(crate) fn sessions(host: &Host, uid: u32) -> Sessions {
    match host.read_opt(&record_path(uid)) {
        Ok(None) => Sessions::None,
        Ok(Some(text)) => parse_sessions(&text),
        Err(e) => Sessions::Unknown(e.to_string()),
    }
}

/// The user's login sessions as logind records them now, read through the
/// install's file layer (no host-fact cache: a rollback asks after the
/// run).
pub(crate) fn sessions_now(fs: &TreeFs, uid: u32) -> Sessions {
    let path = record_path(uid);
    if !fs.exists(&path) {
        return Sessions::None;
    }
    match fs.read(&path) {
        Ok(b) => parse_sessions(&String::from_utf8_lossy(&b)),
        Err(e) => Sessions::Unknown(e.to_string()),
    }
}

/// The user's online sessions in a logind user record: `ONLINE_SESSIONS=`
/// (`SESSIONS=` in a record without it). `SESSIONS=` keeps a session that
/// is closing (the user logged out; logind may not rewrite the record for
/// a while); restarting the manager does not touch such leftovers, which
/// live in the session's own scope.
pub(crate) fn parse_sessions(text: &str) -> Sessions {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    };
    let ids: Vec<String> = value("ONLINE_SESSIONS")
        .or_else(|| value("SESSIONS"))
        .unwrap_or("")
        .split_whitespace()
        .filter(|id| id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        Sessions::None
    } else {
        Sessions::Some(ids)
    }
}

impl Sessions {
    /// krc may restart the manager: the user is not logged in.
    pub(crate) fn none(&self) -> bool {
        matches!(self, Sessions::None)
    }

    /// For messages: "sessions 3 7" or why it is unknown.
    pub(crate) fn describe(&self) -> String {
        match self {
            Sessions::None => "no login session".into(),
            Sessions::Some(ids) => format!("login session(s) {}", ids.join(" ")),
            Sessions::Unknown(why) => format!("logind's record could not be read ({why})"),
        }
    }
}

/// `user@UID.service`.
pub(crate) fn unit(uid: u32) -> String {
    format!("user@{uid}.service")
}

/// Why the manager is not running as krc needs it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagerError {
    #[error(
        "{unit} did not come back after {ATTEMPTS} restart attempts (last: {last}): run `systemctl reset-failed {unit} && systemctl start {unit}` and read `journalctl -u {unit} -n 50`"
    )]
    NotRunning { unit: String, last: String },
    #[error(
        "{unit} is active but the user's bus did not answer within {}s ({last}): read `journalctl -u {unit} -n 50`",
        BUS_WAIT.as_secs()
    )]
    NoBus { unit: String, last: String },
}

/// The active state `systemctl is-active` reports for a unit ("active",
/// "inactive", "failed", ...); None when krc cannot tell (a `--root` tree).
pub(crate) fn active_state(runner: &dyn CommandRunner, cmd: Cmd) -> Option<String> {
    let word = |s: &str| s.split_whitespace().next().unwrap_or("unknown").to_string();
    match runner.run(&cmd) {
        Ok(Ran::Ok(out)) => Some(word(&out)),
        Ok(Ran::NotRun(_)) => None,
        // is-active exits non-zero for every state but active and still
        // prints the state.
        Err(RunError::Failed { output, .. }) => Some(word(&output)),
        Err(RunError::Spawn { .. }) => None,
    }
}

/// `systemctl is-active user@UID.service`.
pub(crate) fn manager_state(runner: &dyn CommandRunner, uid: u32) -> Option<String> {
    active_state(runner, Cmd::root(&["systemctl", "is-active", &unit(uid)]))
}

/// Restarts the user's manager and checks it runs and answers on its bus:
/// the notes for the step's evidence. A failed restart is followed by
/// `reset-failed` and `start`, up to [`ATTEMPTS`] times.
pub(crate) fn restart(runner: &dyn CommandRunner, uid: u32) -> Result<Vec<String>, ManagerError> {
    let unit = unit(uid);
    let mut notes = Vec::new();
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let argv: &[&str] = if attempt == 1 {
            &["systemctl", "restart", &unit]
        } else {
            &["systemctl", "start", &unit]
        };
        match runner.run(&Cmd::root(argv)) {
            Ok(Ran::NotRun(why)) => {
                notes.push(format!("not run: {why}"));
                return Ok(notes);
            }
            Ok(Ran::Ok(_)) => {}
            Err(e) => {
                last = e.to_string();
                notes.push(format!("attempt {attempt}: {last}"));
            }
        }
        match manager_state(runner, uid).as_deref() {
            Some("active") => {
                wait_bus(runner, &unit)?;
                notes.push(format!(
                    "{unit} is active and the user's bus answers (attempt {attempt})"
                ));
                return Ok(notes);
            }
            state => {
                last = format!("{unit} is {}", state.unwrap_or("unknown"));
                // Clear the failed state, or systemd refuses the next start
                // by its start limit; give the old processes time to go.
                let _ = runner.run(&Cmd::root(&["systemctl", "reset-failed", &unit]));
                if attempt < ATTEMPTS {
                    std::thread::sleep(Duration::from_secs(u64::from(attempt)));
                }
            }
        }
    }
    Err(ManagerError::NotRunning { unit, last })
}

/// Where the user's manager stands with respect to the delegation krc
/// configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The manager does not run (it starts with the new delegation) or
    /// started after it was configured; or a `--root` tree.
    InEffect(String),
    /// It runs with the old delegation and the user has no login session:
    /// krc restarts it (the reason says why that is safe).
    Restart(String),
    /// It runs with the old delegation under a logged-in user: the
    /// delegation takes effect at the user's next login (what to do).
    Relogin(String),
}

/// What the user's manager needs for the delegation in `config_files`
/// (the files its `Delegate=` settings come from) to be in effect.
pub(crate) fn effect(
    host: &Host,
    fs: &TreeFs,
    runner: &dyn CommandRunner,
    live: bool,
    config_files: &[String],
) -> Settle {
    let u = host.user();
    let unit = unit(u.uid);
    if !live {
        return Settle::InEffect(format!("--root tree: {unit} is not touched"));
    }
    let show = Cmd::root(&[
        "systemctl",
        "show",
        &unit,
        "--property=ActiveState",
        "--property=ActiveEnterTimestampMonotonic",
    ]);
    let out = match runner.run(&show) {
        Ok(Ran::Ok(out)) => out,
        Ok(Ran::NotRun(why)) => return Settle::InEffect(why),
        // Unknown: never restart what krc cannot judge; a re-login is safe.
        Err(e) => return relogin(host, &Sessions::Unknown(e.to_string())),
    };
    let prop = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if prop("ActiveState") != "active" {
        return Settle::InEffect(format!(
            "{unit} is not running: it starts with the new delegation"
        ));
    }
    let started = prop("ActiveEnterTimestampMonotonic").parse::<u64>().ok();
    let configured = config_files
        .iter()
        .filter_map(|f| std::fs::symlink_metadata(fs.path(f)).ok()?.modified().ok())
        .max();
    if let (Some(started), Some(configured)) = (started, configured)
        && started_before(started, configured) == Some(false)
    {
        return Settle::InEffect(format!(
            "{unit} started after the delegation was configured"
        ));
    }
    let sessions = sessions(host, u.uid);
    if sessions.none() {
        Settle::Restart(format!(
            "{unit} runs with the old delegation and {} has no login session: krc restarts it",
            u.name
        ))
    } else {
        relogin(host, &sessions)
    }
}

fn relogin(host: &Host, sessions: &Sessions) -> Settle {
    let u = host.user();
    let lingers = host.exists(&crate::layout::linger_path(&u.name));
    let what = if lingers {
        format!(
            "{0} lingers, so the manager outlives a logout: once {0} is logged out of every session run the same krc command again (with no session left it restarts the manager itself), or reboot",
            u.name
        )
    } else {
        format!(
            "log {0} out of every session and back in (the manager starts again at the next login), then run the same krc command again",
            u.name
        )
    };
    Settle::Relogin(format!(
        "{} has {}, and restarting {} would end them: {what}",
        u.name,
        sessions.describe(),
        unit(u.uid)
    ))
}

/// Whether a manager that entered `active` at `started` (µs of
/// CLOCK_MONOTONIC) did so before `configured` (a file's mtime).
fn started_before(started: u64, configured: std::time::SystemTime) -> Option<bool> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return None;
    }
    let now_mono = Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    );
    let ago = now_mono.checked_sub(Duration::from_micros(started))?;
    let started_at = std::time::SystemTime::now().checked_sub(ago)?;
    Some(started_at <= configured)
}

/// The active state of the units an install touches, before it runs, so
/// a rollback can check it left them as they were.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitStates(Vec<(Cmd, String, String)>);

impl UnitStates {
    /// `user@UID.service`, the rootful `k3s.service` and the user's
    /// `k3s-rootless.service` (when the manager answers).
    pub(crate) fn read(runner: &dyn CommandRunner, uid: u32) -> UnitStates {
        let mut out = Vec::new();
        let probe = |out: &mut Vec<_>, cmd: Cmd, name: String| {
            if let Some(state) = active_state(runner, cmd.clone()) {
                out.push((cmd, name, state));
            }
        };
        probe(
            &mut out,
            Cmd::root(&["systemctl", "is-active", &unit(uid)]),
            unit(uid),
        );
        probe(
            &mut out,
            Cmd::root(&["systemctl", "is-active", "k3s.service"]),
            "k3s.service".into(),
        );
        let user_unit = crate::layout::UNIT;
        if out.first().is_some_and(|(_, _, s)| s == "active") {
            probe(
                &mut out,
                Cmd::user(&["systemctl", "--user", "is-active", user_unit]),
                format!("{user_unit} (user)"),
            );
        }
        UnitStates(out)
    }

    /// After a rollback: each unit checked against its state before (the
    /// lines that say so), and what is not as it was. A user manager that
    /// ran before and does not now is started again first; one that did
    /// not run before and runs now with nothing left to keep it (no login
    /// session, no lingering) is stopped first.
    pub(crate) fn compare(
        &self,
        runner: &dyn CommandRunner,
        fs: &TreeFs,
        uid: u32,
        user: &str,
    ) -> (Vec<String>, Vec<String>) {
        let (mut checked, mut problems) = (Vec::new(), Vec::new());
        for (i, (cmd, name, before)) in self.0.iter().enumerate() {
            let mut now = active_state(runner, cmd.clone());
            if i == 0 && before == "active" && now.as_deref() != Some("active") {
                // The one krc can safely bring back: its own restart left
                // it down (systemd 247's cgroup race).
                if let Err(e) = restart(runner, uid) {
                    problems.push(e.to_string());
                    continue;
                }
                now = active_state(runner, cmd.clone());
            }
            if i == 0
                && before != "active"
                && now.as_deref() == Some("active")
                && sessions_now(fs, uid).none()
                && !fs.exists(&crate::layout::linger_path(user))
            {
                // This run started it (lingering, or a call to the user's
                // manager) and the rollback took lingering away: logind
                // stops it only after its stop delay. No session uses it,
                // so stopping it ends nobody's work.
                let _ = runner.run(&Cmd::root(&["systemctl", "stop", &unit(uid)]));
                now = active_state(runner, cmd.clone());
            }
            let now = now.unwrap_or_else(|| "unknown".into());
            if now == *before || (before != "active" && now != "active" && now != "activating") {
                checked.push(format!("{name} is {now}, as before"));
            } else {
                problems.push(format!(
                    "{name} was {before} before this run and is {now} now: run `{}` and restore it by hand",
                    status_cmd(cmd, user)
                ));
            }
        }
        (checked, problems)
    }
}

/// `systemctl status UNIT` for a line of `UnitStates`, as root types it.
fn status_cmd(cmd: &Cmd, user: &str) -> String {
    let mut argv: Vec<String> = cmd.argv.clone();
    if let Some(a) = argv.iter_mut().find(|a| *a == "is-active") {
        *a = "status".into();
    }
    if cmd.who == super::exec::Who::User {
        argv.insert(2, format!("--machine={user}@"));
    }
    argv.join(" ")
}

/// Waits until `systemctl --user` reaches the manager.
fn wait_bus(runner: &dyn CommandRunner, unit: &str) -> Result<(), ManagerError> {
    let until = std::time::Instant::now() + BUS_WAIT;
    let probe = Cmd::user(&["systemctl", "--user", "show", "--property=Version"]);
    loop {
        let last = match runner.run(&probe) {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= until {
            return Err(ManagerError::NoBus {
                unit: unit.to_string(),
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn sessions_come_from_logind_s_record() {
        let lingering = "NAME=svc\nSTATE=lingering\nRUNTIME=/run/user/1001\n";
        assert_eq!(parse_sessions(lingering), Sessions::None);
        assert_eq!(parse_sessions("SESSIONS=\n"), Sessions::None);
        assert_eq!(
            parse_sessions("NAME=alice\nSTATE=active\nSESSIONS=3 c7\nSEATS=seat0\n"),
            Sessions::Some(vec!["3".into(), "c7".into()])
        );
        // Logged out (as systemd 252 leaves the record): not a session.
        let closing = "STATE=closing\nSESSIONS=114\nACTIVE_SESSIONS=114\nONLINE_SESSIONS=\n";
        assert_eq!(parse_sessions(closing), Sessions::None);
        assert_eq!(
            parse_sessions("SESSIONS=4 5\nONLINE_SESSIONS=5\n"),
            Sessions::Some(vec!["5".into()])
        );
        // Nothing but plain ids is quoted back.
        assert_eq!(
            parse_sessions("SESSIONS=$(x) 4\n"),
            Sessions::Some(vec!["4".into()])
        );
        assert!(!Sessions::Unknown("x".into()).none());
    }

    /// Answers systemctl as a manager that fails its first `n` starts.
    struct Flaky {
        fail: RefCell<u32>,
        active: RefCell<bool>,
        log: RefCell<Vec<String>>,
    }

    impl CommandRunner for Flaky {
        fn run(&self, cmd: &Cmd) -> Result<Ran, RunError> {
            let line = cmd.argv.join(" ");
            self.log.borrow_mut().push(line.clone());
            let failed = |output: &str| {
                Err(RunError::Failed {
                    cmd: line.clone(),
                    status: "exit status: 1".into(),
                    output: output.into(),
                })
            };
            match cmd.argv[1].as_str() {
                "restart" | "start" => {
                    let mut f = self.fail.borrow_mut();
                    if *f > 0 {
                        *f -= 1;
                        *self.active.borrow_mut() = false;
                        return failed("Failed to attach to cgroup: Device or resource busy");
                    }
                    *self.active.borrow_mut() = true;
                    Ok(Ran::Ok(String::new()))
                }
                "is-active" if *self.active.borrow() => Ok(Ran::Ok("active\n".into())),
                "is-active" => failed("failed\n"),
                _ => Ok(Ran::Ok(String::new())),
            }
        }
    }

    fn flaky(fail: u32) -> Flaky {
        Flaky {
            fail: RefCell::new(fail),
            active: RefCell::new(true),
            log: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn a_failed_restart_is_reset_and_started_again() {
        let r = flaky(1);
        let notes = restart(&r, 1000).unwrap();
        let log = r.log.borrow().join("\n");
        assert!(
            log.contains(
                "systemctl reset-failed user@1000.service\nsystemctl start user@1000.service"
            ),
            "{log}"
        );
        assert!(notes.last().unwrap().contains("attempt 2"), "{notes:?}");
    }

    #[test]
    fn a_manager_that_never_comes_back_is_an_error_that_says_what_to_do() {
        let r = flaky(9);
        let e = restart(&r, 1000).err().unwrap().to_string();
        assert!(e.contains("did not come back after 3"), "{e}");
        assert!(
            e.contains("systemctl reset-failed user@1000.service"),
            "{e}"
        );
        assert_eq!(
            r.log
                .borrow()
                .iter()
                .filter(|l| l.contains(" start ") || l.contains("restart"))
                .count(),
            3
        );
    }
}
