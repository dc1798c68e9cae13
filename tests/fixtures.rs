//! Every check on every fixture host: one table-driven test.
//!
//! For each directory in `fixtures/hosts/`, the real binary runs
//! `krc preflight --root DIR --json FILE`; every check's status in the JSON
//! report must equal the fixture's `expected.toml` (and its summary contain
//! the expected substring, when one is given), and the exit status must be
//! 1 exactly when a required check fails. All mismatches of all fixtures are
//! collected into one failure message.
//!
//! `KRC_BLESS=1 cargo test --test fixtures` first rewrites each
//! `expected.toml` from the verdicts krc reaches now, then checks as
//! usual. Only the lines whose verdict changed are rewritten (a new status;
//! a summary substring the summary no longer contains becomes the whole
//! summary), a check the suite no longer runs loses its line and a new one
//! gets `"ID" = "STATUS"` after its predecessor; comments and every other
//! byte stay, and an unchanged file is not touched. Bless writes what krc
//! says, not what the host should get: read `git diff fixtures/` and
//! decide which side is wrong before committing.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{krc, repo};

/// One fixture's `expected.toml`: check id → verdict.
#[derive(Debug)]
struct Expected {
    status: String,
    summary: Option<String>,
}

const STATUSES: &[&str] = &["pass", "fail", "warn", "skip", "error"];

fn load_expected(path: &Path) -> Result<BTreeMap<String, Expected>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(k) = doc.keys().find(|k| *k != "checks") {
        return Err(format!("{}: unknown top-level key {k:?}", path.display()));
    }
    let checks = doc
        .get("checks")
        .and_then(|c| c.as_table())
        .ok_or_else(|| format!("{}: no [checks] table", path.display()))?;
    let mut out = BTreeMap::new();
    for (id, v) in checks {
        let e = match v {
            toml::Value::String(s) => Expected {
                status: s.clone(),
                summary: None,
            },
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "status" && *k != "summary") {
                    return Err(format!("{}: {id}: unknown key {k:?}", path.display()));
                }
                Expected {
                    status: t
                        .get("status")
                        .and_then(|s| s.as_str())
                        .ok_or_else(|| format!("{}: {id}: no status", path.display()))?
                        .to_string(),
                    summary: t
                        .get("summary")
                        .and_then(|s| s.as_str())
                        .map(str::to_string),
                }
            }
            other => {
                return Err(format!(
                    "{}: {id}: expected \"STATUS\" or {{ status, summary }}, got {other}",
                    path.display()
                ));
            }
        };
        if !STATUSES.contains(&e.status.as_str()) {
            return Err(format!(
                "{}: {id}: unknown status {:?} (one of {STATUSES:?})",
                path.display(),
                e.status
            ));
        }
        out.insert(id.clone(), e);
    }
    Ok(out)
}

fn fixture_dirs() -> Vec<PathBuf> {
    let hosts = repo().join("fixtures/hosts");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&hosts)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", hosts.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// `krc preflight` on one fixture, with its JSON report to `json_path`.
