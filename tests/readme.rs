//! The README's check table is the catalogue, as the binary states it.
//!
//! Between `<!-- checks:begin ... -->` and `<!-- checks:end -->` in
//! README.md is a table generated from what `krc list` (id, phase,
//! severity, title) and `krc explain ID` (the install step that fixes it)
//! say, so it can only describe checks krc has. When the two differ the
//! test fails and prints the rows that differ;
//! `KRC_BLESS=1 cargo test --test readme` rewrites the table instead
//! (atomically; the rest of README.md is kept byte for byte). Review the
//! result with `git diff README.md`.

mod support;

use std::fmt::Write as _;

use support::{krc, repo};

const BEGIN: &str = "<!-- checks:begin";
const END: &str = "<!-- checks:end -->";
const BLESS: &str = "KRC_BLESS=1 cargo test --test readme";

/// Runs krc with `args`; its stdout, which must be a success.
fn krc_stdout(args: &[&str]) -> String {
    let out = krc()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("failed to run krc");
    assert!(
        out.status.success(),
        "krc {args:?} exited with {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("krc writes UTF-8")
}

/// One row of `krc list`: id, phase, severity, then the title, which is
/// the rest of the line.
fn list_rows() -> Vec<[String; 4]> {
    let text = krc_stdout(&["list"]);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("ID "), "krc list header: {header:?}");
    lines
        .map(|line| {
            let mut rest = line;
            let mut word = || {
                let w = rest.split_whitespace().next().unwrap_or_default();
                rest = rest.trim_start()[w.len()..].trim_start();
                w.to_string()
            };
            let (id, phase, severity) = (word(), word(), word());
            assert!(!rest.is_empty(), "krc list row without a title: {line:?}");
            [id, phase, severity, rest.to_string()]
        })
        .collect()
}

/// The install step `krc explain ID` names as the fix, if any.
fn fixed_by(id: &str) -> Option<String> {
    let text = krc_stdout(&["explain", id]);
    let header = text
        .lines()
        .find(|l| l.starts_with("phase: "))
        .unwrap_or_else(|| panic!("krc explain {id}: no phase line in\n{text}"));
    let (_, step) = header.split_once("fixed by: krc install (step ")?;
    Some(step.trim_end_matches(')').to_string())
}

/// The table as the catalogue has it, one line per check, in report order.
fn generated_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut t = String::from(
        "| id | phase | severity | title | fixed by (`krc install` step) |\n|---|---|---|---|---|\n",
    );
    let rows = list_rows();
    assert!(rows.len() >= 30, "krc list shows {} checks", rows.len());
    for [id, phase, severity, title] in rows {
        let step = fixed_by(&id).map_or("—".to_string(), |s| format!("`{s}`"));
        let _ = writeln!(
            t,
            "| `{id}` | {phase} | {severity} | {} | {step} |",
            cell(&title)
        );
    }
    t
}

/// The byte range of the generated block: from the line after the begin
/// marker to the start of the end marker's line.
fn block(readme: &str) -> std::ops::Range<usize> {
    let begin = readme
        .find(BEGIN)
        .unwrap_or_else(|| panic!("README.md has no {BEGIN} ... --> line"));
    let start = begin
        + readme[begin..]
            .find('\n')
            .expect("a line after the begin marker")
        + 1;
    let end = start
        + readme[start..]
            .find(END)
            .unwrap_or_else(|| panic!("README.md has no {END} after {BEGIN}"));
    assert!(
        readme[..end].ends_with('\n'),
        "{END} must start its own line"
    );
    start..end
}

#[test]
fn the_readme_check_table_is_the_catalogue() {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let range = block(&readme);
    let want = generated_table();
    let have = &readme[range.clone()];
    if have == want {
        return;
    }
    if support::bless() {
        let text = format!("{}{want}{}", &readme[..range.start], &readme[range.end..]);
        support::write_blessed(&path, &text);
        return;
    }
    let mut msg = String::from(
        "README.md's check table (between the checks:begin and checks:end markers) is not the catalogue's:\n",
    );
    for line in have.lines().filter(|l| !want.lines().any(|w| w == *l)) {
        let _ = writeln!(msg, "  README only:    {line}");
    }
    for line in want.lines().filter(|l| !have.lines().any(|h| h == *l)) {
        let _ = writeln!(msg, "  catalogue only: {line}");
    }
    if !msg.contains(" only: ") {
        msg.push_str("  the same rows in another order (the table follows CATALOGUE's order)\n");
    }
    let _ = write!(
        msg,
        "The table is generated from src/checks (each check's const Check): do not edit it by hand.\nUpdate it with: {BLESS}\nthen review: git diff README.md"
    );
    panic!("{msg}");
}
