//! The user-namespace probe: a fresh krc (`krc __userns-probe`, exec'd
//! with a cleared environment) runs as the target user, creates a user
//! namespace, maps itself to root inside, then uses a capability there (a
//! UTS namespace and `sethostname`). AppArmor's userns restriction lets
//! `unshare` succeed but strips capabilities, so only the last step tells
//! that case apart.
//!
//! Why a fresh process rather than a fork of root's krc: the probe child
//! belongs to the user, who may read its `/proc/PID/environ` and memory. A
//! fork would carry root's environment (a `GITHUB_TOKEN`) and heap; an
//! exec'd helper carries only PATH and LANG.
//!
//! Its report is a verdict on the user's own capability, and the user may
//! try to forge or flood it. Root reads at most
//! [`limits::PROBE_HELPER`](super::limits::PROBE_HELPER) from its pipes
//! within [`PROBE_TIMEOUT`](super::PROBE_TIMEOUT); the helper makes itself
//! non-dumpable (no ptrace, no `pidfd_getfd`, no /proc/PID/fd of it for the
//! user) a few system calls after `exec`; it repeats a per-run nonce that
//! root sends through its stdin; root takes only one report line carrying
//! that nonce from a helper that exited 0. Left: between `exec` and the
//! `prctl`, a process of the user racing for it can still copy its
//! descriptors and write a report; the worst it gets is a wrong verdict on
//! its own user namespaces, never more memory or time from root.

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
    use std::io::Write;
    let switch = nix::unistd::geteuid().as_raw() == 0 && user.uid != 0;
    let nonce = nonce()?;
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
            fail_tail: format!(" {nonce}\n").into_bytes(),
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
    let mut child = super::spawn_piped(&mut cmd, Stdio::piped()).map_err(|e| {
        format!(
            "failed to start krc's probe helper as {}: {e} (the krc binary must be executable by that user)",
            user.name
        )
    })?;
    // The nonce goes through a pipe, not argv or the environment, which
    // the user reads in /proc/PID/cmdline and /proc/PID/environ. A few
    // bytes into a new pipe never block; a helper already gone only
    // makes the write fail (EPIPE: Rust ignores SIGPIPE).
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{nonce}\n").as_bytes());
    }
    let wait = super::Wait {
        timeout: super::PROBE_TIMEOUT,
        cap: super::limits::PROBE_HELPER,
        interruptible: true,
    };
    let out = super::child::wait_for(child, "krc's probe helper", wait)?;
    #[cfg(debug_assertions)]
    debug_log(&out.stdout);
    let report = parse_report(&out.stdout, &nonce);
    match report {
        Some(verdict) if out.status.success() => verdict,
        // Its stderr is the user's to write in: one line, shortened.
        _ => Err(format!(
            "the probe helper exited ({}) without a report of this run: {}",
            out.status,
            super::first_line(&out.stderr, "")
                .chars()
                .take(200)
                .collect::<String>()
        )),
    }
}

