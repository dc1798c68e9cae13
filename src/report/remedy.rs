//! How a remedy is laid out on a terminal so that what the user pastes is
//! the command krc meant. Prose wraps at spaces; a command never breaks
//! inside: when it does not fit, it continues on the next line after ` \`
//! (bash joins the lines back into the same command), and a trailing
//! `   # comment` moves above it as a comment line of its own. File
//! contents (indented lines, heredoc bodies) are kept exactly as written.
//!
//! A line is a command when its first word is a command (`sudo`, `krc`,
//! `systemctl`, ...). A line of prose that ends in a command after `: `
//! ("or, for a rootless one: systemctl --user ...") is split there, so the
//! command stands whole on a line of its own, where a paste selects it.

use super::terminal::wrap;

/// One line of a laid-out remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) text: String,
    /// A command (or a continuation of one): shown bold in colour; prose
    /// never is.
    pub(crate) command: bool,
}

/// The words a command line starts with in krc's remedies.
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

/// Does `text` start with a command word?
fn starts_command(text: &str) -> bool {
    let first = text.split(' ').next().unwrap_or("");
    COMMANDS.contains(&first) || (first.starts_with('/') && first.len() > 1)
}

/// The words of a command, split at spaces outside quotes (a quoted
/// string with spaces stays one word).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in cmd.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') if quote != Some('\'') => {
                cur.push(c);
                escaped = true;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, ' ') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The byte offset of `needle` outside quotes, if any.
fn find_unquoted(s: &str, needle: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') if quote != Some('\'') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, _) if s[i..].starts_with(needle) => return Some(i),
            _ => {}
        }
    }
    None
}

/// A command's code and its trailing comment (krc writes `   # why`).
fn split_comment(cmd: &str) -> (&str, Option<&str>) {
    match find_unquoted(cmd, "   #") {
        Some(i) => (
            cmd[..i].trim_end(),
            Some(cmd[i..].trim_start().trim_start_matches('#').trim()),
        ),
        None => (cmd, None),
    }
}

/// Is `rest` (the part after a lead's `: `) a command alone, with no
/// prose after it? Prose shows itself by `,`, `;`, `(` or `)` outside
/// quotes (a command in krc's remedies uses none of them unquoted).
fn is_whole_command(rest: &str) -> bool {
    let (code, _) = split_comment(rest);
    starts_command(code)
        && [",", ";", "(", ")"]
            .iter()
            .all(|p| find_unquoted(code, p).is_none())
}

/// The heredoc terminator a command line opens (`<<'EOF'`, `<<EOF`).
fn heredoc_end(line: &str) -> Option<String> {
    let i = find_unquoted(line, "<<")?;
    let word = line[i + 2..]
        .trim_start_matches('-')
        .trim()
        .trim_matches(|c| c == '\'' || c == '"');
    (!word.is_empty() && !word.contains(' ')).then(|| word.to_string())
}

