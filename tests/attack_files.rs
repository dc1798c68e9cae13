//! The one file layer (issue 16) against a hostile target user: each test
//! plants, as the real unprivileged user `krc-attacker` (with `runuser`),
//! what that user can plant, runs krc as root, and asserts that nothing
//! outside the user's rights changed, that root neither hung nor used
//! unbounded memory, that no root-only byte reached any output, and that
//! krc said why it refused.
//!
//! No test touches this machine's real `/etc`: where the attack would
//! write `/`, a scratch tree (a copy of the seed) stands for it, and the
//! test compares every file of that scratch tree before and after.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::io::{BufRead, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use inst::{seed, serve_artifacts, text, tree, tree_diff, write_pins};

const ATTACKER: &str = "krc-attacker";

fn attacker_or_skip() -> Option<(u32, u32, PathBuf)> {
    if !support::is_root() || !support::have("runuser") {
        return None;
    }
    Some(support::ensure_user(ATTACKER).unwrap())
}

macro_rules! lab_or_skip {
    () => {
        match attacker_or_skip() {
            Some(a) => a,
            None => lab_skip!("needs root and runuser to act as an unprivileged user"),
        }
    };
}

/// Runs a command as the attacker; it must succeed.
fn as_attacker(argv: &[&str]) {
    let o = Command::new("runuser")
        .args(["-u", ATTACKER, "--"])
        .args(argv)
        .output()
        .unwrap();
    assert!(o.status.success(), "as {ATTACKER}: {argv:?}: {}", text(&o));
}

fn world_readable(p: &Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Waits for `child` at most `limit`, killing it after; its output and
/// the peak memory the kernel recorded for it (`ru_maxrss`, KiB).
fn wait_within(mut child: std::process::Child, limit: Duration) -> Result<(Output, i64), String> {
    let pid = child.id() as libc::pid_t;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(mut out) = out {
            let _ = out.read_to_end(&mut b);
        }
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(mut err) = err {
            let _ = err.read_to_end(&mut b);
        }
        b
    });
    let until = Instant::now() + limit;
    let mut status = 0;
    // SAFETY: rusage is plain data filled in by wait4.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if Instant::now() > until {
            let _ = child.kill();
            // SAFETY: as above, reaping the killed child.
            unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            return Err(format!("still running after {limit:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    Ok((o, ru.ru_maxrss))
}

/// Item 1: `--root DIR` where the user can rename DIR. After krc's first
/// read the user swaps DIR for a link to "/" (a scratch tree standing for
/// it): every write must still land in the tree krc first opened, and the
/// "real" root must be unchanged, file for file.
#[test]
fn a_root_tree_swapped_for_a_link_after_the_first_read_redirects_no_write() {
    let _ = lab_or_skip!();
    let d = tempfile::tempdir().unwrap();
    world_readable(d.path());
    // The user's own directory holding the tree: they may rename in it.
    let parent = d.path().join("theirs");
    std::fs::create_dir(&parent).unwrap();
    let tree_dir = seed(&parent);
    Command::new("chown")
        .args([ATTACKER, parent.to_str().unwrap()])
        .status()
        .unwrap();
    world_readable(&parent);
    // What stands for the real "/".
    let slash_parent = d.path().join("slash");
    std::fs::create_dir(&slash_parent).unwrap();
    let slash = seed(&slash_parent);
    let slash_before = tree(&slash);
    let subuid_before = std::fs::read(slash.join("etc/subuid")).unwrap();

    let pins = write_pins(d.path(), None);
    let (url, _) = serve_artifacts();
    let flag = d.path().join("go");
    let mut c = inst::install_command(&tree_dir, &url, &pins, &["--yes"]);
    c.env("KRC_PAUSE_AFTER_FACTS", &flag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = err.read_line(&mut line).unwrap();
        assert!(n > 0, "krc ended before its pause: {seen}");
        seen.push_str(&line);
        if line.contains("paused after reading the facts") {
            break;
        }
    }
    // The swap, as the user: DIR renamed away, a link to "/" in its place.
    let moved = parent.join("moved");
    as_attacker(&["mv", tree_dir.to_str().unwrap(), moved.to_str().unwrap()]);
    as_attacker(&[
        "ln",
        "-s",
        slash.to_str().unwrap(),
        tree_dir.to_str().unwrap(),
    ]);
    std::fs::write(&flag, "").unwrap();
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (o, _) = wait_within(child, Duration::from_secs(120)).unwrap();
    let all = format!("{}{seen}{}", text(&o), rest.join().unwrap());
    assert_eq!(
        tree_diff(&slash_before, &tree(&slash)),
        "",
        "the tree standing for / changed:\n{all}"
    );
    assert_eq!(
        std::fs::read(slash.join("etc/subuid")).unwrap(),
        subuid_before
    );
    assert_eq!(o.status.code(), Some(0), "{all}");
    let subuid = std::fs::read_to_string(moved.join("etc/subuid")).unwrap();
    assert!(
        subuid.lines().any(|l| l.starts_with("alice:")),
        "the install went to the tree krc opened:\n{subuid}\n{all}"
    );
}
