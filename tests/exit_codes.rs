//! One exit-code rule, every command: a table of command × kind of error,
//! each run through the real binary. A usage error (the user's mistake,
//! nothing changed) is exit 2 with one line on stderr, and the same
//! mistake is said in the same words by every command; a filter that
//! selects nothing is 4. Everything runs against directory trees (the
//! fixtures and the installer's seed tree with a loopback mirror), so no
//! lab is needed.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{krc, repo};

fn ready() -> PathBuf {
    repo().join("fixtures/hosts/ready-v2")
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null())
        .env_remove("SUDO_USER")
        .env("NO_COLOR", "1")
        .output()
        .expect("krc runs")
}

/// `krc ARGS` against the tree `root`.
fn on(root: &Path, args: &[&str]) -> Output {
    let mut c = krc();
    c.args(args).arg("--root").arg(root);
    run(c)
}

/// The message after krc's prefix (`krc: error: ` or `krc CMD: `), so
/// that the same mistake can be compared across commands.
fn message(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    // The pointer to the command's own help differs by command.
    let err = match err.rsplit_once("; see `krc ") {
        Some((m, _)) => m.to_string(),
        None => err,
    };
    if let Some(m) = err.strip_prefix("krc: error: ") {
        return m.to_string();
    }
    match err.split_once(": ") {
        Some((head, rest)) if head.starts_with("krc ") => rest.to_string(),
        _ => err,
    }
}

/// Asserts exit 2, one line, containing `needle`; returns the message.
fn usage(what: &str, out: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit status; stderr: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err:?}");
    assert!(err.contains(needle), "{what}: {needle:?} in {err:?}");
    message(out)
}

