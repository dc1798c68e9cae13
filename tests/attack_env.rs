//! Attacks on krc's environment and file reads by the unprivileged target
//! user (issue 8, items 6 and 7 and the `--root` bullet). Each test plants
//! what that user can plant, as that user where the machine allows (root
//! creates `krc-attacker-env` and acts through runuser), and asserts that
//! nothing of root's reaches the user or a report and that krc says why.

#[path = "support/install.rs"]
mod inst;
mod support;

use inst::chown_r;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Not `krc-attacker`: other test files plant in that user's home, and
/// tests run in parallel.
const ATTACKER: &str = "krc-attacker-env";
const MARKER: &str = "KRC-ROOT-SECRET-7f3a9c";

/// The attacker: (uid, gid, home), with a home it owns (a recycled uid
/// can leave a home owned by a deleted user).
fn attacker() -> (u32, u32, PathBuf) {
    // One useradd at a time: the tests here run in parallel.
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let (uid, gid, home) = support::ensure_user(ATTACKER).expect("create the attacker user");
    chown_r(&home, uid, gid);
    (uid, gid, home)
}

fn as_attacker(args: &[&str]) {
    let st = Command::new("runuser")
        .args(["-u", ATTACKER, "--"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "as {ATTACKER}: {args:?}: {st}");
}

fn all_text(o: &Output, files: &[&Path]) -> String {
    let mut s = format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for f in files {
        s.push_str(&format!("\n{}:\n", f.display()));
        s.push_str(&String::from_utf8_lossy(
            &std::fs::read(f).unwrap_or_default(),
        ));
    }
    s
}

/// Runs `cmd`, killing it after `limit`: Err says it hung.
fn output_within(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {}s: killed", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child.wait_with_output().unwrap())
}

/// (a) The user-namespace probe child runs as the user, who can read its
/// /proc/PID/environ and memory: it must be a fresh process with nothing
/// of root's environment. The helper's own view of itself (its ids and
/// /proc/self/environ) comes back through the test-build hook KRC_PROBE_LOG.
#[test]
fn probe_child_carries_nothing_of_roots_environment() {
    if !support::is_root() {
        lab_skip!("needs root to act as another user");
    }
    let (uid, _, _) = attacker();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("probe.log");
    let o = support::krc()
        .args(["preflight", "--exact", "userns.enabled", "--user", ATTACKER])
        .env("GITHUB_TOKEN", MARKER)
        .env("KRC_ATTACK_MARKER", MARKER)
        .env("KRC_PROBE_LOG", &log)
        .output()
        .unwrap();
    let text = all_text(&o, &[&log]);
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        seen.contains(&format!("debug uid {uid} {uid} {uid}\n")),
        "the helper did not run as {ATTACKER} (uid {uid}) for good:\n{text}"
    );
    let env: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("debug environ "))
        .collect();
    let names: Vec<&str> = env.iter().filter_map(|v| v.split('=').next()).collect();
    assert_eq!(names, ["LANG", "PATH"], "{text}");
    assert!(!seen.contains(MARKER), "{text}");
    assert!(
        seen.lines()
            .any(|l| l.starts_with("ok ") || l.starts_with("fail ")),
        "no report line from the helper:\n{text}"
    );
}

/// (b) A FIFO at RootlessKit's lock path made root's preflight open it and
/// wait for a writer forever. Now: done promptly, with the reason.
/// A symlink there to a root-only file is not followed either.
#[test]
fn a_planted_fifo_or_symlink_at_the_lock_does_not_hang_or_steer_preflight() {
    if !support::is_root() {
        lab_skip!("needs root to act as another user");
    }
    let (_, _, home) = attacker();
    let dir = home.join(".rancher/k3s/rootless");
    let lock = dir.join("lock");
    let _ = std::fs::remove_file(&lock);
    as_attacker(&["mkdir", "-p", dir.to_str().unwrap()]);
    as_attacker(&["mkfifo", lock.to_str().unwrap()]);
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("pre.json");
    let mut cmd = support::krc();
    cmd.args(["preflight", "--user", ATTACKER, "--json"])
        .arg(&json);
    let o = output_within(&mut cmd, Duration::from_secs(30));
    let _ = std::fs::remove_file(&lock);
    let o = o.unwrap_or_else(|e| panic!("krc preflight with a FIFO at {}: {e}", lock.display()));
    let text = all_text(&o, &[&json]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "a verdict, not an error:\n{text}"
    );
    assert!(text.contains("not a regular file (a FIFO)"), "{text}");

    // A symlink to a root-only file: root must not open (and lock) it.
    as_attacker(&["ln", "-s", "/etc/shadow", lock.to_str().unwrap()]);
    let mut cmd = support::krc();
    cmd.args([
        "preflight",
        "--exact",
        "k3s.single-instance",
        "--user",
        ATTACKER,
        "--json",
    ])
    .arg(&json);
    let o = output_within(&mut cmd, Duration::from_secs(30));
    let _ = std::fs::remove_file(&lock);
    let o = o.unwrap();
    let text = all_text(&o, &[&json]);
    assert!(text.contains("not followed by root"), "{text}");
}

