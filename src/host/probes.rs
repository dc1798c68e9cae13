//! Live probes: the facts that files cannot give (can this user create a
//! user namespace? does their systemd manager answer?). A fixture tree
//! answers them from its `krc-fixture.toml`; under `--root` without an
//! answer, a probe is "not run" and the check says skipped, never passed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::TargetUser;
use super::fixture::ProbeAnswers;

pub(crate) mod userbus;

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
    let shown = format!("{:?}", cmd.get_program());
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to run {shown}: {e}"))?;
    wait_with_timeout(child, &shown, timeout)
}

/// Collects a spawned child's output and status, killing it at the
/// deadline. The pipes are drained while it runs: a child that writes more
/// than a pipe holds (apt does) would otherwise block until the deadline.
/// One thread does it all, waking on output or on exit (no reader threads
/// to start for a child that prints one line).
pub(crate) fn wait_with_timeout(
    mut child: std::process::Child,
    shown: &str,
    timeout: Duration,
) -> Result<CommandOutput, String> {
    let deadline = Instant::now() + timeout;
    let exited = ExitWatch::new(child.id());
    let mut pipes = [
        child.stdout.take().map(std::os::fd::OwnedFd::from),
        child.stderr.take().map(std::os::fd::OwnedFd::from),
    ]
    .map(|p| p.map(nonblocking));
    let mut bytes = [Vec::new(), Vec::new()];
    let mut status = None;
    let status = loop {
        for (pipe, buf) in pipes.iter_mut().zip(bytes.iter_mut()) {
            if let Some(f) = pipe
                && drain_ready(f, buf)
            {
                *pipe = None;
            }
        }
        if status.is_none() {
            status = child
                .try_wait()
                .map_err(|e| format!("failed to wait for {shown}: {e}"))?;
        }
        let open: Vec<&std::fs::File> = pipes.iter().flatten().collect();
        match status {
            Some(st) if open.is_empty() => break st,
            // Exited, but a grandchild holds the pipes: keep what came.
            Some(st) if Instant::now() >= deadline => break st,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish within {}s",
                    timeout.as_secs()
                ));
            }
            _ => exited.wait(deadline, &open, status.is_some()),
        }
    };
    let [stdout, stderr] = bytes.map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
    })
}

fn nonblocking(fd: std::os::fd::OwnedFd) -> std::fs::File {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL/F_SETFL on a pipe descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    std::fs::File::from(fd)
}