/// Every command names an unknown --user the same way, exit 2.
#[test]
fn an_unknown_user_is_a_usage_error_in_every_command() {
    let root = ready();
    let mut said = Vec::new();
    for args in [
        &["preflight"][..],
        &["accept"],
        &["install", "--dry-run"],
        &["install", "--yes"],
        &["uninstall", "--dry-run"],
        &["uninstall", "--yes"],
        &["run", "--dry-run"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--user", "no-such-user-krc"]);
        let out = on(&root, &a);
        said.push((
            args.join(" "),
            usage(&a.join(" "), &out, "no-such-user-krc"),
        ));
    }
    let first = &said[0].1;
    for (cmd, msg) in &said {
        assert_eq!(msg, first, "krc {cmd} says it in other words");
    }
    assert!(first.contains("pass --user NAME"), "{first}");
}

/// Root as the user of a rootless k3s is refused in the same words by
/// install and run; accept judges (root may look), but never suggests
/// installing for root, which krc refuses.
#[test]
fn root_as_the_user_is_a_usage_error_in_install_and_run() {
    let root = ready();
    let out = on(&root, &["accept", "--timeout", "2", "--user", "root"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("krc install --user root") && stdout.contains("krc accept --user NAME"),
        "{stdout}"
    );
    let mut said = Vec::new();
    for args in [
        &["install", "--dry-run"][..],
        &["install", "--yes"],
        &["run", "--dry-run"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--user", "root"]);
        let out = on(&root, &a);
        said.push(usage(&a.join(" "), &out, "not root: pass --user NAME"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("krc install --user root"),
            "{a:?} suggests what krc refuses: {stdout}"
        );
    }
    assert!(said.iter().all(|m| m == &said[0]), "{said:#?}");
}

/// No --yes and stdin is not a terminal: nobody to ask, nothing changed,
/// exit 2, for install, run and uninstall.
#[test]
fn no_yes_without_a_terminal_is_a_usage_error() {
    let lab = inst::Lab::new();
    let before = lab.tree();
    let mut c = lab.install_command(&[]);
    c.stdin(Stdio::null());
    let out = c.output().unwrap();
    let m = usage("install", &out, "pass --yes");
    assert_eq!(lab.tree(), before, "install changed the tree: {m}");
    // krc run takes the install's flags: the same refusal.
    let c = lab.install_command(&[]);
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let mut run_cmd = krc();
    run_cmd.arg("run").args(&args[1..]);
    let out = run(run_cmd);
    usage("run", &out, "pass --yes");
    assert_eq!(lab.tree(), before, "run changed the tree");
    // Install for real (with an HTML report: install takes --html), then
    // uninstall without --yes, then with it and its reports.
    let html = lab.dir().join("install.html");
    let out = lab.install(&["--yes", "--html", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("k3s-binary")
    );
    let mut c = krc();
    c.args(["uninstall", "--user", "alice", "--root"])
        .arg(&lab.root);
    let out = run(c);
    usage("uninstall", &out, "pass --yes");
    let json = lab.dir().join("uninstall.json");
    let xml = lab.dir().join("uninstall.xml");
    let mut c = krc();
    c.args(["uninstall", "--yes", "--user", "alice", "--root"])
        .arg(&lab.root)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&xml);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "passed");
    assert_eq!(doc["phases"][0]["suite"], "uninstall");
    let summary = doc["phases"][0]["checks"][0]["summary"].as_str().unwrap();
    assert!(summary.contains("was undone"), "{summary}");
    assert!(
        std::fs::read_to_string(&xml)
            .unwrap()
            .contains("name=\"uninstall\"")
    );
}

/// An empty FILTER or --skip would select everything or nothing: a usage
/// error in every command that filters; a filter matching no check is 4.
#[test]
fn filters_empty_or_matching_nothing() {
    let root = ready();
    let mut said = Vec::new();
    for cmd in [
        &["preflight"][..],
        &["accept"],
        &["run", "--dry-run", "--user", "alice"],
    ] {
        let mut a = cmd.to_vec();
        a.extend(["--skip", ""]);
        said.push(usage(&a.join(" "), &on(&root, &a), "--skip"));
        let mut a = cmd.to_vec();
        a.push("");
        usage(&format!("{cmd:?} ''"), &on(&root, &a), "FILTER");
        let mut a = cmd.to_vec();
        a.extend(["--exact", "no.such.check"]);
        let out = on(&root, &a);
        assert_eq!(out.status.code(), Some(4), "{a:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no check matched \"no.such.check\""), "{err}");
    }
    assert!(said.iter().all(|m| m == &said[0]), "{said:#?}");
}

/// An unknown flag and a bad --root: 2 in every command, one line naming
/// the command; bare `krc` says a subcommand is missing.
#[test]
fn unknown_flags_bad_roots_and_a_missing_subcommand() {
    let commands = support::subcommands();
    assert!(commands.len() >= 9, "krc --help lists {commands:?}");
    for cmd in &commands {
        let cmd = cmd.as_str();
        let mut c = krc();
        c.args([cmd, "--no-such-flag"]);
        let out = run(c);
        usage(cmd, &out, "--no-such-flag");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with(&format!("krc {cmd}: ")),
            "{out:?}"
        );
    }
    for cmd in ["preflight", "accept", "install", "uninstall", "run"] {
        let mut c = krc();
        c.args([cmd, "--root", "/no/such/dir"]);
        usage(cmd, &run(c), "--root");
    }
    let out = run(krc());
    usage("krc", &out, "a subcommand is missing");
    let out = run({
        let mut c = krc();
        c.args(["explain", "no.such.check"]);
        c
    });
    usage("explain", &out, "unknown check id");
}

/// `--warnings-as-failures` does not turn an inconclusive run into a pass;
/// and the unjudged checks are named in every format.
#[test]
fn unjudged_is_not_qualified() {
    let root = repo().join("fixtures/hosts/no-probes");
    let dir = tempfile::tempdir().unwrap();
    for extra in [&[][..], &["--warnings-as-failures"]] {
        let json = dir.path().join("r.json");
        let xml = dir.path().join("r.xml");
        let mut a = vec!["preflight"];
        a.extend(extra);
        let mut c = krc();
        c.args(&a)
            .arg("--root")
            .arg(&root)
            .arg("--json")
            .arg(&json)
            .arg("--junit")
            .arg(&xml);
        let out = run(c);
        assert_eq!(out.status.code(), Some(5), "{a:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("inconclusive: "), "{stdout}");
        for id in [
            "session.runtime-dir",
            "userns.enabled",
            "k3s.single-instance",
        ] {
            assert!(
                stdout.contains("could not be judged") && stdout.matches(id).count() >= 2,
                "the summary names {id}: {stdout}"
            );
        }
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(doc["verdict"], "inconclusive");
        assert_eq!(doc["exit_status"], 5);
        assert_eq!(doc["passed"], false);
        let unjudged: Vec<&str> = doc["phases"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["unjudged"] == true)
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            unjudged,
            [
                "session.runtime-dir",
                "userns.enabled",
                "net.slirp4netns",
                "k3s.single-instance"
            ]
        );
        let junit = std::fs::read_to_string(&xml).unwrap();
        assert_eq!(
            junit
                .matches("message=\"unjudged, the run is inconclusive: ")
                .count(),
            3,
            "{junit}"
        );
    }
    // A skip for a failed prerequisite is judged: container-no-systemd
    // fails (exit 1) and its session skips name session.systemd, unjudged
    // nowhere.
    let json = dir.path().join("c.json");
    let mut c = krc();
    c.args(["preflight", "--root"])
        .arg(repo().join("fixtures/hosts/container-no-systemd"))
        .arg("--json")
        .arg(&json);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for c in doc["phases"][0]["checks"].as_array().unwrap() {
        if c["status"] == "skip" {
            assert_eq!(c["prerequisite"], "session.systemd", "{c}");
            assert!(c.get("unjudged").is_none(), "{c}");
        }
    }
}
