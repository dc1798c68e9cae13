//! Live probes: the facts that files cannot give (can this user create a
//! user namespace? does their systemd manager answer?). A fixture tree
//! answers them from its `krc-fixture.toml`; under `--root` without an
//! answer, a probe is "not run" and the check says skipped, never passed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::TargetUser;
use super::fixture::ProbeAnswers;

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
        let mut cmd = Command::new("systemctl");
        if me == 0 && user.uid != 0 {
            cmd.args([
                "--user",
                "-M",
                &format!("{}@", user.name),
                "is-system-running",
            ]);
        } else if me == user.uid {
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
        let answer = run_with_timeout(Command::new(program).arg("--version"), PROBE_TIMEOUT)
            .and_then(|o| {
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
        let Ok(f) = std::fs::File::open(path) else {
            return Probe::Answer(false);
        };
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

fn first_line(a: &str, b: &str) -> String {
    a.lines()
        .chain(b.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_string()
}

pub(crate) struct CommandOutput {
    pub(crate) status: std::process::ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs a command with a deadline; a command that does not finish in time
/// is killed and reported as such.
pub(crate) fn run_with_timeout(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<CommandOutput, String> {
    use std::io::Read;
    let shown = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to run {shown}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish within {}s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("failed to wait for {shown}: {e}")),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
    })
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

/// The user-namespace probe: a forked, single-threaded child drops to the
/// target user, creates a user namespace, maps itself to root inside, then
/// uses a capability there (a UTS namespace and `sethostname`). AppArmor's
/// userns restriction lets `unshare` succeed but strips capabilities, so
/// only the last step tells that case apart.
mod userns_probe {
    use super::TargetUser;
    use std::ffi::CString;

    const STEPS: &[&str] = &[
        "setgroups/setgid/setuid to the target user",
        "unshare(CLONE_NEWUSER)",
        "write /proc/self/setgroups",
        "write /proc/self/uid_map",
        "write /proc/self/gid_map",
        "unshare(CLONE_NEWUTS) inside the new namespace",
        "sethostname inside the new namespace",
    ];

    pub(super) fn run(user: &TargetUser) -> Result<(), String> {
        // Everything the child needs is prepared here: after fork in a
        // multi-threaded process it may only make raw system calls.
        let uid_map = format!("0 {} 1\n", user.uid);
        let gid_map = format!("0 {} 1\n", user.gid);
        let p_setgroups = CString::new("/proc/self/setgroups").unwrap_or_default();
        let p_uid = CString::new("/proc/self/uid_map").unwrap_or_default();
        let p_gid = CString::new("/proc/self/gid_map").unwrap_or_default();
        let groups: Vec<libc::gid_t> = user.groups.clone();
        let switch = nix::unistd::geteuid().as_raw() == 0 && user.uid != 0;
        let (uid, gid) = (user.uid, user.gid);
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe2 failed: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: the child only calls async-signal-safe functions and _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork failed: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // Child.
            unsafe {
                let report = |step: i32| -> ! {
                    let errno = *libc::__errno_location();
                    let buf: [i32; 2] = [step, errno];
                    libc::write(fds[1], buf.as_ptr().cast(), 8);
                    libc::_exit(0);
                };
                let write_file = |p: &CString, data: &str| -> bool {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        return false;
                    }
                    let n = libc::write(fd, data.as_ptr().cast(), data.len());
                    libc::close(fd);
                    n == data.len() as isize
                };
                if switch
                    && (libc::setgroups(groups.len(), groups.as_ptr()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0)
                {
                    report(0);
                }
                // Changing credentials made the process non-dumpable, which
                // leaves its /proc/self files owned by root: undo that.
                if switch && libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 {
                    report(0);
                }
                if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                    report(1);
                }
                if !write_file(&p_setgroups, "deny") {
                    report(2);
                }
                if !write_file(&p_uid, &uid_map) {
                    report(3);
                }
                if !write_file(&p_gid, &gid_map) {
                    report(4);
                }
                if libc::unshare(libc::CLONE_NEWUTS) != 0 {
                    report(5);
                }
                let name = b"krc-probe";
                if libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
                    report(6);
                }
                let ok: [i32; 2] = [-1, 0];
                libc::write(fds[1], ok.as_ptr().cast(), 8);
                libc::_exit(0);
            }
        }
        // Parent.
        unsafe { libc::close(fds[1]) };
        let mut buf = [0i32; 2];
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 8) };
        unsafe { libc::close(fds[0]) };
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if n != 8 {
            return Err("the probe child exited without reporting".to_string());
        }
        match buf[0] {
            -1 => Ok(()),
            step => {
                let what = STEPS.get(step as usize).copied().unwrap_or("unknown step");
                let err = std::io::Error::from_raw_os_error(buf[1]);
                Err(format!("{what} failed: {err}"))
            }
        }
    }
}