fn preflight(dir: &Path, json_path: &Path) -> Command {
    let mut cmd = krc();
    cmd.args(["preflight", "--root"])
        .arg(dir)
        .arg("--json")
        .arg(json_path)
        .env_remove("SUDO_USER")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs krc on one fixture; returns the problems found (empty: all good)
/// and adds the non-pass verdicts it reached to `reached` as (id, status).
fn judge_fixture(dir: &Path, out_dir: &Path, reached: &mut Vec<(String, String)>) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems = Vec::new();
    let expected = match load_expected(&dir.join("expected.toml")) {
        Ok(e) => e,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let json_path = out_dir.join(format!("{name}.json"));
    let out = preflight(dir, &json_path)
        .output()
        .expect("failed to run krc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !matches!(out.status.code(), Some(0 | 1 | 5)) {
        return vec![format!(
            "{name}: krc exited with {:?}; stderr: {}",
            out.status.code(),
            stderr.trim()
        )];
    }
    if stderr.contains("panicked") {
        problems.push(format!("{name}: krc panicked: {}", stderr.trim()));
    }
    let report: serde_json::Value = match std::fs::read_to_string(&json_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: no readable JSON report: {e}")],
    };
    if report["schema"] != "krc.report/v1" {
        problems.push(format!("{name}: schema is {}", report["schema"]));
    }
    let checks = report["phases"][0]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if checks.is_empty() {
        problems.push(format!("{name}: the report lists no checks"));
    }
    let mut seen = Vec::new();
    let mut required = Vec::new();
    let mut unjudged = Vec::new();
    for c in &checks {
        // A skip is either unjudged (missing facts or probes) or names the
        // check whose failure it follows: never neither, never both.
        if c["status"] == "skip" {
            let after = c["prerequisite"].as_str();
            if c["unjudged"] == true {
                if after.is_some() {
                    problems.push(format!("{name}: {c}: unjudged and after a prerequisite"));
                }
                if c["severity"] == "required" {
                    unjudged.push(c["id"].as_str().unwrap_or("?").to_string());
                }
            } else if after.is_none_or(|p| !c["summary"].as_str().unwrap_or("").contains(p)) {
                problems.push(format!(
                    "{name}: {}: a judged skip must name its prerequisite: {c}",
                    c["id"]
                ));
            }
        }
        let id = c["id"].as_str().unwrap_or("?");
        let status = c["status"].as_str().unwrap_or("?");
        let summary = c["summary"].as_str().unwrap_or("");
        seen.push(id.to_string());
        if status != "pass" {
            reached.push((id.to_string(), status.to_string()));
        }
        if c["severity"] == "required" {
            required.push(id.to_string());
        }
        match expected.get(id) {
            None => problems.push(format!(
                "{name}: {id}: no verdict in expected.toml (got {status}: {summary})"
            )),
            Some(e) if e.status != status => problems.push(format!(
                "{name}: {id}: expected {}, got {status}: {summary}",
                e.status
            )),
            Some(Expected {
                summary: Some(want),
                ..
            }) if !summary.contains(want.as_str()) => problems.push(format!(
                "{name}: {id}: {status} as expected, but the summary lacks {want:?}: {summary}"
            )),
            Some(_) => {}
        }
    }
    for id in expected.keys().filter(|id| !seen.contains(id)) {
        problems.push(format!(
            "{name}: {id}: expected.toml names a check the preflight suite does not run"
        ));
    }
    // The exit status follows from the expectations: any expected `fail`
    // blocks (an advisory check's fail shows as `warn`), and so does an
    // `error` of a required check; else a required check that could not be
    // judged makes the run inconclusive (5).
    let blocks = expected
        .iter()
        .any(|(id, e)| e.status == "fail" || (e.status == "error" && required.contains(id)));
    let expect_exit = if blocks {
        1
    } else if !unjudged.is_empty() {
        5
    } else {
        0
    };
    if out.status.code() != Some(expect_exit) {
        problems.push(format!(
            "{name}: exit status {:?}, expected {expect_exit}",
            out.status.code()
        ));
    }
    if report["passed"] != (expect_exit == 0) {
        problems.push(format!(
            "{name}: report says passed = {}, expected {}",
            report["passed"],
            expect_exit == 0
        ));
    }
    problems
}

/// One verdict of the report: (id, status, summary).
type Reached = (String, String, String);

/// `KRC_BLESS=1`: rewrites `dir/expected.toml` so that it expects the
/// verdicts krc reaches now, keeping every line that already does.
fn bless_fixture(dir: &Path, out_dir: &Path) {
    let path = dir.join("expected.toml");
    let json_path = out_dir.join("bless.json");
    let out = preflight(dir, &json_path)
        .output()
        .expect("failed to run krc");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 5)),
        "{}: cannot bless: krc exited with {:?}: {}",
        dir.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let reached: Vec<Reached> = report["phases"][0]["checks"]
        .as_array()
        .expect("the report lists checks")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("status"), field("summary"))
        })
        .collect();
    let text = std::fs::read_to_string(&path).unwrap();
    support::write_blessed(&path, &blessed(&text, &reached));
}