/// Reads what a pipe holds now; true at its end (or on an error).
fn drain_ready(mut f: &std::fs::File, buf: &mut Vec<u8>) -> bool {
    use std::io::Read;
    let mut chunk = [0u8; 8192];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Wakes up when a child exits instead of polling at a fixed pace: a
/// probe's child is done in a millisecond or two, and a 2 ms sleep
/// between looks doubled that. A pidfd (Linux 5.3) becomes readable at
/// exit; without one, short sleeps.
struct ExitWatch(Option<std::os::fd::OwnedFd>);

impl ExitWatch {
    fn new(pid: u32) -> ExitWatch {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags; a descriptor it returns
        // is new and owned here. The child is not reaped before this (only
        // try_wait reaps it), so the pid still names it.
        let fd = unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0);
            (fd >= 0).then(|| std::os::fd::OwnedFd::from_raw_fd(fd as i32))
        };
        ExitWatch(fd)
    }

    /// Returns when a pipe has something (or its end), when the child
    /// may have exited (unless `gone`: it has), or at the deadline.
    fn wait(&self, deadline: Instant, pipes: &[&std::fs::File], gone: bool) {
        use std::os::fd::AsRawFd;
        let left = deadline.saturating_duration_since(Instant::now());
        let poll = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds: Vec<libc::pollfd> = pipes.iter().map(|f| poll(f.as_raw_fd())).collect();
        let mut ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        match &self.0 {
            Some(fd) if !gone => fds.push(poll(fd.as_raw_fd())),
            // No pidfd: look at the child again soon.
            None if !gone => ms = ms.min(1),
            _ => {}
        }
        // SAFETY: pollfds we own, for descriptors open for the call; an
        // EINTR only means one more turn of the caller's loop.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }
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

/// The user-namespace probe: a fresh krc (`krc __userns-probe`, exec'd
/// with a cleared environment) runs as the target user, creates a user
/// namespace, maps itself to root inside, then uses a capability there (a
/// UTS namespace and `sethostname`). AppArmor's userns restriction lets
/// `unshare` succeed but strips capabilities, so only the last step tells
/// that case apart.
///
/// Why a fresh process rather than a fork of root's krc: the probe child
/// belongs to the user, who may read its `/proc/PID/environ` and memory. A
/// fork would carry root's environment (a `GITHUB_TOKEN`) and heap; an
/// exec'd helper carries only PATH and LANG.
pub(crate) mod userns_probe {
    use super::{Command, Stdio, TargetUser};
    use std::os::unix::process::CommandExt;

    /// The hidden subcommand `main` dispatches before anything else.
    pub(crate) const HELPER_ARG: &str = "__userns-probe";

    const STEPS: &[&str] = &[
        "setgroups/setgid/setuid to the target user",
        "unshare(CLONE_NEWUSER)",
        "write /proc/self/setgroups",
        "write /proc/self/uid_map",
        "write /proc/self/gid_map",
        "unshare(CLONE_NEWUTS) inside the new namespace",
        "sethostname inside the new namespace",
    ];

    pub(crate) fn run(user: &TargetUser) -> Result<(), String> {
        let switch = nix::unistd::geteuid().as_raw() == 0 && user.uid != 0;
        // /proc/self/exe in the child is this same krc binary; reached
        // through the magic link, no directory on the way needs to be
        // searchable by the user, only the file executable.
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("krc").arg(HELPER_ARG);
        super::clean_env(&mut cmd);
        if switch {
            let ids = Ids {
                uid: user.uid,
                gid: user.gid,
                groups: user.groups.clone(),
            };
            // SAFETY: the closure runs between fork and exec and only makes
            // raw system calls on memory prepared before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    drop_privileges(&ids);
                    Ok(())
                });
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "failed to start krc's probe helper as {}: {e} (the krc binary must be executable by that user)",
                    user.name
                )
            })?;
        let out = super::wait_with_timeout(child, "krc's probe helper", super::PROBE_TIMEOUT)?;
        #[cfg(debug_assertions)]
        debug_log(&out.stdout);
        parse_report(&out.stdout).unwrap_or_else(|| {
            Err(format!(
                "the probe helper exited ({}) without reporting: {}",
                out.status,
                super::first_line(&out.stderr, "")
            ))
        })
    }

    /// `ok`, or `fail STEP ERRNO`: the helper's last line.
    pub(crate) fn parse_report(stdout: &str) -> Option<Result<(), String>> {
        let line = stdout.lines().rev().find(|l| !l.starts_with("debug "))?;
        if line == "ok" {
            return Some(Ok(()));
        }
        let mut w = line.strip_prefix("fail ")?.split(' ');
        let step: usize = w.next()?.parse().ok()?;
        let errno: i32 = w.next()?.parse().ok()?;
        let what = STEPS.get(step)?;
        let err = std::io::Error::from_raw_os_error(errno);
        Some(Err(format!("{what} failed: {err}")))
    }

    /// Test builds only: `KRC_PROBE_LOG=FILE` keeps what the helper saw of
    /// itself (its credentials and environment), so tests can prove the
    /// user's process carries nothing of root's.
    #[cfg(debug_assertions)]
    fn debug_log(stdout: &str) {
        use std::io::Write;
        let Some(path) = std::env::var_os("KRC_PROBE_LOG") else {
            return;
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(stdout.as_bytes());
        }
    }

    struct Ids {
        uid: libc::uid_t,
        gid: libc::gid_t,
        groups: Vec<libc::gid_t>,
    }

    #[cfg(not(any(target_arch = "arm", target_arch = "x86")))]
    use libc::{
        SYS_setgroups as SYS_SETGROUPS, SYS_setresgid as SYS_SETRESGID,
        SYS_setresuid as SYS_SETRESUID,
    };
    #[cfg(any(target_arch = "arm", target_arch = "x86"))]
    use libc::{
        SYS_setgroups32 as SYS_SETGROUPS, SYS_setresgid32 as SYS_SETRESGID,
        SYS_setresuid32 as SYS_SETRESUID,
    };

    /// In the forked child: becomes the user for good (real, effective and
    /// saved ids), or reports step 0 on stdout and exits without exec.
    /// Raw syscalls, not libc's wrappers: in a child of a multi-threaded
    /// process only async-signal-safe calls are allowed, and glibc's id
    /// setters signal the parent's (absent) threads.
    fn drop_privileges(ids: &Ids) {
        // SAFETY: plain system calls on integers and on the groups vector,
        // which was allocated before the fork and is only read here.
        unsafe {
            let ok = libc::syscall(SYS_SETGROUPS, ids.groups.len(), ids.groups.as_ptr()) == 0
                && libc::syscall(SYS_SETRESGID, ids.gid, ids.gid, ids.gid) == 0
                && libc::syscall(SYS_SETRESUID, ids.uid, ids.uid, ids.uid) == 0
                // Root is really gone: getting it back must fail.
                && libc::syscall(SYS_SETRESUID, 0, 0, 0) != 0;
            if !ok {
                let errno = *libc::__errno_location();
                let mut buf = *b"fail 0 0000000000\n";
                let n = write_decimal(&mut buf[7..17], errno);
                buf.copy_within(17..18, 7 + n);
                libc::write(1, buf.as_ptr().cast(), 7 + n + 1);
                libc::_exit(0);
            }
        }
    }

    /// Writes `v` (>= 0) in decimal at the start of `out`; returns the length.
    fn write_decimal(out: &mut [u8], v: i32) -> usize {
        let mut digits = [0u8; 10];
        let (mut v, mut n) = (v.max(0) as u32, 0);
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in 0..n {
            out[i] = digits[n - 1 - i];
        }
        n
    }

    /// `krc __userns-probe`: the steps after the switch, in this fresh,
    /// single-threaded process (`unshare(CLONE_NEWUSER)` fails with EINVAL
    /// in a multi-threaded one). Prints the report; always exits 0.
    pub(crate) fn helper_main() -> u8 {
        #[cfg(debug_assertions)]
        debug_self();
        let report = match steps() {
            Ok(()) => "ok".to_string(),
            Err((step, e)) => format!("fail {step} {}", e.raw_os_error().unwrap_or(0)),
        };
        println!("{report}");
        0
    }

    /// What a reader of this process's /proc files sees (test builds only).
    #[cfg(debug_assertions)]
    fn debug_self() {
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: getresuid writes three integers.
        unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
        println!("debug uid {r} {e} {s}");
        let environ = std::fs::read("/proc/self/environ").unwrap_or_default();
        for var in environ.split(|b| *b == 0).filter(|v| !v.is_empty()) {
            println!("debug environ {}", String::from_utf8_lossy(var));
        }
    }

    fn steps() -> Result<(), (usize, std::io::Error)> {
        let last = std::io::Error::last_os_error;
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        // SAFETY: unshare takes flags only.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
            return Err((1, last()));
        }
        // One write(2) to an existing file: these proc files take no O_CREAT.
        let write = |step: usize, path: &str, data: String| {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(data.as_bytes()))
                .map_err(|e| (step, e))
        };
        write(2, "/proc/self/setgroups", "deny".into())?;
        write(3, "/proc/self/uid_map", format!("0 {uid} 1\n"))?;
        write(4, "/proc/self/gid_map", format!("0 {gid} 1\n"))?;
        // SAFETY: unshare takes flags only.
        if unsafe { libc::unshare(libc::CLONE_NEWUTS) } != 0 {
            return Err((5, last()));
        }
        let name = b"krc-probe";
        // SAFETY: name is valid for its length.
        if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
            return Err((6, last()));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reports_parse_to_the_same_wording() {
            assert_eq!(parse_report("debug uid 1 1 1\nok\n"), Some(Ok(())));
            let e = parse_report("fail 1 1\n").unwrap().unwrap_err();
            assert!(e.starts_with("unshare(CLONE_NEWUSER) failed: "), "{e}");
            assert!(e.contains("Operation not permitted"), "{e}");
            assert_eq!(parse_report(""), None);
            assert_eq!(parse_report("fail 99 1\n"), None);
        }

        #[test]
        fn errno_digits() {
            let mut b = [0u8; 10];
            let n = write_decimal(&mut b, 1234);
            assert_eq!(&b[..n], b"1234");
            let n = write_decimal(&mut b, 0);
            assert_eq!(&b[..n], b"0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_waited_for_without_polling_delay_and_killed_at_the_deadline() {
        let t = Instant::now();
        let out = run_with_timeout(Command::new("true").env_clear(), PROBE_TIMEOUT).unwrap();
        assert!(out.status.success());
        assert!(t.elapsed() < Duration::from_secs(2));
        let t = Instant::now();
        let mut sleep = Command::new("sleep");
        sleep.arg("5");
        let e = run_with_timeout(&mut sleep, Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(e.contains("did not finish"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    /// More than a pipe holds, on both pipes: nothing blocks, nothing lost.
    #[test]
    fn both_pipes_are_drained_while_the_child_runs() {
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            "head -c 300000 /dev/zero | tr '\\0' a; head -c 200000 /dev/zero | tr '\\0' b >&2; echo end",
        ]);
        let out = run_with_timeout(&mut sh, PROBE_TIMEOUT).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 300_004);
        assert!(out.stdout.ends_with("aend\n"));
        assert_eq!(out.stderr.len(), 200_000);
        assert!(out.stderr.bytes().all(|b| b == b'b'));
    }
}
