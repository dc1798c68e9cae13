//! Human output: one line per check (status, id, title); under each
//! non-pass the summary, the evidence and the remedy; a count line at the end.

use std::borrow::Cow;
use std::io::{self, Write};

use owo_colors::{OwoColorize, Style};

use super::{CheckRecord, Counts};
use crate::checks::Status;

pub(crate) struct Printer {
    out: Box<dyn Write + Send>,
    color: bool,
    quiet: bool,
    id_width: usize,
    /// Set once stdout is gone (`krc ... | head`): stop printing, keep going.
    closed: bool,
    /// Wrap at this many columns; None: one line per line of text.
    width: Option<usize>,
}

/// Text from the host (file lines, API answers, names) made safe for a
/// terminal: a user-written file must not move root's cursor, retitle the
/// window or hide text. Control characters become visible escapes (`\x1b`,
/// `\r`), as do bidirectional overrides; `\n` stays a line break and `\t`
/// a tab.
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if unsafe_char(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The terminal report fits this many columns.
pub(crate) const WIDTH: usize = 80;

/// The width to wrap at: `COLUMNS` when set (40 to 1000), else 80 on a
/// terminal. Into a pipe or a file nothing is wrapped: a CI log or `grep`
/// keeps every finding, evidence line and command on one line.
pub(crate) fn width_for(is_terminal: bool) -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| (40..=1000).contains(c));
    columns.or(is_terminal.then_some(WIDTH))
}

/// Where evidence and remedy text starts: after `       ` and `  observed: `.
const LABEL_COL: usize = 7 + 2 + 9 + 1;

/// Wraps `text` into lines of at most `width` characters: the first line
/// starts with `first`, the others with `rest`. Breaks only at spaces; a
/// word longer than a line stays whole on a line of its own.
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = first.to_string();
    let mut cur_len = first.chars().count();
    let mut empty = true;
    for word in words_keeping_code(text) {
        let word = word.as_str();
        let wl = word.chars().count();
        if !empty && cur_len + 1 + wl > width {
            lines.push(std::mem::take(&mut cur));
            cur = rest.to_string();
            cur_len = rest.chars().count();
            empty = true;
        }
        if !empty {
            cur.push(' ');
            cur_len += 1;
        }
        cur.push_str(word);
        cur_len += wl;
        empty = false;
    }
    lines.push(cur);
    lines
}

/// `text`'s words at its spaces, except that a `` `command` `` span stays
/// one word: prose that names a command never breaks inside it, so the
/// part between the backticks pastes as the command it shows. An unclosed
/// backtick leaves the rest as plain words.
fn words_keeping_code(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for word in text.split(' ') {
        let ticks = word.matches('`').count();
        match open.as_mut() {
            Some(span) => {
                span.push(word);
                if ticks % 2 == 1 {
                    out.push(span.join(" "));
                    open = None;
                }
            }
            None if ticks % 2 == 1 => open = Some(vec![word]),
            None => out.push(word.to_string()),
        }
    }
    // Unclosed: no span after all.
    out.extend(open.into_iter().flatten().map(str::to_string));
    out
}

impl super::RecordSink for Printer {
    fn record(&mut self, r: &CheckRecord) {
        Printer::record(self, r);
    }
}

impl Printer {
    pub(crate) fn stdout(color: bool, quiet: bool, id_width: usize) -> Printer {
        use std::io::IsTerminal;
        Printer {
            out: Box::new(io::stdout()),
            color,
            quiet,
            id_width,
            closed: false,
            width: width_for(io::stdout().is_terminal()),
        }
    }

    pub(crate) fn to_writer(out: Box<dyn Write + Send>, id_width: usize) -> Printer {
        Printer {
            out,
            color: false,
            quiet: false,
            id_width,
            closed: false,
            width: None,
        }
    }

    /// Wraps at `width` columns (None: no wrapping).
    pub(crate) fn with_width(mut self, width: Option<usize>) -> Printer {
        self.width = width;
        self
    }

    fn wrap_at(&self) -> usize {
        self.width.unwrap_or(usize::MAX)
    }

    fn status_style(&self, status: Status) -> Style {
        if !self.color {
            return Style::new();
        }
        match status {
            Status::Pass => Style::new().green(),
            Status::Fail | Status::Error => Style::new().red().bold(),
            Status::Warn => Style::new().yellow(),
            Status::Skip => Style::new().cyan(),
        }
    }