/// `text` (an expected.toml) with its verdict lines made to expect `reached`.
fn blessed(text: &str, reached: &[Reached]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut in_checks = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_checks = line.trim() == "[checks]";
        }
        let Some((id, value)) = in_checks.then(|| verdict_line(line)).flatten() else {
            lines.push(line.to_string());
            continue;
        };
        // A check the suite no longer runs loses its line.
        let Some((_, status, summary)) = reached.iter().find(|(r, _, _)| *r == id) else {
            continue;
        };
        let (old_status, old_summary) = match &value {
            toml::Value::Table(t) => (
                t.get("status").and_then(|v| v.as_str()),
                t.get("summary").and_then(|v| v.as_str()),
            ),
            v => (v.as_str(), None),
        };
        if old_status == Some(status.as_str())
            && old_summary.is_none_or(|want| summary.contains(want))
        {
            lines.push(line.to_string());
            continue;
        }
        let new = match old_summary {
            Some(_) => format!(
                "{{ status = {}, summary = {} }}",
                toml::Value::from(status.as_str()),
                toml::Value::from(summary.as_str())
            ),
            None => toml::Value::from(status.as_str()).to_string(),
        };
        let key = line.split_once('=').map_or("", |(k, _)| k);
        let code_end = comment_start(line).unwrap_or(line.len());
        let code = line[..code_end].trim_end();
        lines.push(format!("{key}= {new}{}", &line[code.len()..]));
    }
    // A check the file does not name yet goes after its predecessor in
    // report order (or first under [checks]).
    for (i, (id, status, _)) in reached.iter().enumerate() {
        let named = |l: &String| verdict_line(l).is_some_and(|(k, _)| k == *id);
        if lines.iter().any(named) {
            continue;
        }
        let after = reached[..i]
            .iter()
            .rev()
            .find_map(|(prev, _, _)| {
                lines
                    .iter()
                    .position(|l| verdict_line(l).is_some_and(|(k, _)| k == *prev))
            })
            .or_else(|| lines.iter().position(|l| l.trim() == "[checks]"))
            .expect("expected.toml has a [checks] table");
        lines.insert(
            after + 1,
            format!("\"{id}\" = {}", toml::Value::from(status.as_str())),
        );
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A `"ID" = VERDICT  # comment` line: the id and the verdict.
fn verdict_line(line: &str) -> Option<(String, toml::Value)> {
    if !line.starts_with('"') {
        return None;
    }
    let table: toml::Table = line.parse().ok()?;
    let mut entries = table.into_iter();
    let entry = entries.next()?;
    entries.next().is_none().then_some(entry)
}

/// Where a line's `#` comment starts, outside any string.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, ch) in line.char_indices() {
        match (quote, ch) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(ch),
            (None, '#') => return Some(i),
            _ => {}
        }
        escaped = false;
    }
    None
}

#[test]
fn every_check_on_every_fixture_host() {
    let dirs = fixture_dirs();
    assert!(
        dirs.len() >= 12,
        "expected at least 12 fixture hosts, found {}",
        dirs.len()
    );
    let tmp = tempfile::tempdir().unwrap();
    if support::bless() {
        for dir in &dirs {
            bless_fixture(dir, tmp.path());
        }
    }
    let mut problems = Vec::new();
    let mut reached = Vec::new();
    let mut all_ids = std::collections::BTreeSet::new();
    for dir in &dirs {
        problems.extend(judge_fixture(dir, tmp.path(), &mut reached));
        if let Ok(e) = load_expected(&dir.join("expected.toml")) {
            all_ids.extend(e.into_keys());
        }
    }
    // A check that passes on every host is not tested by the fixtures:
    // each needs at least one host that makes it say something else.
    for id in &all_ids {
        if !reached.iter().any(|(r, _)| r == id) {
            problems.push(format!(
                "{id}: passes on every fixture host; add a host that fails it"
            ));
        }
    }
    if !problems.is_empty() {
        let mut msg = format!(
            "{} mismatch(es) across {} fixture hosts:\n",
            problems.len(),
            dirs.len()
        );
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
        panic!("{msg}");
    }
    eprintln!("{} fixture hosts, every check as expected", dirs.len());
}

