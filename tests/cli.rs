//! The real binary: flags, exit statuses, broken pipes, suite errors.

mod support;

use std::io::Read;
use std::process::Stdio;

use support::krc;

#[test]
fn list_prints_every_check_and_survives_a_closed_pipe() {
    let out = krc().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("ID"));
    assert!(
        text.contains("cgroup.unified") && text.contains("preflight") && text.contains("required")
    );

    // `krc list | head -1`: the reader goes away after one line.
    let mut child = krc().arg("list").stdout(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 8];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let st = child.wait().unwrap();
    assert!(st.success(), "broken pipe is not an error: {st}");
}

#[test]
fn bad_flag_is_usage_error() {
    let out = krc()
        .args(["preflight", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

/// `krc preflight --suite FILE`: its exit status and stderr.
fn preflight_with_suite(suite: &std::path::Path) -> (Option<i32>, String) {
    let out = krc()
        .args(["preflight", "--suite"])
        .arg(suite)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_suite_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("mine.toml");
    std::fs::write(
        &suite,
        "phase = \"preflight\"\n\n[[check]]\nid = \"cgroup.unified\"\nseverity = \"sometimes\"\n",
    )
    .unwrap();
    let (code, err) = preflight_with_suite(&suite);
    assert_eq!(code, Some(2));
    assert!(err.contains("mine.toml") && err.contains("line 5"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// A suite file that cannot be read: the message, then the OS error as
/// its cause, each printed once.
#[test]
fn an_unreadable_suite_prints_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("absent/suite.toml");
    let (code, err) = preflight_with_suite(&suite);
    assert_eq!(code, Some(2));
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!("krc: error: failed to read suite {}", suite.display()),
            "  caused by: No such file or directory (os error 2)".to_string(),
        ],
        "{err}"
    );
}

#[test]
fn explain_says_what_why_and_fix() {
    let out = krc().args(["explain", "cgroup.unified"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Why:")
            && text.contains("Fix:")
            && text.contains("systemd.unified_cgroup_hierarchy=1")
    );
    let out = krc().args(["explain", "cgroup.unifed"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// On an 80-column terminal (COLUMNS=80) `krc list` fits, and so does
/// `krc install --dry-run`, except what is kept whole on purpose: file
/// contents and diffs (`|`, `+`, `-` lines) and single words longer than
/// a line (a URL, a path).
#[test]
fn list_and_the_install_plan_fit_80_columns() {
    let out = krc().arg("list").env("COLUMNS", "80").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for l in text.lines() {
        assert!(l.chars().count() <= 80, "{l}");
    }
    let out = krc()
        .args(["install", "--dry-run", "--root"])
        .arg(support::repo().join("fixtures/hosts/ready-v2"))
        .env("COLUMNS", "80")
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[1/13]"), "{text}");
    for l in text.lines() {
        let body = l.trim_start();
        let content =
            body.starts_with(['|', '+']) || (body.starts_with('-') && !body.starts_with("- "));
        let one_word = !body.trim_end_matches(" \\").contains(' ');
        assert!(
            l.chars().count() <= 80 || content || one_word,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}