/// (c) `--root DIR` judges DIR as if it were `/`: an absolute symlink in
/// the tree points into the tree and `..` stops at its top. A secret file
/// outside the tree, named by both, never reaches any output; the tree's
/// own file of that name is read instead.
#[test]
fn symlinks_and_dotdot_in_a_root_tree_stay_inside_it() {
    let d = tempfile::tempdir().unwrap();
    // A secret outside the tree, in the format a subuid parser quotes when
    // it is malformed: a leak would show in the reports.
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret");
    std::fs::write(&secret, format!("alice:{MARKER}:65536\n")).unwrap();
    let tree = d.path().join("tree");
    copy_dir(
        &support::repo().join("fixtures/hosts/debian12-default-delegation"),
        &tree,
    );
    std::fs::remove_file(tree.join("expected.toml")).unwrap();
    // The tree's own file at the secret's path: what the links must reach.
    let inside = tree.join(secret.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::write(&inside, "alice:100000:65536\n").unwrap();
    let ups = "../".repeat(secret.components().count() + 4);
    let dotdot = format!("{ups}{}", secret.strip_prefix("/").unwrap().display());
    let plant: Vec<(String, String)> = vec![
        (secret.display().to_string(), "etc/subuid".into()),
        (dotdot, "etc/subgid".into()),
    ];
    if support::is_root() {
        let (uid, gid, _) = attacker();
        // The tree is the attacker's; the secret is root's alone.
        std::fs::set_permissions(
            d.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::set_permissions(
            &outside,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        chown_r(&tree, uid, gid);
        for (target, link) in &plant {
            let l = tree.join(link);
            as_attacker(&["ln", "-sfn", target, l.to_str().unwrap()]);
        }
    } else {
        for (target, link) in &plant {
            let l = tree.join(link);
            std::fs::remove_file(&l).unwrap();
            std::os::unix::fs::symlink(target, &l).unwrap();
        }
    }
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (json, junit, html) = (out.join("r.json"), out.join("r.xml"), out.join("r.html"));
    let o = support::krc()
        .args(["preflight", "--user", "alice", "--root"])
        .arg(&tree)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let text = all_text(&o, &[&json, &junit, &html]);
    assert!(
        !text.contains(MARKER),
        "the secret outside the tree leaked:\n{text}"
    );
    assert!(
        std::fs::read_to_string(&json)
            .unwrap()
            .contains("\"uidmap.subids\""),
        "{text}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let subids = doc["phases"][0]["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == "uidmap.subids"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        subids["status"], "pass",
        "the tree's own subuid/subgid were read: {subids}\n{text}"
    );

    // etc/passwd pointing at the machine's /etc/passwd: inside the tree it
    // is a link to itself, so krc stops with a reason and shows none of
    // the machine's users.
    let passwd = tree.join("etc/passwd");
    std::fs::remove_file(&passwd).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &passwd).unwrap();
    let o = support::krc()
        .args(["preflight", "--user", "alice", "--root"])
        .arg(&tree)
        .output()
        .unwrap();
    let text = all_text(&o, &[]);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("etc/passwd"), "{text}");
    for line in std::fs::read_to_string("/etc/passwd").unwrap().lines() {
        let name = line.split(':').next().unwrap_or("");
        if name.len() > 3 && name != "alice" {
            assert!(!text.contains(line), "{line:?} leaked:\n{text}");
        }
    }
}

/// (d) GITHUB_TOKEN is for commit builds: a release install does not send
/// it (not even to an https mirror), and a commit pin from an http://
/// mirror is refused before any request, so the token never travels in
/// clear text.
#[test]
fn the_token_is_not_sent_for_releases_nor_over_http() {
    let d = tempfile::tempdir().unwrap();
    let root = inst::seed(d.path());
    let pins = inst::write_pins(d.path(), None);
    let (url, heads) = inst::serve_artifacts_recording_heads();
    let o = support::krc()
        .args([
            "install",
            "--yes",
            "--user",
            "alice",
            "--k3s-version",
            inst::VERSION,
        ])
        .args(["--mirror", &url, "--pins"])
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .env("GITHUB_TOKEN", MARKER)
        .env_remove("KRC_FAULT_STEP")
        .output()
        .unwrap();
    let text = all_text(&o, &[]);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let seen = heads.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "four artifacts fetched: {seen:?}");
    for head in &seen {
        assert!(
            !head.to_ascii_lowercase().contains("authorization") && !head.contains(MARKER),
            "a release download carried the token:\n{head}"
        );
    }
    assert!(!text.contains(MARKER), "{text}");

    // A commit pin over http: refused, nothing requested, nothing written.
    let commit = "a".repeat(40);
    let d2 = tempfile::tempdir().unwrap();
    let root2 = inst::seed(d2.path());
    let cpins = d2.path().join("commit-pins.toml");
    let release = std::fs::read_to_string(&pins).unwrap();
    std::fs::write(
        &cpins,
        release.replace(
            &format!("ref = \"{}\"", inst::VERSION),
            &format!("ref = \"{commit}\""),
        ),
    )
    .unwrap();
    let (url, heads) = inst::serve_artifacts_recording_heads();
    let before = inst::tree(&root2);
    let o = support::krc()
        .args([
            "install",
            "--yes",
            "--user",
            "alice",
            "--k3s-commit",
            &commit,
        ])
        .args(["--mirror", &url, "--pins"])
        .arg(&cpins)
        .arg("--root")
        .arg(&root2)
        .env("GITHUB_TOKEN", MARKER)
        .env_remove("KRC_FAULT_STEP")
        .output()
        .unwrap();
    let text = all_text(&o, &[]);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("GITHUB_TOKEN is sent only over https"),
        "{text}"
    );
    assert!(!text.contains(MARKER), "{text}");
    assert!(
        heads.lock().unwrap().is_empty(),
        "requests were made: {:?}",
        heads.lock().unwrap()
    );
    assert_eq!(inst::tree_diff(&before, &inst::tree(&root2)), "");
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The helper subcommand is krc's own business: not offered in help.
#[test]
fn the_probe_helper_is_hidden_from_help() {
    let o = support::krc().arg("--help").output().unwrap();
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("__userns-probe"));
}
