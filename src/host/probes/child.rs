//! Children krc runs: one way to start them and one way to wait for them.
//! Every child goes through [`spawn_piped`], which marks every descriptor
//! above stderr close-on-exec in the child before `exec`: descriptors root
//! inherited without that flag (from a cron job, a CI runner, a root
//! shell) must not reach a program that runs as the target user. Every
//! wait has a deadline, reads at most a cap of bytes per pipe
//! ([`super::limits`]) and, for children the user controls, ends on a stop
//! request (Ctrl-C, SIGTERM) with a message.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::limits;

/// How long to wait, how much to read, and whether a stop request ends
/// the wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) timeout: Duration,
    /// Bytes read from stdout, and from stderr, at most.
    pub(crate) cap: usize,
    /// A stop request kills the child and ends the wait; past the cap the
    /// child is ended too. False only for root's own installer commands
    /// (apt, dpkg), which no user controls and which must not be killed
    /// halfway (what the installer's deferred signals exist to avoid):
    /// past the cap, only their last `cap` bytes are kept.
    pub(crate) interruptible: bool,
}

impl Wait {
    pub(crate) fn probe(timeout: Duration) -> Wait {
        Wait {
            timeout,
            cap: limits::PROBE_COMMAND,
            interruptible: true,
        }
    }
}