/// The fixtures must keep their promises: `ready-v2` passes everything and
/// `no-probes` never passes a check that needs a live probe.
#[test]
fn ready_passes_everything_and_no_probes_never_passes_a_probe() {
    let hosts = repo().join("fixtures/hosts");
    let ready = load_expected(&hosts.join("ready-v2/expected.toml")).unwrap();
    assert!(
        ready.values().all(|e| e.status == "pass"),
        "ready-v2 must expect every check to pass"
    );
    let bare = load_expected(&hosts.join("no-probes/expected.toml")).unwrap();
    for id in [
        "session.runtime-dir",
        "userns.enabled",
        "net.slirp4netns",
        "k3s.single-instance",
    ] {
        assert_eq!(
            bare[id].status, "skip",
            "no-probes: {id} needs a live probe"
        );
    }
}

#[test]
fn config_leftovers_never_show_the_token_and_no_systemd_comes_first() {
    let root = support::repo().join("fixtures/hosts/k3s-config-leftovers");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = krc()
        .args(["preflight", "--root"])
        .arg(&root)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string()
        + &String::from_utf8_lossy(&out.stderr)
        + &std::fs::read_to_string(&json).unwrap();
    // The token's secret part, as written in config.yaml.
    for secret in [
        "K10b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0",
        "2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(
        text.contains("/etc/rancher/k3s/config.yaml:3: token (value not shown)"),
        "{text}"
    );
    // Without systemd, session.systemd is the first verdict shown.
    let root = support::repo().join("fixtures/hosts/container-no-systemd");
    let out = krc()
        .args(["preflight", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .find(|l| l.starts_with("PASS") || l.starts_with("FAIL") || l.starts_with("SKIP"))
        .unwrap_or("");
    assert!(first.starts_with("FAIL   session.systemd"), "{text}");
}

/// Bless rewrites only what changed, keeps comments (a `#` inside a
/// summary is not one), drops a check krc no longer runs and adds a new
/// one after its predecessor.
#[test]
fn bless_rewrites_only_the_verdicts_that_changed() {
    let text = "# header\n\n[checks]\n\"a.one\" = \"pass\"  # kept\n\"a.two\" = { status = \"fail\", summary = \"issue #2\" }  # why\n\"a.gone\" = \"warn\"\n\"a.three\" = \"fail\" # was failing\n";
    let reached = |v: &[(&str, &str, &str)]| -> Vec<Reached> {
        v.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    let same = reached(&[
        ("a.one", "pass", "ok"),
        ("a.two", "fail", "see issue #2 here"),
        ("a.gone", "warn", ""),
        ("a.three", "fail", "x"),
    ]);
    assert_eq!(blessed(text, &same), text);
    let now = reached(&[
        ("a.one", "pass", "ok"),
        ("a.new", "skip", "no probe"),
        ("a.two", "warn", "only \"advisory\" now"),
        ("a.three", "pass", "x"),
    ]);
    assert_eq!(
        blessed(text, &now),
        "# header\n\n[checks]\n\"a.one\" = \"pass\"  # kept\n\"a.new\" = \"skip\"\n\"a.two\" = { status = \"warn\", summary = 'only \"advisory\" now' }  # why\n\"a.three\" = \"pass\" # was failing\n"
    );
}

/// A fixture described as a host after `krc install` is one: a dry run
/// plans no change there. The descriptions (fixtures/README.md's table and
/// each krc-fixture.toml) say "after krc's STEP step" for a partial state;
/// "after `krc install`" claims the whole install.
#[test]
fn a_fixture_described_as_installed_plans_no_change() {
    let readme = std::fs::read_to_string(repo().join("fixtures/README.md")).unwrap();
    let claims = |text: &str| {
        let t = text.replace('\n', " ");
        t.contains("after `krc install`") || t.contains("after krc install")
    };
    let mut problems = Vec::new();
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_default();
        let models = row.split(" | ").nth(1).unwrap_or_default();
        let meta = std::fs::read_to_string(dir.join("krc-fixture.toml")).unwrap_or_default();
        let description = meta
            .split("description = \"\"\"")
            .nth(1)
            .and_then(|d| d.split("\"\"\"").next())
            .unwrap_or_default();
        if !(claims(models) || claims(description)) {
            continue;
        }
        let out = krc()
            .args(["install", "--dry-run", "--root"])
            .arg(&dir)
            .env_remove("SUDO_USER")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = text.lines().find(|l| l.contains("steps would change")) {
            problems.push(format!("{name} is described as installed, but: {line}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
