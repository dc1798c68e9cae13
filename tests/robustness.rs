//! The real binary against the ways a new user or a CI job gets it wrong:
//! bad thread counts, closed pipes, absurd waits, filters that match
//! nothing, bad report paths, clap errors. Each is exit 2 (or 4 for an
//! empty selection) with one line on stderr, and never a hang or a panic.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{krc, repo};

fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/hosts").join(name)
}

/// Runs with a deadline: a hang is a failure, not a stuck test run.
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("krc did not finish in 60 s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Exit 2 and exactly one line on stderr, which contains `needle`.
fn usage_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(needle), "{needle:?} in {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn thread_counts_out_of_range_are_usage_errors_in_every_command() {
    let root = fixture("ready-v2");
    for cmd in ["preflight", "accept"] {
        for n in ["0", "99999999999", "65", "x"] {
            let out = run(krc().args([cmd, "--test-threads", n, "--root"]).arg(&root));
            usage_error(&out, "--test-threads");
        }
    }
    // In range, more threads than checks: capped, and it finishes.
    let out = run(krc()
        .args([
            "preflight",
            "--test-threads",
            "64",
            "--exact",
            "cgroup.unified",
        ])
        .arg("--root")
        .arg(&root));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `krc ... | head -1` in every format: the reader leaves after the first
/// bytes; krc finishes the run, writes its report files and exits with the
/// verdict's status (the pipe closing is no error).
#[test]
fn a_closed_stdout_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let hybrid = fixture("hybrid");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["preflight"], 1),
        (vec!["preflight", "-q"], 1),
        (vec!["preflight", "--list"], 0),
        (vec!["accept", "--test-threads", "1"], 1),
        (vec!["accept"], 1),
        (vec!["list"], 0),
        (vec!["preflight", "--json", "-"], 1),
    ];
    for (i, (args, want)) in cases.into_iter().enumerate() {
        let junit = dir.path().join(format!("r{i}.xml"));
        let mut cmd = krc();
        cmd.args(&args);
        if args[0] != "list" {
            cmd.arg("--root").arg(&hybrid);
            if !args.contains(&"--list") {
                cmd.arg("--junit").arg(&junit);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 1];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .as_mut()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let st = child.wait().unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(st.code(), Some(want), "{args:?}: {st} {err}");
        if args[0] != "list" && !args.contains(&"--list") {
            let xml = std::fs::read_to_string(&junit).unwrap();
            assert!(
                xml.matches("<testcase ").count() > 10,
                "{args:?}: the run went on after the pipe closed"
            );
        }
    }
}

#[test]
fn absurd_waits_are_refused_when_parsing() {
    let out = run(krc().args(["accept", "--timeout", "18446744073709551615"]));
    usage_error(&out, "--timeout");
    let out = run(krc().args(["accept", "--timeout", "86401"]));
    usage_error(&out, "1..=86400");
    let out = run(krc().args(["install", "--dry-run", "--wait-timeout", "0"]));
    usage_error(&out, "--wait-timeout");
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("slow.toml");
    std::fs::write(
        &suite,
        "phase = \"acceptance\"\n[[check]]\nid = \"pods.system\"\ntimeout_secs = 10000000000000000000\n",
    )
    .unwrap();
    let out = run(krc().args(["accept", "--suite"]).arg(&suite));
    usage_error(&out, "slow.toml:3: timeout_secs");
}