    fn emit(&mut self, text: &str) {
        if self.closed {
            return;
        }
        if let Err(e) = self
            .out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
    }

    /// Sets colour and quiet on a printer made with [`Printer::to_writer`].
    pub(crate) fn with_style(mut self, color: bool, quiet: bool) -> Printer {
        self.color = color;
        self.quiet = quiet;
        self
    }

    pub(crate) fn heading(&mut self, text: &str) {
        if !self.quiet {
            let mut t = String::new();
            for line in visible(text).lines() {
                for l in wrap(line, self.wrap_at(), "", "") {
                    if self.color {
                        t.push_str(&format!("{}\n", l.bold()));
                    } else {
                        t.push_str(&l);
                        t.push('\n');
                    }
                }
            }
            self.emit(&t);
        }
    }

    pub(crate) fn record(&mut self, r: &CheckRecord) {
        if self.quiet && r.status == Status::Pass {
            return;
        }
        let label = format!("{:<5}", r.status.label());
        let id = format!("{:<w$}", visible(&r.id), w = self.id_width);
        let head_width = 7 + id.chars().count() + 2;
        // The title wraps under itself, or under the id when the ids are
        // so long that the title column would be too narrow.
        let w = self.wrap_at();
        let title_indent = " ".repeat(if head_width <= w / 2 { head_width } else { 9 });
        let mut title = wrap(
            &visible(&r.title),
            w,
            &" ".repeat(head_width),
            &title_indent,
        );
        title[0] = title[0].trim_start().to_string();
        let mut s = format!(
            "{}  {id}  {}\n",
            label.style(self.status_style(r.status)),
            title.join("\n")
        );
        if r.status != Status::Pass {
            let indent = " ".repeat(7);
            for l in wrap(&visible(&r.summary), w, &indent, &indent) {
                s.push_str(&format!("{l}\n"));
            }
            let more = " ".repeat(LABEL_COL + 2);
            let mut first = true;
            for e in &r.evidence {
                for line in visible(e).lines() {
                    let tag = if first { "observed:" } else { "" };
                    first = false;
                    let lead = format!("{indent}  {tag:<9} ");
                    for l in wrap(line, w, &lead, &more) {
                        s.push_str(&format!("{l}\n"));
                    }
                }
            }
            if let Some(remedy) = &r.remedy {
                // Commands are never broken inside (a paste must be the
                // same command): super::remedy lays them out.
                let avail = self.width.map(|w| w.saturating_sub(LABEL_COL).max(20));
                for (i, line) in super::remedy::lay_out(&visible(remedy), avail)
                    .into_iter()
                    .enumerate()
                {
                    let tag = if i == 0 { "remedy:" } else { "" };
                    let lead = format!("{indent}  {tag:<9} ");
                    if self.color && line.command {
                        s.push_str(&format!("{lead}{}\n", line.text.bold()));
                    } else {
                        s.push_str(&format!("{lead}{}\n", line.text));
                    }
                }
            }
        }
        self.emit(&s);
    }

    pub(crate) fn summary(&mut self, counts: &Counts) {
        let line = counts.line();
        let t = if self.color && (counts.failed > 0 || counts.errors > 0) {
            format!("\n{}\n", line.red().bold())
        } else {
            format!("\n{line}\n")
        };
        self.emit(&t);
    }

    /// After the count line: the required checks that could not be judged.
    /// `decides`: they make the verdict (nothing failed), so it says
    /// inconclusive; otherwise they are listed after the failure.
    pub(crate) fn inconclusive(&mut self, ids: &[&str], decides: bool) {
        if ids.is_empty() {
            return;
        }
        let lead = if decides {
            "inconclusive: not qualified, not failed:"
        } else {
            "also"
        };
        let n = ids.len();
        let text = format!(
            "{lead} {n} required check{} could not be judged (missing facts or probes; each says which above): {}",
            if n == 1 { "" } else { "s" },
            ids.join(", ")
        );
        let mut t = String::new();
        for l in wrap(&visible(&text), self.wrap_at(), "", "  ") {
            if self.color && decides {
                t.push_str(&format!("{}\n", l.yellow().bold()));
            } else {
                t.push_str(&l);
                t.push('\n');
            }
        }
        self.emit(&t);
    }

