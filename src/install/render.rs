//! How the dry-run shows actions: full content for a new file, a diff for
//! an edited one, argv and environment for a command.

use super::action::{Action, Content};
use super::exec::{Cmd, Who};
use super::fsops::{Meta, TreeFs};
use super::journal::Undo;
use crate::report::redact::redact;

impl Action {
    /// The dry-run description: full content for a new file, a diff for an
    /// edited one, argv and environment for a command.
    pub(crate) fn describe(&self, fs: &TreeFs, user: &str, me: u32, machine: bool) -> String {
        match self {
            Action::Write {
                path,
                content,
                meta,
            } => describe_write(fs, path, content, meta),
            Action::Symlink { path, target, .. } => format!("create symlink {path} -> {target}"),
            Action::AptInstall { cmd } => format!(
                "{}\n    undone by: apt-get purge -y -q <every package this run added, dependencies included>",
                describe_run(cmd, None, &[], false, user, me, machine)
            ),
            Action::OnUndo(undo) => format!(
                "on undo, after the changes below are reverted: run {}",
                undo.shown()
            ),
            Action::RunScript {
                artifact,
                sha256,
                source,
                cmd,
                watch,
            } => format!(
                "{}\n    INSTALL_SH: artifact {artifact}, sha256 {sha256}, from {source} (a private temporary copy)",
                describe_run(cmd, None, watch, false, user, me, machine)
            ),
            Action::Run {
                cmd,
                undo,
                watch,
                optional,
            } => describe_run(cmd, undo.as_ref(), watch, *optional, user, me, machine),
        }
    }
}

/// A file to write: an artifact by its checksum, or bytes in full (new) or
/// as a diff (edited), shown through redaction: a drop-in may carry a
/// proxy URL with credentials.
fn describe_write(fs: &TreeFs, path: &str, content: &Content, meta: &Meta) -> String {
    let head = format!("{:04o} {}:{}", meta.mode, meta.uid, meta.gid);
    match content {
        Content::Artifact {
            name,
            sha256,
            source,
        } => format!(
            "{} file {path} ({head}): artifact {name}, sha256 {sha256}, from {source}",
            if fs.exists(path) { "replace" } else { "create" }
        ),
        Content::UserUnit {
            sha256,
            source,
            k3s_bin,
            tag,
        } => format!(
            "{} file {path} ({head}): upstream's k3s-rootless.service of k3s {tag} (sha256 {sha256}, from {source}), ExecStart running {k3s_bin}",
            if fs.exists(path) { "replace" } else { "create" }
        ),
        Content::Bytes(new) => match fs.read(path) {
            Ok(old) if old == *new => format!("keep file {path}: already has this content"),
            Ok(old) => format!(
                "edit file {path} ({head}), a backup is kept:\n{}",
                redact(&diff(
                    &String::from_utf8_lossy(&old),
                    &String::from_utf8_lossy(new)
                ))
            ),
            Err(_) => format!(
                "create file {path} ({head}):\n{}",
                redact(&indent(&String::from_utf8_lossy(new), "    | "))
            ),
        },
    }
}

/// A command: who runs it and how, its argv and environment, what it may
/// write, how it is undone.
fn describe_run(
    cmd: &Cmd,
    undo: Option<&Undo>,
    watch: &[String],
    optional: bool,
    user: &str,
    me: u32,
    machine: bool,
) -> String {
    let how = match (cmd.who, me == 0) {
        (Who::Root, true) => "as root".to_string(),
        (Who::Root, false) => "as root, through sudo -n".to_string(),
        (Who::User, true) => format!("as {user}, through runuser / systemctl --machine={user}@"),
        (Who::User, false) => format!("as {user}"),
    };
    let mut s = format!(
        "run ({how}): {}\n    argv: {:?}",
        cmd.shown(),
        cmd.wrapped(me, user, machine)
    );
    if !cmd.env.is_empty() {
        let env: Vec<String> = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!("\n    environment: {}", env.join(" ")));
    }
    if !watch.is_empty() {
        s.push_str(&format!(
            "\n    may write (saved first, restored on undo): {}",
            watch.join(" ")
        ));
    }
    if let Some(u) = undo {
        s.push_str(&format!("\n    undone by: {}", u.shown()));
    }
    if optional {
        s.push_str("\n    advisory: a failure is reported, not fatal");
    }
    s
}

pub(crate) fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff (longest common subsequence): `-` old, `+` new, ` ` kept.
/// Lines of unchanged context shown around a change.
const CONTEXT: usize = 3;
/// A longer line is cut in the plan (with its length said).
const MAX_LINE: usize = 240;

/// A diff in linear time and space: the common head and tail are kept,
/// the middle is shown as removed and added lines. krc's edits are appends
/// and whole-file replacements, for which this is exact; a 14,000-line
/// `/etc/subuid` costs two passes, not a table of 200 million cells.
pub(crate) fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = Vec::new();
    let shown_head = head.saturating_sub(CONTEXT);
    if shown_head > 0 {
        out.push(format!("    … {shown_head} unchanged line(s)"));
    }
    for l in &a[shown_head..head] {
        out.push(format!("    | {}", cut(l)));
    }
    for l in &a[head..a.len() - tail] {
        out.push(format!("    -{}", cut(l)));
    }
    for l in &b[head..b.len() - tail] {
        out.push(format!("    +{}", cut(l)));
    }
    let rest = &a[a.len() - tail..];
    for l in rest.iter().take(CONTEXT) {
        out.push(format!("    | {}", cut(l)));
    }
    if rest.len() > CONTEXT {
        out.push(format!("    … {} unchanged line(s)", rest.len() - CONTEXT));
    }
    out.join("\n")
}

fn cut(line: &str) -> String {
    if line.len() <= MAX_LINE {
        return line.to_string();
    }
    let mut end = MAX_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &line[..end], line.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_marks_changed_lines() {
        let d = super::diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(d, "    | a\n    -b\n    +B\n    | c");
    }

    #[test]
    fn a_large_file_with_one_appended_line_is_a_short_diff() {
        let old: String = (0..14_000)
            .map(|i| format!("u{i}:{}:65536\n", 100_000 + i))
            .collect();
        let new = format!("{old}alice:1000000:65536\n");
        let d = super::diff(&old, &new);
        assert_eq!(
            d,
            "    … 13997 unchanged line(s)\n    | u13997:113997:65536\n    | u13998:113998:65536\n    | u13999:113999:65536\n    +alice:1000000:65536"
        );
        let long = "x".repeat(5_000_000);
        let d = super::diff("", &long);
        assert!(
            d.len() < 400 && d.contains("5000000 bytes in all"),
            "{}",
            d.len()
        );
    }
}