#[test]
fn a_filter_that_matches_nothing_is_exit_4() {
    for args in [
        vec!["preflight", "--exact", "cgroup"],
        vec!["preflight", "no-such-check"],
        vec!["preflight", "--skip", "."],
        vec!["accept", "--exact", "ports"],
        vec!["preflight", "--list", "--exact", "cgroup"],
    ] {
        let out = run(krc().args(&args).arg("--root").arg(fixture("ready-v2")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
        assert!(
            err.contains("no check matched") && err.contains("krc list"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // One that matches is a normal run.
    let out = run(krc()
        .args(["preflight", "--exact", "cgroup.unified", "--root"])
        .arg(fixture("ready-v2")));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn report_paths_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = fixture("ready-v2");
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec!["--junit".into(), d.join("no/such/dir/r.xml").into()],
            "does not exist",
        ),
        (
            vec![
                "--junit".into(),
                d.join("r.xml").into(),
                "--json".into(),
                d.join("./r.xml").into(),
            ],
            "both name",
        ),
        (
            vec!["--junit".into(), "-".into(), "--html".into(), "-".into()],
            "both write to stdout",
        ),
        (vec!["--html".into(), d.into()], "is a directory"),
        (vec!["--skip".into(), "".into()], "--skip"),
    ];
    if !support::is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        cases.push((
            vec!["--junit".into(), ro.join("r.xml").into()],
            "not writable",
        ));
    }
    for cmd in ["preflight", "accept"] {
        for (flags, needle) in &cases {
            let out = run(krc().arg(cmd).args(flags).arg("--root").arg(&root));
            usage_error(&out, needle);
            assert!(out.stdout.is_empty(), "nothing ran: {out:?}");
        }
    }
    // `-` is stdout: the report there, krc's own report on stderr.
    let out = run(krc()
        .args(["preflight", "--json", "-", "--root"])
        .arg(&root));
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["passed"], true);
    assert!(String::from_utf8_lossy(&out.stderr).contains("PASS"));
}

#[test]
fn usage_errors_are_one_line_exit_2_everywhere() {
    for args in [
        vec!["preflight", "--root", "/nonexistent"],
        vec!["accept", "--root", "/nonexistent"],
        vec!["install", "--dry-run", "--root", "/nonexistent"],
        vec!["uninstall", "--dry-run", "--root", "/nonexistent"],
        vec!["run", "--dry-run", "--root", "/nonexistent"],
    ] {
        let out = run(krc().args(&args));
        usage_error(&out, "--root");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(&format!("krc {}:", args[0])), "{err}");
    }
    for (args, needle) in [
        (vec!["preflight", "--no-such-flag"], "--no-such-flag"),
        (vec!["preflight", "--exat"], "--exact"),
        (vec!["preflight", "--color", "xml"], "possible values"),
        // libtest's formats are not krc's words: not offered.
        (vec!["preflight", "--format", "json"], "--format"),
        (vec!["preflight", "--logfile", "x"], "--logfile"),
        (vec!["explain"], "<ID>"),
        (vec!["bogus"], "bogus"),
        (vec!["list", "--phase", "install"], "--phase"),
    ] {
        usage_error(&run(krc().args(&args)), needle);
    }
    // libtest flags that mean nothing for a check suite are refused.
    for flag in [
        "--bench",
        "--ignored",
        "--include-ignored",
        "--test",
        "--nocapture",
        "--show-output",
        "-Z",
    ] {
        usage_error(&run(krc().args(["preflight", flag])), flag);
    }
    // --help and --version stay normal: stdout, several lines, exit 0.
    let out = run(krc().args(["preflight", "--help"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 10);
    let out = run(krc().arg("--version"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("krc "));
}

#[test]
fn help_says_what_each_flag_does() {
    let help = |args: &[&str]| {
        let out = run(krc().args(args));
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert!(top.contains("krc run "), "{top}");
    assert!(top.contains("4 no check matched"), "{top}");
    let run_help = help(&["run", "--help"]);
    assert!(
        run_help.contains("one testsuite per phase") && !run_help.contains("install testsuite as"),
        "--junit covers all phases: {run_help}"
    );
    assert!(
        run_help.contains("install nothing") && !run_help.contains("as it stands"),
        "--dry-run: {run_help}"
    );
    assert!(run_help.contains("--warnings-as-failures"), "{run_help}");
    for cmd in ["preflight", "accept", "install", "uninstall", "run", "list"] {
        let h = help(&[cmd, "--help"]);
        assert!(h.contains(&format!("Usage: krc {cmd}")), "{cmd}: {h}");
        for hidden in ["--bench", "--nocapture", "--include-ignored", "-Z"] {
            assert!(!h.contains(hidden), "{cmd} --help shows {hidden}");
        }
    }
    // krc's own words only: no libtest format, no libtest help text.
    for cmd in ["preflight", "accept", "run"] {
        let h = help(&[cmd, "--help"]);
        assert!(h.contains("-q, --quiet"), "{cmd}: {h}");
        for libtest in [
            "--format",
            "--logfile",
            "libtest",
            "cargo test",
            "Usefull",
            "serially",
        ] {
            assert!(!h.contains(libtest), "{cmd} --help says {libtest:?}: {h}");
        }
        assert!(
            h.contains("5 inconclusive") && h.contains("6 re-login"),
            "{h}"
        );
    }
}

/// `-q` hides passes in krc's report, in preflight and in krc run.
#[test]
fn quiet_leaves_the_passes_out() {
    let root = fixture("hybrid");
    let out = run(krc().args(["preflight", "-q", "--root"]).arg(&root));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("PASS ") && text.contains("FAIL "), "{text}");
    let out = run(krc()
        .args(["run", "-q", "--dry-run", "--user", "alice", "--root"])
        .arg(fixture("ready-v2")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("PASS ") && text.contains(" passed, "),
        "{text}"
    );
}

#[test]
fn warnings_as_failures_fails_the_run_and_the_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("w.xml");
    // docker-host passes every required check, with one warning.
    let root = fixture("docker-host");
    let plain = run(krc()
        .args(["preflight", "--root"])
        .arg(&root)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(plain.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&plain.stdout).contains("\nWARN "));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"krc.warnings\" value=\"1: "),
        "the warning is visible: {xml}"
    );
    let strict = run(krc()
        .args(["preflight", "--warnings-as-failures", "--root"])
        .arg(&root)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("type=\"krc.warn\"") && xml.contains("failures=\"1\""),
        "{xml}"
    );
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    }
}

