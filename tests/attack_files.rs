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

use inst::{give_alice_to, seed, serve_artifacts, text, tree, tree_diff, write_pins};

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

/// A `krc` command whose address space is capped at 2 GiB, so that a
/// regression that reads without bound fails the test instead of the
/// machine.
fn krc_capped() -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = support::krc();
    // SAFETY: setrlimit is async-signal-safe; it runs in the child only.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// A seed tree under `dir` whose `alice` is the real uid of the attacker,
/// who owns alice's home.
fn attacker_tree(dir: &Path, uid: u32, gid: u32) -> PathBuf {
    world_readable(dir);
    let root = seed(dir);
    give_alice_to(&root, uid, gid);
    root
}

/// The largest regular file below `dir` (links not followed), in bytes
/// on disk.
fn largest_allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut max = 0;
    for e in rd {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            max = max.max(largest_allocated(&p));
        } else if m.is_file() {
            max = max.max(m.blocks() * 512);
        }
    }
    max
}

/// Item 3: a 1 GiB sparse unit file in the user's home. Root reads at
/// most the cap of a file of the user's (1 MiB), keeps no big backup, and
/// says why it refused; its peak memory stays under 256 MiB.
#[test]
fn a_huge_sparse_user_file_costs_root_neither_memory_nor_a_backup() {
    let (uid, gid, _) = lab_or_skip!();
    let d = tempfile::tempdir().unwrap();
    let root = attacker_tree(d.path(), uid, gid);
    let unit_dir = root.join("home/alice/.config/systemd/user");
    as_attacker(&["mkdir", "-p", unit_dir.to_str().unwrap()]);
    let unit = unit_dir.join("k3s-rootless.service");
    as_attacker(&["truncate", "-s", "1G", unit.to_str().unwrap()]);
    let pins = write_pins(d.path(), None);
    let (url, _) = serve_artifacts();
    let mut c = krc_capped();
    c.args([
        "install",
        "--user",
        "alice",
        "--yes",
        "--k3s-version",
        inst::VERSION,
    ])
    .args(["--mirror", &url])
    .arg("--pins")
    .arg(&pins)
    .arg("--root")
    .arg(&root)
    .env_remove("KRC_FAULT_STEP")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let (o, maxrss_kib) = wait_within(c.spawn().unwrap(), Duration::from_secs(120)).unwrap();
    let all = text(&o);
    assert!(
        maxrss_kib < 256 * 1024,
        "krc's peak memory was {maxrss_kib} KiB for a 1 GiB sparse file:\n{all}"
    );
    let biggest = largest_allocated(&root.join("var/lib/krc"));
    assert!(
        biggest <= 1 << 20,
        "a root-owned file of {biggest} bytes under /var/lib/krc:\n{all}"
    );
    assert!(all.contains("larger than"), "krc must say why:\n{all}");
    assert_ne!(o.status.code(), Some(0), "{all}");
}

/// Item 10: an offline bundle the user can write, whose k3s is a FIFO, then
/// a link to /dev/zero. Root neither hangs nor reads without bound, and
/// says why.
#[test]
fn a_fifo_or_a_link_to_dev_zero_in_an_offline_bundle_is_refused_at_once() {
    let (uid, gid, _) = lab_or_skip!();
    let d = tempfile::tempdir().unwrap();
    world_readable(d.path());
    let tree_parent = d.path().join("t");
    std::fs::create_dir(&tree_parent).unwrap();
    let root = seed(&tree_parent);
    let pins = write_pins(d.path(), None);
    let bundle = inst::write_bundle(d.path());
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(st.success());
    let k3s = bundle.join("k3s");
    for (plant, why) in [
        (
            vec!["mkfifo", k3s.to_str().unwrap()],
            "not a regular file (a FIFO)",
        ),
        (
            vec!["ln", "-s", "/dev/zero", k3s.to_str().unwrap()],
            "symbolic link",
        ),
    ] {
        as_attacker(&["rm", "-f", k3s.to_str().unwrap()]);
        as_attacker(&plant);
        let mut c = krc_capped();
        c.args([
            "install",
            "--user",
            "alice",
            "--yes",
            "--k3s-version",
            inst::VERSION,
        ])
        .arg("--offline")
        .arg(&bundle)
        .arg("--pins")
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .env_remove("KRC_FAULT_STEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let start = Instant::now();
        let (o, maxrss_kib) = wait_within(c.spawn().unwrap(), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("krc install with {plant:?} in the bundle: {e}"));
        let all = text(&o);
        assert!(start.elapsed() < Duration::from_secs(30), "{all}");
        assert!(maxrss_kib < 256 * 1024, "{maxrss_kib} KiB:\n{all}");
        assert!(all.contains(why), "krc must say why ({why}):\n{all}");
        assert_ne!(o.status.code(), Some(0), "{all}");
        assert!(!root.join("usr/local/bin/k3s").exists(), "{all}");
    }
}

/// Item 7: a report directory reached through a link the user owns. Root
/// writes nothing through it (here into a root-owned directory standing
/// for any directory the user names), and names the link.
#[test]
fn a_linked_report_directory_never_receives_roots_report() {
    let _ = lab_or_skip!();
    let d = tempfile::tempdir().unwrap();
    world_readable(d.path());
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    Command::new("chown")
        .args([ATTACKER, theirs.to_str().unwrap()])
        .status()
        .unwrap();
    let victim = d.path().join("victim-etc");
    std::fs::create_dir(&victim).unwrap();
    let link = theirs.join("reports");
    as_attacker(&["ln", "-s", victim.to_str().unwrap(), link.to_str().unwrap()]);
    let json = link.join("cron.json");
    let fixture = support::repo().join("fixtures/hosts/debian12-default-delegation");
    let mut c = support::krc();
    c.args(["preflight", "--root"])
        .arg(&fixture)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (o, _) = wait_within(c.spawn().unwrap(), Duration::from_secs(60)).unwrap();
    let all = text(&o);
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "root wrote through the user's link:\n{all}"
    );
    assert!(
        all.contains(&link.display().to_string()) && all.contains("symbolic link"),
        "krc must name the link:\n{all}"
    );
}