/// A command in lines of at most `avail` columns (the first line after
/// the label, the others indented by two more): whole words only, each
/// line but the last ending in ` \`; the comment, if any and if the
/// command does not fit with it, first, as `# ` lines.
fn command(cmd: &str, avail: usize) -> Vec<Line> {
    let mut out = Vec::new();
    if cmd.chars().count() <= avail {
        out.push(Line {
            text: cmd.to_string(),
            command: true,
        });
        return out;
    }
    let (code, comment) = split_comment(cmd);
    if let Some(c) = comment {
        for l in wrap(c, avail, "# ", "# ") {
            out.push(Line {
                text: l,
                command: false,
            });
        }
    }
    let mut cur = String::new();
    let mut first = true;
    let words = words(code);
    for (i, w) in words.iter().enumerate() {
        let last = i + 1 == words.len();
        let room = if first {
            avail
        } else {
            avail.saturating_sub(2)
        };
        // What the line needs if `w` is added: ` \` unless it is the last.
        let need = cur.chars().count()
            + usize::from(!cur.is_empty())
            + w.chars().count()
            + if last { 0 } else { 2 };
        if !cur.is_empty() && need > room {
            out.push(Line {
                text: format!("{}{cur} \\", if first { "" } else { "  " }),
                command: true,
            });
            cur.clear();
            first = false;
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    out.push(Line {
        text: format!("{}{cur}", if first { "" } else { "  " }),
        command: true,
    });
    out
}

/// Lays out `remedy` in `avail` columns (None: every line as written).
pub(crate) fn lay_out(remedy: &str, avail: Option<usize>) -> Vec<Line> {
    let mut out = Vec::new();
    let mut heredoc: Option<String> = None;
    for line in remedy.lines() {
        if let Some(end) = &heredoc {
            if line.trim() == end {
                heredoc = None;
            }
            out.push(Line {
                text: line.to_string(),
                command: false,
            });
            continue;
        }
        let verbatim = |command| Line {
            text: line.to_string(),
            command,
        };
        let Some(avail) = avail else {
            out.push(verbatim(starts_command(line)));
            continue;
        };
        if line.starts_with([' ', '\t']) {
            out.push(verbatim(false));
        } else if starts_command(line) {
            if let Some(end) = heredoc_end(line) {
                heredoc = Some(end);
                out.push(verbatim(true));
            } else {
                out.extend(command(line, avail));
            }
        } else if let Some((lead, rest)) = line
            .match_indices(": ")
            .map(|(i, _)| (&line[..=i], &line[i + 2..]))
            .find(|(_, rest)| is_whole_command(rest))
        {
            for l in wrap(lead, avail, "", "") {
                out.push(Line {
                    text: l,
                    command: false,
                });
            }
            out.extend(command(rest, avail));
        } else if line.chars().count() <= avail {
            out.push(verbatim(false));
        } else {
            for l in wrap(line, avail, "", "  ") {
                out.push(Line {
                    text: l,
                    command: false,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: Vec<Line>) -> Vec<String> {
        v.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn a_command_continues_with_a_backslash_and_never_breaks_in_quotes() {
        let r = "echo 'net.ipv4.ip_forward=1' | sudo tee /etc/sysctl.d/90-krc-rootless.conf";
        assert_eq!(
            texts(lay_out(r, Some(40))),
            [
                "echo 'net.ipv4.ip_forward=1' | sudo \\",
                "  tee /etc/sysctl.d/90-krc-rootless.conf",
            ]
        );
        let r = "printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee x";
        assert_eq!(
            texts(lay_out(r, Some(30))),
            [
                "printf \\",
                "  '[Service]\\nDelegate=cpu cpuset io memory pids\\n' \\",
                "  | sudo tee x",
            ]
        );
    }

    #[test]
    fn comments_move_above_and_prose_leads_split_off() {
        let r = "sudo apt-get install -y fuse3   # Fedora/RHEL: sudo dnf install -y fuse3";
        assert_eq!(
            texts(lay_out(r, Some(40))),
            [
                "# Fedora/RHEL: sudo dnf install -y fuse3",
                "sudo apt-get install -y fuse3",
            ]
        );
        let r = "or, for a rootless one: systemctl --user -M alice@ disable --now k3s-rootless";
        let v = lay_out(r, Some(60));
        assert_eq!(
            texts(v.clone()),
            [
                "or, for a rootless one:",
                "systemctl --user -M alice@ disable --now k3s-rootless",
            ]
        );
        assert_eq!(
            v.iter().map(|l| l.command).collect::<Vec<_>>(),
            [false, true]
        );
        // Prose with more prose after the command wraps as prose.
        let r = "give k3s another network: krc install --cidr 10.141.0.0/16 (K3S_ROOTLESS_CIDR); or move";
        assert!(lay_out(r, Some(40)).iter().all(|l| !l.command));
    }

    #[test]
    fn heredocs_and_indented_lines_stay_as_written() {
        let r = "sudo tee /etc/apparmor.d/krc-k3s >/dev/null <<'EOF'\n# a comment long enough to be wrapped if it were prose at all\nprofile k3s /usr/local/bin/k3s flags=(unconfined) {\nEOF\n  [Service] a b c d e f g h i j k l m n o p";
        let v = lay_out(r, Some(30));
        assert_eq!(texts(v), r.lines().collect::<Vec<_>>());
    }
}