pub(crate) struct CommandOutput {
    pub(crate) status: std::process::ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Starts `cmd` with `stdin`, stdout and stderr piped, and every inherited
/// descriptor above 2 closed at its `exec`.
pub(crate) fn spawn_piped(cmd: &mut Command, stdin: Stdio) -> std::io::Result<Child> {
    // SAFETY: the closure makes raw system calls only (async-signal-safe).
    unsafe {
        cmd.pre_exec(|| {
            close_inherited();
            Ok(())
        });
    }
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// In the forked child, before `exec`: every descriptor from 3 up becomes
/// close-on-exec (`close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`, Linux 5.11;
/// on older kernels one `fcntl` per descriptor up to the limit). Marking
/// rather than closing keeps std's own exec-error pipe working.
fn close_inherited() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: raw system calls on integers only.
    unsafe {
        if libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        ) == 0
        {
            return;
        }
        let mut lim: libc::rlimit = std::mem::zeroed();
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur.min(1 << 20) as libc::c_int
        } else {
            1024
        };
        for fd in 3..max {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// Runs a probe's command with a deadline and [`limits::PROBE_COMMAND`];
/// a command that does not finish in time is killed and reported as such.
pub(crate) fn run_with_timeout(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<CommandOutput, String> {
    run(cmd, Wait::probe(timeout))
}

/// Runs a command under `wait`'s deadline, cap and stop rule.
pub(crate) fn run(cmd: &mut Command, wait: Wait) -> Result<CommandOutput, String> {
    let shown = format!("{:?}", cmd.get_program());
    let child =
        spawn_piped(cmd, Stdio::null()).map_err(|e| format!("failed to run {shown}: {e}"))?;
    wait_for(child, &shown, wait)
}

/// Collects a spawned child's output and status, killing it at the
/// deadline, past the cap, or (if interruptible) on a stop request. The
/// pipes are drained while it runs: a child that writes more than a pipe
/// holds (apt does) would otherwise block until the deadline. One thread
/// does it all, waking on output or on exit (no reader threads to start
/// for a child that prints one line).
pub(crate) fn wait_for(mut child: Child, shown: &str, wait: Wait) -> Result<CommandOutput, String> {
    let deadline = Instant::now() + wait.timeout;
    let exited = ExitWatch::new(child.id());
    let mut pipes = [
        child.stdout.take().map(std::os::fd::OwnedFd::from),
        child.stderr.take().map(std::os::fd::OwnedFd::from),
    ]
    .map(|p| p.map(nonblocking));
    let mut bytes = [Vec::new(), Vec::new()];
    let mut status = None;
    let end = |child: &mut Child, why: String| {
        let _ = child.kill();
        let _ = child.wait();
        Err(why)
    };
    let status = loop {
        for (pipe, buf) in pipes.iter_mut().zip(bytes.iter_mut()) {
            if let Some(f) = pipe {
                match drain_ready(f, buf, wait.cap, !wait.interruptible) {
                    Drain::Open => {}
                    Drain::Closed => *pipe = None,
                    Drain::Over => {
                        return end(
                            &mut child,
                            format!(
                                "{shown}'s answer was larger than {}: krc stopped reading and ended it",
                                limits::shown(wait.cap)
                            ),
                        );
                    }
                }
            }
        }
        if status.is_none() {
            status = child
                .try_wait()
                .map_err(|e| format!("failed to wait for {shown}: {e}"))?;
        }
        if wait.interruptible
            && let Some(sig) = stop_requested()
        {
            return end(
                &mut child,
                format!(
                    "{shown} was ended: krc was interrupted by {}",
                    crate::stop::name(sig)
                ),
            );
        }
        let open: Vec<&std::fs::File> = pipes.iter().flatten().collect();
        match status {
            Some(st) if open.is_empty() => break st,
            // Exited, but another process holds the pipes: keep what came.
            Some(st) if Instant::now() >= deadline => break st,
            None if Instant::now() >= deadline => {
                return end(
                    &mut child,
                    format!("{shown} did not finish within {}s", wait.timeout.as_secs()),
                );
            }
            _ => exited.wait(deadline, &open, status.is_some(), wait.interruptible),
        }
    };
    let [stdout, stderr] = bytes.map(|mut b| {
        b.drain(..b.len().saturating_sub(wait.cap));
        String::from_utf8_lossy(&b).into_owned()
    });
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
    })
}

/// [`crate::stop::requested`]; in unit tests, also a stop this thread
/// scheduled (the global flag would stop other tests' runs too).
fn stop_requested() -> Option<i32> {
    #[cfg(test)]
    if tests::STOP_AT.with(|at| at.get().is_some_and(|t| Instant::now() >= t)) {
        return Some(libc::SIGINT);
    }
    crate::stop::requested()
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

enum Drain {
    Open,
    /// At its end (or on an error).
    Closed,
    /// More than the cap came.
    Over,
}

/// Reads what a pipe holds now, keeping never more than `cap` bytes:
/// past it, `Over`, or with `tail` the oldest bytes are dropped (the
/// caller trims to the last `cap`).
fn drain_ready(mut f: &std::fs::File, buf: &mut Vec<u8>, cap: usize, tail: bool) -> Drain {
    use std::io::Read;
    let mut chunk = [0u8; 8192];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => return Drain::Closed,
            Ok(n) if buf.len() + n > cap && !tail => return Drain::Over,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // Trimmed in steps of `cap`, not per read: twice the cap
                // at most, and no copying of it per 8 KiB.
                if buf.len() > 2 * cap {
                    buf.drain(..buf.len() - cap);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Drain::Open,
            Err(_) => return Drain::Closed,
        }
    }
}

/// Wakes up when a child exits instead of polling at a fixed pace: a
/// probe's child is done in a millisecond or two, and a 2 ms sleep
/// between looks doubled that. A pidfd (Linux 5.3) becomes readable at
/// exit; without one, short sleeps.
struct ExitWatch(Option<std::os::fd::OwnedFd>);

/// How often an interruptible wait looks for a stop request: the signal
/// may be caught on another thread (tokio's handler), leaving this poll
/// asleep.
const STOP_LOOK: i32 = 100;

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
    /// may have exited (unless `gone`: it has), at the deadline, or
    /// (`interruptible`) after [`STOP_LOOK`] ms.
    fn wait(&self, deadline: Instant, pipes: &[&std::fs::File], gone: bool, interruptible: bool) {
        use std::os::fd::AsRawFd;
        let left = deadline.saturating_duration_since(Instant::now());
        let poll = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds: Vec<libc::pollfd> = pipes.iter().map(|f| poll(f.as_raw_fd())).collect();
        let mut ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        if interruptible {
            ms = ms.min(STOP_LOOK);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

    thread_local! {
        /// When a stop request "arrives" for this thread's waits.
        pub(super) static STOP_AT: std::cell::Cell<Option<Instant>> =
            const { std::cell::Cell::new(None) };
    }

    /// Ctrl-C while a child of the user's runs on: the wait ends within a
    /// turn of its poll, the child is killed, the error says why. Root's
    /// own commands are waited for.
    #[test]
    fn a_stop_request_ends_an_interruptible_wait() {
        STOP_AT.with(|at| at.set(Some(Instant::now() + Duration::from_millis(300))));
        let t = Instant::now();
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let e = run(&mut sleep, Wait::probe(Duration::from_secs(60)))
            .err()
            .unwrap();
        assert!(e.contains("krc was interrupted by SIGINT"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let mut sleep = Command::new("sleep");
        sleep.arg("1");
        let roots = Wait {
            interruptible: false,
            ..Wait::probe(Duration::from_secs(60))
        };
        assert!(run(&mut sleep, roots).unwrap().status.success());
        STOP_AT.with(|at| at.set(None));
    }

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

    /// An endless writer is ended at the cap, at once, not at the
    /// deadline and not after filling root's memory.
    #[test]
    fn an_endless_writer_is_ended_at_the_cap() {
        let t = Instant::now();
        let wait = Wait {
            timeout: Duration::from_secs(30),
            cap: 64 * 1024,
            interruptible: true,
        };
        let e = run(&mut Command::new("yes"), wait).err().unwrap();
        assert!(e.contains("answer was larger than 64 KiB"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    /// Root's own commands are not ended at the cap: their last bytes are
    /// kept, the rest dropped, and they run to their end.
    #[test]
    fn roots_own_commands_keep_their_tail() {
        let wait = Wait {
            timeout: Duration::from_secs(30),
            cap: 64 * 1024,
            interruptible: false,
        };
        let mut sh = Command::new("sh");
        sh.args(["-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo end"]);
        let out = run(&mut sh, wait).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 64 * 1024);
        assert!(out.stdout.ends_with("aend\n"));
    }

    /// A descriptor the parent holds without close-on-exec does not reach
    /// the child: it sees only 0, 1, 2 (and the directory `ls` opens).
    #[test]
    fn inherited_descriptors_do_not_reach_children() {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open("/proc/self/status").unwrap();
        // SAFETY: dup2 onto a high number; dup2 leaves FD_CLOEXEC clear.
        let leaked = unsafe { libc::dup2(f.as_raw_fd(), 517) };
        assert_eq!(leaked, 517);
        let mut ls = Command::new("ls");
        ls.arg("/proc/self/fd");
        let out = run_with_timeout(&mut ls, PROBE_TIMEOUT).unwrap();
        // SAFETY: closes the descriptor this test made.
        unsafe { libc::close(517) };
        let fds: Vec<&str> = out.stdout.split_whitespace().collect();
        assert!(!fds.contains(&"517"), "{fds:?}");
        assert!(fds.len() <= 4, "{fds:?}");
    }
}