/// Item 5: on the live host, a directory below the user's home that is a
/// link (to a root-only directory standing for another user's 0700
/// `~/.config`) is not followed: the unit file there, with its token, never
/// reaches any output, and krc says why (`krc accept`'s unit check reads
/// it: root's `krc accept --user attacker` used to print it).
#[test]
fn a_linked_directory_below_the_home_is_not_followed_on_the_live_host() {
    let (_, _, home) = lab_or_skip!();
    const MARKER: &str = "K3S_TOKEN=KRC-OTHER-USERS-SECRET-TOKEN";
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("other-config");
    std::fs::create_dir_all(victim.join("user")).unwrap();
    std::fs::write(
        victim.join("user/k3s-rootless.service"),
        format!(
            "[Service]\nEnvironment={MARKER}\nExecStart=/usr/local/bin/k3s server --rootless\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = home.join(".config");
    as_attacker(&["mkdir", "-p", config.to_str().unwrap()]);
    let systemd = config.join("systemd");
    let saved = config.join("systemd.krc-test-saved");
    let had = std::fs::symlink_metadata(&systemd).is_ok();
    if had {
        as_attacker(&["mv", systemd.to_str().unwrap(), saved.to_str().unwrap()]);
    }
    as_attacker(&[
        "ln",
        "-s",
        victim.to_str().unwrap(),
        systemd.to_str().unwrap(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("accept.json");
    let mut c = support::krc();
    c.args([
        "accept",
        "--user",
        ATTACKER,
        "--exact",
        "unit.present",
        "--json",
    ])
    .arg(&json)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let r = wait_within(c.spawn().unwrap(), Duration::from_secs(60));
    as_attacker(&["rm", "-f", systemd.to_str().unwrap()]);
    if had {
        as_attacker(&["mv", saved.to_str().unwrap(), systemd.to_str().unwrap()]);
    }
    let (o, _) = r.unwrap();
    let all = format!(
        "{}\n{}",
        text(&o),
        std::fs::read_to_string(&json).unwrap_or_default()
    );
    assert!(!all.contains("KRC-OTHER-USERS-SECRET-TOKEN"), "{all}");
    assert!(
        all.contains("not followed by root"),
        "krc must say why it did not read the unit:\n{all}"
    );
}

/// Below the home krc writes with the user's own filesystem credentials:
/// a directory the user made read-only stays unwritten (root's
/// DAC override would have written it), and krc says why.
#[test]
fn below_the_home_root_writes_only_what_the_user_could() {
    let (uid, gid, _) = lab_or_skip!();
    let d = tempfile::tempdir().unwrap();
    let root = attacker_tree(d.path(), uid, gid);
    let unit_dir = root.join("home/alice/.config/systemd/user");
    as_attacker(&["mkdir", "-p", unit_dir.to_str().unwrap()]);
    as_attacker(&["chmod", "0555", unit_dir.to_str().unwrap()]);
    let pins = write_pins(d.path(), None);
    let (url, _) = serve_artifacts();
    let mut c = inst::install_command(&root, &url, &pins, &["--yes"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let (o, _) = wait_within(c.spawn().unwrap(), Duration::from_secs(120)).unwrap();
    let all = text(&o);
    let names: Vec<_> = std::fs::read_dir(&unit_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.is_empty(),
        "root wrote {names:?} into the user's read-only directory:\n{all}"
    );
    assert!(
        all.contains("Permission denied"),
        "krc must say why:\n{all}"
    );
    assert_ne!(o.status.code(), Some(0), "{all}");
}