#[test]
fn no_colour_for_dumb_terminals_or_no_color() {
    // Not a terminal here, so colour is off anyway; `always` turns it on
    // and nothing else does.
    let root = fixture("hybrid");
    let out = run(krc()
        .args(["preflight", "--color", "always", "--root"])
        .arg(&root));
    assert!(String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    for (k, v) in [("TERM", "dumb"), ("NO_COLOR", "1")] {
        let out = run(krc().args(["preflight", "--root"]).arg(&root).env(k, v));
        assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    }
}

#[test]
fn the_terminal_report_fits_80_columns() {
    for host in ["hybrid", "debian12-default-delegation", "legacy-v1"] {
        // COLUMNS stands in for a terminal of 80 columns; into a pipe
        // without it nothing is wrapped (checked below).
        let out = run(krc()
            .args(["preflight", "--root"])
            .arg(fixture(host))
            .env("COLUMNS", "80"));
        let text = String::from_utf8(out.stdout).unwrap();
        for line in text.lines() {
            if line.chars().count() > 80 {
                // Only a single word longer than the line may stick out
                // (a quoted shell word too, before a command's ` \\`).
                let word = line.trim().trim_end_matches(" \\");
                let quoted = (word.starts_with('\'') && word.ends_with('\''))
                    || (word.starts_with('"') && word.ends_with('"'));
                assert!(
                    !word.contains(' ') || quoted,
                    "{host}: a line over 80 columns: {line:?}"
                );
            }
        }
        // Continuation lines keep an indent: nothing but headings and the
        // count line start at column 0 after the first check line.
        let body: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("PASS") && !l.starts_with("FAIL"))
            .take_while(|l| !l.is_empty())
            .collect();
        for l in body {
            assert!(
                l.starts_with(' ') || l.split_whitespace().next().unwrap().len() == 4,
                "{host}: {l:?}"
            );
        }
    }
    let out = run(krc()
        .args(["preflight", "--root"])
        .arg(fixture("hybrid"))
        .env_remove("COLUMNS"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l.chars().count() > 80),
        "a pipe gets whole lines for grep: {text}"
    );
}
