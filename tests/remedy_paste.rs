//! A remedy pastes as the command it is, at any terminal width.
//!
//! For every fixture host, the real binary runs `krc preflight` with its
//! terminal report wrapped at 60, 80 and 120 columns (`COLUMNS`) and a
//! JSON report holding every remedy unwrapped. Every command of every
//! remedy (a line that starts with a command word, or the command after a
//! prose lead's `: `) must appear in the terminal report as lines that bash
//! parses into the same command: each candidate (a line and the lines its
//! trailing ` \` continues into) and the command are both defined as the
//! body of a function with `eval` and printed back by `declare -f`, bash's
//! own normal form of what it parsed. A command broken inside
//! (`echo '...' | sudo tee` with the path on the next line, which bash runs
//! as two commands) matches no candidate.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use support::{krc, repo};

/// Command words, as krc's remedies use them.
const COMMANDS: &[&str] = &[
    "apparmor_parser",
    "apt-get",
    "chmod",
    "dnf",
    "echo",
    "grubby",
    "journalctl",
    "k3s",
    "krc",
    "kubectl",
    "loginctl",
    "mkdir",
    "modprobe",
    "printf",
    "runuser",
    "ss",
    "sudo",
    "sudoedit",
    "sysctl",
    "systemctl",
    "update-grub",
    "useradd",
    "usermod",
];

/// Where the remedy text starts on a terminal line (after `remedy:`).
const TEXT_COL: usize = 19;

fn is_command(s: &str) -> bool {
    COMMANDS.contains(&s.split(' ').next().unwrap_or(""))
}

/// Does `s` hold `,`, `;`, `(` or `)` outside quotes (prose after a
/// command)?
fn has_prose_marks(s: &str) -> bool {
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',' | ';' | '(' | ')') => return true,
            _ => {}
        }
    }
    false
}

