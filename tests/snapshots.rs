//! Snapshots (insta) of every report krc writes, for fixture hosts that
//! fail, warn and pass: the terminal, JUnit, JSON and HTML output of
//! `krc preflight --root fixtures/hosts/NAME`. Times, timestamps, the
//! hostname, the krc version and commit and the checkout's path are filtered out, so
//! a snapshot changes only when what krc says changes. Review a change with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test --test snapshots`
//! and read the diff of `tests/snapshots/`).
//!
//! The README's example output is compared with the binary's output too.

mod support;

use std::path::Path;

use support::{krc, repo};

fn filters() -> Vec<(String, String)> {
    let repo = repo().canonicalize().unwrap().display().to_string();
    vec![
        (regex_escape(&repo), "[REPO]".into()),
        (r#"time="[0-9.]+""#.into(), r#"time="[TIME]""#.into()),
        (
            r#""duration": [0-9.e-]+"#.into(),
            r#""duration": "[TIME]""#.into(),
        ),
        (r"<td>[0-9.]+s</td>".into(), "<td>[TIME]</td>".into()),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?".into(),
            "[TIMESTAMP]".into(),
        ),
        (r#"hostname="[^"]*""#.into(), r#"hostname="[HOST]""#.into()),
        (
            r#"name="host" value="[^"]*""#.into(),
            r#"name="host" value="[HOST]""#.into(),
        ),
        (
            r#""hostname": "[^"]*""#.into(),
            r#""hostname": "[HOST]""#.into(),
        ),
        (
            r"krc report(:| for) [^<]*<".into(),
            "krc report$1 [HOST]<".into(),
        ),
        (
            regex_escape(env!("CARGO_PKG_VERSION")) + r#"(["<])"#,
            "[VERSION]$1".into(),
        ),
        (r", krc [^,]+, k3s".into(), ", krc [VERSION], k3s".into()),
        (r"<p>krc [^,]+, k3s".into(), "<p>krc [VERSION], k3s".into()),
        (
            r#""krc_commit": "[^"]*""#.into(),
            r#""krc_commit": "[COMMIT]""#.into(),
        ),
        (
            r#"name="krc.commit" value="[^"]*""#.into(),
            r#"name="krc.commit" value="[COMMIT]""#.into(),
        ),
    ]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn snapshot_fixture(name: &str, want_code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (junit, json, html) = (
        dir.path().join("r.xml"),
        dir.path().join("r.json"),
        dir.path().join("r.html"),
    );
    let out = krc()
        .args(["preflight", "--test-threads", "2", "--root"])
        .arg(repo().join("fixtures/hosts").join(name))
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .env_remove("NO_COLOR")
        .env("TERM", "dumb")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(want_code), "{out:?}");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let mut settings = insta::Settings::clone_current();
    for (re, with) in filters() {
        settings.add_filter(&re, with);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        // The heading names the tree by its absolute path and wraps it at
        // 80 columns, so its line breaks depend on where the checkout is.
        let text = String::from_utf8(out.stdout).unwrap();
        // The first check line, whatever its status (session.systemd can
        // fail before anything passes).
        let body = ["\nPASS ", "\nFAIL ", "\nWARN ", "\nSKIP ", "\nERROR "]
            .iter()
            .filter_map(|p| text.find(p))
            .min()
            .expect("check lines");
        assert!(text.starts_with("krc preflight: qualifying this host"));
        let terminal = format!("[HEADING]{}", &text[body..]);
        insta::assert_snapshot!(format!("{name}.terminal"), terminal);
        insta::assert_snapshot!(format!("{name}.junit"), read(&junit));
        insta::assert_snapshot!(format!("{name}.json"), read(&json));
        insta::assert_snapshot!(format!("{name}.html"), read(&html));
    });
}

#[test]
fn hybrid_fails() {
    snapshot_fixture("hybrid", 1);
}

#[test]
fn docker_host_passes_with_a_warning() {
    snapshot_fixture("docker-host", 0);
}

#[test]
fn ready_v2_passes() {
    snapshot_fixture("ready-v2", 0);
}

/// The README's "What a run looks like" block is the real output of the
/// command on its `$` line, run in the checkout on an 80-column terminal.
#[test]
fn readme_example_is_what_the_fixture_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("$ krc preflight -q --root fixtures/hosts/")
        .expect("the README shows a fixture run");
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    let mut lines = block.lines();
    let command = lines.next().unwrap();
    let want: String = lines.map(|l| format!("{l}\n")).collect();
    let args: Vec<&str> = command.split_whitespace().skip(2).collect();
    let out = krc()
        .args(&args)
        .current_dir(repo())
        .env("TERM", "dumb")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        want,
        "README.md's example differs from `{command}`"
    );
}