    pub(crate) fn line(&mut self, text: &str) {
        self.emit(&format!("{}\n", visible(text)));
    }
}

/// What `--color auto` means: stdout is a terminal that can show colour
/// (`TERM` is not `dumb`) and `NO_COLOR` is not set (no-color.org).
pub(crate) fn colour_auto() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Phase, Severity};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn prose_never_breaks_inside_a_backticked_command() {
        let t = "the unit did not come back: run `systemctl reset-failed user@1000.service && systemctl start user@1000.service` and read the log";
        let lines = wrap(t, 40, "", "");
        assert!(
            lines.iter().any(|l| l.contains(
                "`systemctl reset-failed user@1000.service && systemctl start user@1000.service`"
            )),
            "{lines:?}"
        );
        assert_eq!(lines.join(" "), t);
        // An unclosed backtick is plain prose.
        assert_eq!(wrap("a `b c d", 3, "", ""), ["a", "`b", "c d"]);
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn control_characters_from_the_host_are_shown_escaped() {
        assert_eq!(visible("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(
            visible("a\u{1b}]0;owned\u{7}b\rc\u{9b}d\u{202e}e"),
            "a\\x1b]0;owned\\x07b\\rc\\x9bd\\u{202e}e"
        );
        let buf = Buf::default();
        let mut p = Printer::to_writer(Box::new(buf.clone()), 4);
        p.record(&CheckRecord {
            id: "x.y".into(),
            phase: Phase::Acceptance,
            group: "x".into(),
            title: "t\u{1b}[2J".into(),
            severity: Severity::Required,
            status: Status::Fail,
            summary: "s\u{1b}[31m".into(),
            evidence: vec!["~/.profile:1: \u{1b}]0;pwned\u{7}".into()],
            remedy: Some("r\r\u{1b}[K".into()),
            duration: Duration::ZERO,
            unjudged: false,
            prerequisite: None,
        });
        p.line("l\u{1b}c");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(
            text.contains("\\x1b]0;pwned\\x07") && text.contains("r\\r\\x1b[K"),
            "{text}"
        );
    }

    #[test]
    fn wrapping_keeps_the_indent_and_whole_words() {
        assert_eq!(
            wrap("aaa bbb ccc a-very-long-word d", 12, "> ", "  "),
            vec!["> aaa bbb", "  ccc", "  a-very-long-word", "  d"]
        );
        let buf = Buf::default();
        let mut p = Printer::to_writer(Box::new(buf.clone()), 6).with_width(Some(40));
        p.record(&CheckRecord {
            id: "a.b".into(),
            phase: Phase::Preflight,
            group: "a".into(),
            title: "a title long enough to wrap at forty columns".into(),
            severity: Severity::Required,
            status: Status::Fail,
            summary: "s".into(),
            evidence: vec!["first line of evidence that wraps\nsecond".into()],
            remedy: Some(
                "sudo run a command that is long\n  kept as written, however long it is".into(),
            ),
            duration: Duration::ZERO,
            unjudged: false,
            prerequisite: None,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "FAIL   a.b     a title long enough to\n               wrap at forty columns\n       s\n         observed: first line of\n                     evidence that wraps\n                   second\n         remedy:   sudo run a command \\\n                     that is long\n                     kept as written, however long it is\n"
        );
    }

    #[test]
    fn non_pass_shows_summary_evidence_and_remedy() {
        let buf = Buf::default();
        let mut p = Printer::to_writer(Box::new(buf.clone()), 14);
        p.record(&CheckRecord {
            id: "cgroup.unified".into(),
            phase: Phase::Preflight,
            group: "cgroup".into(),
            title: "the host runs pure cgroup v2".into(),
            severity: Severity::Required,
            status: Status::Fail,
            summary: "hybrid".into(),
            evidence: vec!["line one".into(), "line two".into()],
            remedy: Some("sudo a\nsudo b".into()),
            duration: Duration::ZERO,
            unjudged: false,
            prerequisite: None,
        });
        p.summary(&Counts {
            passed: 1,
            failed: 1,
            warned: 0,
            skipped: 2,
            errors: 0,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "FAIL   cgroup.unified  the host runs pure cgroup v2\n       hybrid\n         observed: line one\n                   line two\n         remedy:   sudo a\n                   sudo b\n\n1 passed, 1 failed, 0 warned, 2 skipped\n"
        );
    }
}
