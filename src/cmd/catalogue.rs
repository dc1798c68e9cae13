//! `krc list` and `krc explain`.

use std::io::{self, Write};

use super::{CmdError, exit};
use crate::checks::{self, CATALOGUE, Phase};

/// Writes to stdout; a closed pipe (`krc list | head -1`) ends quietly.
pub(super) fn emit(text: &str) -> Result<(), CmdError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CmdError::caused("failed to write to stdout", e)),
    }
}

pub(crate) fn list(phase: Option<Phase>) -> Result<u8, CmdError> {
    let rows: Vec<_> = CATALOGUE
        .iter()
        .filter(|c| phase.is_none_or(|p| c.phase == p))
        .collect();
    let w = rows.iter().map(|c| c.id.len()).max().unwrap_or(2);
    let mut s = format!("{:<w$}  {:<10}  {:<8}  TITLE\n", "ID", "PHASE", "SEVERITY");
    // On a terminal the titles wrap under their column (80 columns, or
    // COLUMNS); into a pipe each check stays one line, for grep.
    use std::io::IsTerminal;
    let width = crate::report::terminal::width_for(io::stdout().is_terminal());
    let under = " ".repeat(w + 24);
    for c in rows {
        let lead = format!(
            "{:<w$}  {:<10}  {:<8}  ",
            c.id,
            c.phase.name(),
            c.severity.name()
        );
        match width {
            Some(cols) => {
                for l in crate::report::terminal::wrap(c.title, cols, &lead, &under) {
                    s.push_str(&l);
                    s.push('\n');
                }
            }
            None => {
                s.push_str(&lead);
                s.push_str(c.title);
                s.push('\n');
            }
        }
    }
    emit(&s)?;
    Ok(exit::OK)
}

pub(crate) fn explain(id: &str) -> Result<u8, CmdError> {
    let Some(c) = checks::find(id) else {
        let near: Vec<&str> = CATALOGUE
            .iter()
            .map(|c| c.id)
            .filter(|i| i.contains(id) || id.contains(i.split('.').next().unwrap_or(i)))
            .collect();
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        return Err(CmdError::new(format!(
            "unknown check id {id:?}{hint}; `krc list` shows every id"
        )));
    };
    let mut s = format!("{} — {}\n", c.id, c.title);
    s.push_str(&format!(
        "phase: {}   default severity: {}",
        c.phase.name(),
        c.severity.name()
    ));
    if let Some(step) = c.fixed_by {
        s.push_str(&format!("   fixed by: krc install (step {step})"));
    }
    s.push('\n');
    if let Some(step) = c.fixed_by {
        // The install gate's rule, said once: a failing check is fixed by
        // its step only when that step has work to do here and can apply;
        // otherwise the install refuses and names the check.
        s.push_str(&wrap(
            &format!(
                "(when step {step} has work to do on this host and can apply there; if the cause is one it cannot fix, krc install refuses and names this check: `krc install --dry-run` says which)"
            ),
            78,
        ));
        s.push('\n');
    }
    s.push('\n');
    for para in c.explain.split("\n\n") {
        s.push_str(&wrap(para, 78));
        s.push_str("\n\n");
    }
    emit(s.trim_end_matches('\n'))?;
    emit("\n")?;
    Ok(exit::OK)
}

/// Wraps prose at `width`; lines that start with spaces (file contents,
/// commands) are kept as written.
fn wrap(text: &str, width: usize) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with(' ') || line.len() <= width {
            out.push(line.to_string());
            continue;
        }
        let mut cur = String::new();
        for word in line.split(' ') {
            if !cur.is_empty() && cur.len() + 1 + word.len() > width {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push(cur);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrap_keeps_indented_lines() {
        let w = super::wrap("aaa bbb ccc ddd\n  [Service] x y z", 8);
        assert_eq!(w, "aaa bbb\nccc ddd\n  [Service] x y z");
    }
}
