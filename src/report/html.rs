//! A self-contained HTML report (no scripts, no external resources), for
//! people reading CI artifacts: first the verdict and the checks that made
//! it (failures, then warnings, each linked to its row), then every phase
//! with every check, its evidence and its remedy, each labelled.

use super::{CheckRecord, PhaseReport, RunMeta};
use crate::checks::Status;
use crate::fsutil::utc_timestamp;

pub(crate) fn esc(s: &str) -> String {
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
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;margin:.2em 0}code{white-space:nowrap}\
.label{font-size:.85em;color:#555;margin-top:.3em}\
.verdict{font-size:1.3em;padding:.5em;border-left:.4em solid}.verdict.passed{border-color:#176f2c}.verdict.failed{border-color:#b00020}\
.pass{color:#176f2c}.fail,.error{color:#b00020;font-weight:bold}.warn{color:#8a6d00}.skip{color:#055f8a}";

/// The anchor of a check's row: phases can share ids (none do today).
fn anchor(r: &CheckRecord) -> String {
    format!("{}-{}", r.phase.name(), esc(&r.id))
}

fn record(r: &CheckRecord) -> String {
    let status = format!("{:?}", r.status).to_lowercase();
    let mut details = String::new();
    if r.status != Status::Pass {
        details.push_str(&format!("<div>{}</div>", esc(&r.summary)));
        if !r.evidence.is_empty() {
            details.push_str(&format!(
                "<div class=\"label\">observed:</div><pre>{}</pre>",
                esc(&r.evidence.join("\n"))
            ));
        }
        if let Some(remedy) = &r.remedy {
            details.push_str(&format!(
                "<div class=\"label\">remedy:</div><pre>{}</pre>",
                esc(remedy)
            ));
        }
    }
    format!(
        "<tr id=\"{}\"><td class=\"{status}\">{}</td><td><code>{}</code></td><td>{}</td><td>{}{details}</td><td>{:.3}s</td></tr>\n",
        anchor(r),
        r.status.label(),
        esc(&r.id),
        r.severity.name(),
        esc(&r.title),
        r.duration.as_secs_f64()
    )
}

/// A list of checks, each linked to its row, with its one-line reason.
fn index(title: &str, records: &[&CheckRecord]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut s = format!("<h2>{title}</h2>\n<ul>\n");
    for r in records {
        s.push_str(&format!(
            "<li><a href=\"#{}\"><code>{}</code></a> ({}, {}): {}</li>\n",
            anchor(r),
            esc(&r.id),
            r.phase.name(),
            r.severity.name(),
            esc(&r.summary)
        ));
    }
    s.push_str("</ul>\n");
    s
}

pub(crate) fn render(meta: &RunMeta, phases: &[PhaseReport]) -> String {
    let all: Vec<&CheckRecord> = phases.iter().flat_map(|p| &p.records).collect();
    let blocking: Vec<&CheckRecord> = super::record::deciding(phases)
        .filter(|r| r.blocks())
        .collect();
    let other_failures: Vec<&CheckRecord> = all
        .iter()
        .copied()
        .filter(|r| {
            matches!(r.status, Status::Fail | Status::Error)
                && !blocking.iter().any(|b| std::ptr::eq(*b, *r))
        })
        .collect();
    let warnings: Vec<&CheckRecord> = all
        .iter()
        .copied()
        .filter(|r| r.status == Status::Warn)
        .collect();
    let verdict = if blocking.is_empty() {
        format!(
            "<p class=\"verdict passed\"><strong class=\"pass\">PASSED</strong>: no required check failed ({} warning{})</p>\n",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "<p class=\"verdict failed\"><strong class=\"fail\">FAILED</strong>: {} required check{} failed</p>\n",
            blocking.len(),
            if blocking.len() == 1 { "" } else { "s" }
        )
    };
    let mut body = verdict;
    body.push_str(&index("Failures", &blocking));
    body.push_str(&index(
        "Other failures (advisory, or preflight before the install)",
        &other_failures,
    ));
    body.push_str(&index("Warnings", &warnings));
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
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>krc report: {host}</title><style>{STYLE}</style></head>\n<body><h1>krc report for {host}</h1>\n{body}<p>user {user}, kernel {kernel}, {distro}, systemd {systemd}, root {root}, host id {hid}</p>\n<p>krc {version} ({commit}), k3s {k3s}{trust}; settings: {settings}</p>\n</body></html>\n",
        host = esc(&meta.hostname),
        user = esc(&meta.user),
        kernel = esc(&meta.kernel),
        distro = esc(&meta.distribution.label()),
        systemd = meta
            .systemd
            .map_or_else(|| "unknown".to_string(), |v| v.to_string()),
        root = esc(&meta.root),
        hid = esc(meta.host_id.as_deref().unwrap_or("unknown")),
        version = esc(&meta.krc_version),
        commit = esc(&meta.krc_commit),
        k3s = esc(meta.k3s.as_deref().unwrap_or("not pinned")),
        trust = meta
            .trust
            .as_deref()
            .map_or_else(String::new, |t| format!(", trust: {}", esc(t))),
        settings = esc(&meta.settings.line()),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::super::{CheckRecord, PhaseReport, RunMeta};
    use crate::checks::{Phase, Severity, Status};

    fn rec(id: &str, status: Status) -> CheckRecord {
        CheckRecord {
            id: id.into(),
            phase: Phase::Preflight,
            group: "g".into(),
            title: "t".into(),
            severity: Severity::Required,
            status,
            summary: format!("why {id}"),
            evidence: vec!["seen".into()],
            remedy: Some("fix".into()),
            duration: Duration::ZERO,
            unjudged: false,
            prerequisite: None,
        }
    }

    /// The page opens with the verdict, then the failures linked to their
    /// rows; evidence and remedy are labelled, ids do not wrap.
    #[test]
    fn verdict_and_failures_come_first() {
        let phase = PhaseReport {
            phase: Phase::Preflight,
            suite: "preflight".into(),
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            records: vec![rec("a.ok", Status::Pass), rec("b.bad", Status::Fail)],
        };
        let meta = RunMeta {
            hostname: "h".into(),
            kernel: "k".into(),
            user: "u".into(),
            root: "/".into(),
            krc_version: "0".into(),
            k3s: None,
            trust: None,
            sha256: Default::default(),
            ..RunMeta::default()
        };
        let page = super::render(&meta, &[phase]);
        let verdict = page
            .find("FAILED</strong>: 1 required check failed")
            .unwrap();
        let list = page.find("<a href=\"#preflight-b.bad\">").unwrap();
        let table = page.find("<table>").unwrap();
        assert!(verdict < list && list < table, "{page}");
        assert!(page.contains("<tr id=\"preflight-b.bad\">"), "{page}");
        assert!(page.contains("observed:</div><pre>seen</pre>"), "{page}");
        assert!(page.contains("remedy:</div><pre>fix</pre>"), "{page}");
        assert!(page.contains("code{white-space:nowrap}"), "{page}");
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            super::esc("<a href='x'>&\u{1b}[0m"),
            "&lt;a href=&#39;x&#39;&gt;&amp;\u{FFFD}[0m"
        );
    }
}