/// The commands of an unwrapped remedy: whole command lines, and the
/// command a prose lead ends in. Heredocs and file contents are not
/// commands to compare (their lines are kept as written).
fn commands(remedy: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_heredoc = false;
    for line in remedy.lines() {
        if in_heredoc {
            in_heredoc = line.trim() != "EOF";
            continue;
        }
        if line.contains("<<") {
            in_heredoc = true;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if is_command(line) {
            out.push(line.to_string());
        } else if let Some(rest) = line
            .match_indices(": ")
            .map(|(i, _)| &line[i + 2..])
            .find(|rest| is_command(rest) && !has_prose_marks(rest.split("   #").next().unwrap()))
        {
            out.push(rest.to_string());
        }
    }
    out
}

/// Each check's remedy block in a terminal report: its lines, without
/// the label column.
fn terminal_remedies(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut id = String::new();
    let mut in_remedy = false;
    for line in text.lines() {
        if ["PASS ", "FAIL ", "WARN ", "SKIP ", "ERROR"]
            .iter()
            .any(|s| line.starts_with(s))
        {
            id = line.split_whitespace().nth(1).unwrap_or("").to_string();
            in_remedy = false;
            continue;
        }
        if line.get(..TEXT_COL) == Some("         remedy:   ") {
            in_remedy = true;
        } else if !(in_remedy && line.len() >= TEXT_COL && line[..TEXT_COL].trim().is_empty()) {
            in_remedy = false;
            continue;
        }
        out.entry(id.clone())
            .or_default()
            .push(line[TEXT_COL..].to_string());
    }
    out
}

/// The candidates a user can select: each line with the lines its
/// trailing ` \` continues into.
fn candidates(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for start in 0..lines.len() {
        let mut text = lines[start].clone();
        let mut i = start;
        while text.ends_with(" \\") && i + 1 < lines.len() {
            i += 1;
            text.push('\n');
            text.push_str(&lines[i]);
        }
        out.push(text);
    }
    out
}

/// bash's parse of each text, as `declare -f` prints a function whose
/// body it is (None: bash refused it). Nothing is run.
/// One bash per text: a text that leaves bash's parser mid-word (an
/// unclosed backquote in prose) must not disturb the next one.
fn parsed(texts: &[String]) -> Vec<Option<String>> {
    texts
        .iter()
        .map(|t| {
            let out = Command::new("bash")
                .args(["--norc", "--noprofile", "-c"])
                .arg("eval \"f() {\"$'\\n'\"$KRC_T\"$'\\n'\"}\" 2>/dev/null && declare -f f")
                .env("KRC_T", t)
                .output()
                .expect("bash runs");
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .collect()
}

/// The problems of one fixture at one width (empty: every command pastes).
fn check_fixture(dir: &Path, width: usize, out_dir: &Path) -> (Vec<String>, usize) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let json = out_dir.join(format!("{name}-{width}.json"));
    let out = krc()
        .args(["preflight", "--color", "never", "--root"])
        .arg(dir)
        .arg("--json")
        .arg(&json)
        .env_remove("SUDO_USER")
        .env("COLUMNS", width.to_string())
        .output()
        .expect("krc runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("a JSON report")).unwrap();
    let shown = terminal_remedies(&text);
    let mut problems = Vec::new();
    let mut compared = 0;
    for c in doc["phases"][0]["checks"].as_array().unwrap() {
        let Some(remedy) = c["remedy"].as_str() else {
            continue;
        };
        if c["status"] == "pass" {
            continue;
        }
        let id = c["id"].as_str().unwrap();
        let wanted = commands(remedy);
        let lines = shown.get(id).cloned().unwrap_or_default();
        let cands = candidates(&lines);
        let mut texts = wanted.clone();
        texts.extend(cands.iter().cloned());
        let p = parsed(&texts);
        let (want_p, cand_p) = p.split_at(wanted.len());
        for (cmd, parse) in wanted.iter().zip(want_p) {
            compared += 1;
            let Some(parse) = parse else {
                problems.push(format!(
                    "{name} at {width}: {id}: bash does not parse the remedy's own command {cmd:?}"
                ));
                continue;
            };
            if !cand_p.iter().any(|c| c.as_ref() == Some(parse)) {
                problems.push(format!(
                    "{name} at {width} columns: {id}: no pasteable lines give {cmd:?}; shown:\n{}",
                    lines.join("\n")
                ));
            }
        }
    }
    (problems, compared)
}

#[test]
fn every_remedy_command_pastes_whole_at_60_80_and_120_columns() {
    let hosts = repo().join("fixtures/hosts");
    let mut dirs: Vec<_> = std::fs::read_dir(&hosts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let tmp = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    let mut compared = 0;
    for dir in &dirs {
        for width in [60, 80, 120] {
            let (p, n) = check_fixture(dir, width, tmp.path());
            problems.extend(p);
            compared += n;
        }
    }
    // The fixtures hold many remedies; a parser that found none would
    // prove nothing.
    assert!(compared > 100, "only {compared} commands compared");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_comparison_catches_a_command_broken_inside() {
    let cmd =
        "echo 'net.ipv4.ip_forward=1' | sudo tee /etc/sysctl.d/90-krc-rootless.conf".to_string();
    let broken = vec![
        "echo 'net.ipv4.ip_forward=1' | sudo tee".to_string(),
        "/etc/sysctl.d/90-krc-rootless.conf".to_string(),
    ];
    let continued = vec![
        "echo 'net.ipv4.ip_forward=1' | sudo \\".to_string(),
        "  tee /etc/sysctl.d/90-krc-rootless.conf".to_string(),
    ];
    let mut texts = vec![cmd];
    texts.extend(candidates(&broken));
    texts.extend(candidates(&continued));
    let p = parsed(&texts);
    assert!(p[0].is_some());
    assert_ne!(p[1], p[0], "the first half alone is another command");
    assert_ne!(p[2], p[0]);
    assert_eq!(p[3], p[0], "a ` \\` continuation is the same command");
}