/// 16 random bytes in hex: the helper repeats them in its report, so a
/// report written before this run (or by a process that never read
/// them) is not taken for the helper's.
fn nonce() -> Result<String, String> {
    let mut b = [0u8; 16];
    // The raw system call, not libc's getrandom(): that wrapper is
    // GLIBC_2.25 and would raise the release binary's glibc floor above
    // 2.17 (tests/release.rs). The kernel call exists since Linux 3.17.
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getrandom,
            b.as_mut_ptr(),
            b.len(),
            0 as libc::c_uint,
        )
    };
    if n != b.len() as libc::c_long {
        return Err(format!(
            "getrandom failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(hex::encode(b))
}

/// `ok NONCE`, or `fail STEP ERRNO NONCE`: the helper's one report
/// line (test builds add `debug` lines). Anything else, a second
/// report or another nonce is no report.
pub(crate) fn parse_report(stdout: &str, nonce: &str) -> Option<Result<(), String>> {
    let mut reports = stdout.lines().filter(|l| !l.starts_with("debug "));
    let line = reports.next()?;
    if reports.next().is_some() {
        return None;
    }
    let mut w = line.split(' ');
    let verdict = match w.next()? {
        "ok" => Ok(()),
        "fail" => {
            let step: usize = w.next()?.parse().ok()?;
            let errno: i32 = w.next()?.parse().ok()?;
            let what = STEPS.get(step)?;
            let err = std::io::Error::from_raw_os_error(errno);
            Err(format!("{what} failed: {err}"))
        }
        _ => return None,
    };
    (w.next()? == nonce && w.next().is_none()).then_some(verdict)
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
    /// ` NONCE\n`: ends a step-0 report.
    fail_tail: Vec<u8>,
}

#[cfg(not(any(target_arch = "arm", target_arch = "x86")))]
use libc::{
    SYS_setgroups as SYS_SETGROUPS, SYS_setresgid as SYS_SETRESGID, SYS_setresuid as SYS_SETRESUID,
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
            let mut buf = *b"fail 0 0000000000";
            let n = write_decimal(&mut buf[7..17], errno);
            libc::write(1, buf.as_ptr().cast(), 7 + n);
            libc::write(1, ids.fail_tail.as_ptr().cast(), ids.fail_tail.len());
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
/// in a multi-threaded one). Reads the run's nonce from stdin, prints
/// the report with it; always exits 0.
///
/// The process belongs to the user, who may ptrace it or copy its
/// descriptors (`pidfd_getfd`) while it is dumpable: the helper makes
/// itself non-dumpable as soon as it can. That is after
/// `unshare(CLONE_NEWUSER)` and opening the three map files, because a
/// non-dumpable process's /proc files belong to root and it could no
/// longer open them; a few system calls after `exec`.
pub(crate) fn helper_main() -> u8 {
    // Test builds look at themselves first: a non-dumpable process
    // cannot read its own /proc/self/environ or fd/.
    #[cfg(debug_assertions)]
    debug_self();
    let started = start();
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let nonce = read_nonce();
    let report = match started.and_then(steps) {
        Ok(()) => "ok".to_string(),
        Err((step, e)) => format!("fail {step} {}", e.raw_os_error().unwrap_or(0)),
    };
    println!("{report} {nonce}");
    0
}

/// The nonce root wrote to stdin: one short line, read before the
/// steps (no more than 64 bytes).
fn read_nonce() -> String {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let mut at = 0;
    let mut stdin = std::io::stdin().lock();
    while at < buf.len() && !buf[..at].contains(&b'\n') {
        match stdin.read(&mut buf[at..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => at += n,
        }
    }
    let line = buf[..at].split(|b| *b == b'\n').next().unwrap_or(&[]);
    String::from_utf8_lossy(line).into_owned()
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
    // The descriptors it holds: 0, 1 and 2 only (and the directory
    // being read), never one root inherited.
    for fd in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        println!(
            "debug fd {} {}",
            fd.file_name().to_string_lossy(),
            target.display()
        );
    }
}

/// The map files of the new user namespace, opened (not yet written).
struct Maps {
    /// The ids outside, read before the unshare: inside, with no map
    /// yet, they read as the overflow id.
    uid: libc::uid_t,
    gid: libc::gid_t,
    setgroups: std::fs::File,
    uid_map: std::fs::File,
    gid_map: std::fs::File,
}

/// `unshare(CLONE_NEWUSER)` and opening its map files: what must
/// happen while the process is still dumpable.
fn start() -> Result<Maps, (usize, std::io::Error)> {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err((1, std::io::Error::last_os_error()));
    }
    // These proc files take no O_CREAT: open for writing only.
    let open = |step: usize, path: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| (step, e))
    };
    Ok(Maps {
        uid,
        gid,
        setgroups: open(2, "/proc/self/setgroups")?,
        uid_map: open(3, "/proc/self/uid_map")?,
        gid_map: open(4, "/proc/self/gid_map")?,
    })
}

fn steps(maps: Maps) -> Result<(), (usize, std::io::Error)> {
    use std::io::Write;
    let last = std::io::Error::last_os_error;
    let (uid, gid) = (maps.uid, maps.gid);
    // One write(2) each: the kernel takes a map in one write only.
    let write = |step: usize, mut f: std::fs::File, data: String| {
        f.write_all(data.as_bytes()).map_err(|e| (step, e))
    };
    write(2, maps.setgroups, "deny".into())?;
    write(3, maps.uid_map, format!("0 {uid} 1\n"))?;
    write(4, maps.gid_map, format!("0 {gid} 1\n"))?;
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
        let n = "0011";
        assert_eq!(parse_report("debug uid 1 1 1\nok 0011\n", n), Some(Ok(())));
        let e = parse_report("fail 1 1 0011\n", n).unwrap().unwrap_err();
        assert!(e.starts_with("unshare(CLONE_NEWUSER) failed: "), "{e}");
        assert!(e.contains("Operation not permitted"), "{e}");
        assert_eq!(parse_report("", n), None);
        assert_eq!(parse_report("fail 99 1 0011\n", n), None);
    }

    /// A report without this run's nonce, with another, or beside a
    /// second report is no report.
    #[test]
    fn forged_reports_are_not_taken() {
        let n = "0011";
        assert_eq!(parse_report("ok\n", n), None);
        assert_eq!(parse_report("ok 9999\n", n), None);
        assert_eq!(parse_report("ok 0011 x\n", n), None);
        assert_eq!(parse_report("fail 1 1 0011\nok 0011\n", n), None);
        assert_eq!(parse_report("ok 0011\nok 0011\n", n), None);
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
