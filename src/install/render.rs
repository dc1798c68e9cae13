//! How the dry-run shows actions: full content for a new file, a diff for
//! an edited one, argv and environment for a command.

use super::action::{Action, Content};
use super::exec::Who;
use super::fsops::TreeFs;

impl Action {
    /// The dry-run description: full content for a new file, a diff for an
    /// edited one, argv and environment for a command.
    pub(crate) fn describe(&self, fs: &TreeFs, user: &str, me: u32) -> String {
        match self {
            Action::Write {
                path,
                content,
                meta,
            } => {
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
                    Content::Bytes(new) => match fs.read(path) {
                        Ok(old) if old == *new => {
                            format!("keep file {path}: already has this content")
                        }
                        Ok(old) => format!(
                            "edit file {path} ({head}), a backup is kept:\n{}",
                            diff(
                                &String::from_utf8_lossy(&old),
                                &String::from_utf8_lossy(new)
                            )
                        ),
                        Err(_) => format!(
                            "create file {path} ({head}):\n{}",
                            super::render::indent(&String::from_utf8_lossy(new), "    | ")
                        ),
                    },
                }
            }
            Action::Symlink { path, target, .. } => format!("create symlink {path} -> {target}"),
            Action::AptInstall { cmd } => {
                let run = Action::Run {
                    cmd: cmd.clone(),
                    undo: None,
                    watch: Vec::new(),
                    optional: false,
                }
                .describe(fs, user, me);
                format!(
                    "{run}\n    undone by: apt-get purge -y -q <every package this run added, dependencies included>"
                )
            }
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
            } => {
                let run = Action::Run {
                    cmd: cmd.clone(),
                    undo: None,
                    watch: watch.clone(),
                    optional: false,
                }
                .describe(fs, user, me);
                format!(
                    "{}
    INSTALL_SH: artifact {artifact}, sha256 {sha256}, from {source} (a private temporary copy)",
                    run
                )
            }
            Action::Run {
                cmd,
                undo,
                watch,
                optional,
            } => {
                let how = match (cmd.who, me == 0) {
                    (Who::Root, true) => "as root".to_string(),
                    (Who::Root, false) => "as root, through sudo -n".to_string(),
                    (Who::User, true) => {
                        format!("as {user}, through runuser / systemctl --machine={user}@")
                    }
                    (Who::User, false) => format!("as {user}"),
                };
                let mut s = format!(
                    "run ({how}): {}\n    argv: {:?}",
                    cmd.shown(),
                    cmd.wrapped(me, user)
                );
                if !cmd.env.is_empty() {
                    let env: Vec<String> =
                        cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
                if *optional {
                    s.push_str("\n    advisory: a failure is reported, not fatal");
                }
                s
            }
        }
    }
}

pub(crate) fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff (longest common subsequence): `-` old, `+` new, ` ` kept.
pub(crate) fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("    | {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("    -{}", a[i]));
            i += 1;
        } else {
            out.push(format!("    +{}", b[j]));
            j += 1;
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_marks_changed_lines() {
        let d = super::diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(d, "    | a\n    -b\n    +B\n    | c");
    }
}
