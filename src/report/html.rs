//! A self-contained HTML report (no scripts, no external resources), for
//! people reading CI artifacts: a summary per phase, then every check with
//! its evidence and remedy.

use super::{CheckRecord, PhaseReport, RunMeta};
use crate::checks::Status;
use crate::fsutil::utc_timestamp;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (ANSI escapes included) have no place in a page.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;margin:.2em 0}\
.pass{color:#176f2c}.fail,.error{color:#b00020;font-weight:bold}.warn{color:#8a6d00}.skip{color:#055f8a}";

fn record(r: &CheckRecord) -> String {
    let status = format!("{:?}", r.status).to_lowercase();
    let mut details = String::new();
    if r.status != Status::Pass {
        details.push_str(&format!("<div>{}</div>", esc(&r.summary)));
        if !r.evidence.is_empty() {
            details.push_str(&format!("<pre>{}</pre>", esc(&r.evidence.join("\n"))));
        }
        if let Some(remedy) = &r.remedy {
            details.push_str(&format!("<div>remedy:</div><pre>{}</pre>", esc(remedy)));
        }
    }
    format!(
        "<tr><td class=\"{status}\">{}</td><td><code>{}</code></td><td>{}</td><td>{}{details}</td><td>{:.3}s</td></tr>\n",
        r.status.label(),
        esc(&r.id),
        r.severity.name(),
        esc(&r.title),
        r.duration.as_secs_f64()
    )
}

pub(crate) fn render(meta: &RunMeta, phases: &[PhaseReport]) -> String {
    let mut body = String::new();
    for p in phases {
        body.push_str(&format!(
            "<h2>{} <small>({}, {} UTC)</small></h2>\n<p>{}</p>\n<table><tr><th>status</th><th>check</th><th>severity</th><th>finding</th><th>time</th></tr>\n",
            p.phase.name(),
            esc(&p.suite),
            utc_timestamp(p.started),
            p.counts().line()
        ));
        for r in &p.records {
            body.push_str(&record(r));
        }
        body.push_str("</table>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>krc report: {host}</title><style>{STYLE}</style></head>\n<body><h1>krc report for {host}</h1>\n<p>user {user}, kernel {kernel}, root {root}, krc {version}, k3s {k3s}</p>\n{body}</body></html>\n",
        host = esc(&meta.hostname),
        user = esc(&meta.user),
        kernel = esc(&meta.kernel),
        root = esc(&meta.root),
        version = esc(&meta.krc_version),
        k3s = esc(meta.k3s.as_deref().unwrap_or("not pinned")),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            super::esc("<a href='x'>&\u{1b}[0m"),
            "&lt;a href=&#39;x&#39;&gt;&amp;\u{FFFD}[0m"
        );
    }
}
