//! The fleet as one self-contained HTML page: the fleet verdict first,
//! then a matrix of hosts (rows, the worst first) by checks (columns, the
//! most failed first), each cell linking to that host's finding with its
//! evidence and remedy further down. A filter box and sticky headers keep
//! it usable with hundreds of hosts.
//!
//! Every text from a report (hostnames, ids, evidence) goes through
//! `html::esc`. The page's only script is the filter, allowed by its hash
//! in a Content-Security-Policy that forbids every other script and every
//! external resource: text that escaped the escaping still could not run.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::html::esc;
use serde::Deserialize as _;

use super::merge::{Check, Fleet, FleetVerdict, Host, HostVerdict};
use super::meta::RunSettings;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em}\
.verdict{font-size:1.3em;padding:.5em;border-left:.4em solid}.verdict.passed{border-color:#176f2c}.verdict.failed{border-color:#b00020}.verdict.inconclusive{border-color:#8a6d00}\
.tools{margin:.8em 0}#filter{width:24em;padding:.3em}\
.wrap{overflow:auto;max-height:75vh;border:1px solid #ccc}\
#matrix{border-collapse:separate;border-spacing:0}#matrix td,#matrix th{border-bottom:1px solid #eee;padding:.15em .35em;text-align:center}\
#matrix thead th{position:sticky;top:0;background:#fff;z-index:2;vertical-align:bottom}\
#matrix tbody th{position:sticky;left:0;background:#fff;z-index:1;text-align:left;white-space:nowrap}\
#matrix thead th:first-child{left:0;z-index:3}\
.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:normal;font-family:monospace}\
a{text-decoration:none}td a{display:block;color:inherit}\
.s-pass{color:#176f2c}.s-fail,.s-error,.v-failed{color:#b00020;font-weight:bold}.s-warn{color:#8a6d00}.s-skip{color:#055f8a}.v-inconclusive,.v-reboot-required,.v-relogin-required{color:#8a6d00;font-weight:bold}.v-passed{color:#176f2c}\
td.s-fail,td.s-error{background:#fde7ea}td.s-skip.u{background:#fff5d6}\
section{margin-top:1.5em;border-top:2px solid #ddd}\
table.host{border-collapse:collapse;width:100%}table.host td{border-bottom:1px solid #eee;padding:.2em .5em;vertical-align:top;text-align:left}\
tr:target{outline:3px solid #f5a623}pre{background:#f6f6f6;padding:.4em;white-space:pre-wrap;margin:.2em 0}.label{font-size:.85em;color:#555}code{white-space:nowrap}";

/// The filter: rows whose text holds the query (and, when asked, only
/// hosts that are not qualified); counts what it shows. `page.html#q=TEXT`
/// opens the page filtered, a link to share.
const SCRIPT: &str = "(function(){var f=document.getElementById('filter'),b=document.getElementById('bad'),n=document.getElementById('shown'),rows=document.querySelectorAll('#matrix tbody tr');function apply(){var q=f.value.toLowerCase(),k=0;for(var i=0;i<rows.length;i++){var r=rows[i],s=r.getAttribute('data-k').indexOf(q)>=0&&(!b.checked||r.getAttribute('data-v')!=='passed');r.hidden=!s;if(s)k++;}n.textContent=k;}f.addEventListener('input',apply);b.addEventListener('change',apply);if(location.hash.indexOf('#q=')===0){f.value=decodeURIComponent(location.hash.slice(3));apply();}})();";

/// A check column: its phase and id, in the order of the matrix.
struct Column<'a> {
    phase: &'a str,
    id: &'a str,
    title: &'a str,
    failed: usize,
    not_passed: usize,
    first: usize,
}

fn columns(fleet: &Fleet) -> Vec<Column<'_>> {
    let mut at: HashMap<(&str, &str), usize> = HashMap::new();
    let mut cols: Vec<Column<'_>> = Vec::new();
    for h in &fleet.hosts {
        for p in &h.phases {
            for c in &p.checks {
                let i = *at.entry((&p.phase, &c.id)).or_insert_with(|| {
                    cols.push(Column {
                        phase: &p.phase,
                        id: &c.id,
                        title: &c.title,
                        failed: 0,
                        not_passed: 0,
                        first: cols.len(),
                    });
                    cols.len() - 1
                });
                cols[i].failed += usize::from(c.failed());
                cols[i].not_passed += usize::from(c.status != "pass");
            }
        }
    }
    // Failures first; otherwise the order the reports list the checks in.
    cols.sort_by(|a, b| {
        b.failed
            .cmp(&a.failed)
            .then(b.not_passed.cmp(&a.not_passed))
            .then(a.first.cmp(&b.first))
    });
    cols
}

fn symbol(c: &Check) -> &'static str {
    match c.status.as_str() {
        "pass" => "✓",
        "fail" => "✗",
        "error" => "!",
        "warn" => "⚠",
        _ if c.unjudged => "?",
        _ => "–",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(fleet: &Fleet) -> String {
    let n = fleet.hosts.len();
    let passed = fleet.count(HostVerdict::Passed);
    let failed = fleet.count(HostVerdict::Failed);
    let pending = n - passed - failed;
    let v = fleet.verdict();
    let text = match v {
        FleetVerdict::Passed => format!(
            "<strong class=\"v-passed\">QUALIFIED</strong>: all {} qualified",
            plural(n, "host", "hosts")
        ),
        FleetVerdict::Failed => format!(
            "<strong class=\"v-failed\">FAILED</strong>: {failed} of {} failed a required check; {pending} not judged or waiting; {passed} qualified",
            plural(n, "host", "hosts")
        ),
        FleetVerdict::Inconclusive => format!(
            "<strong class=\"v-inconclusive\">INCONCLUSIVE</strong>: {pending} of {} could not be judged or wait for a reboot or login; {passed} qualified",
            plural(n, "host", "hosts")
        ),
    };
    format!(
        "<p class=\"verdict {}\" id=\"verdict\">{text}</p>\n",
        v.name()
    )
}

fn matrix(fleet: &Fleet, cols: &[Column<'_>], index: &[HashMap<(&str, &str), &Check>]) -> String {
    let mut s = String::with_capacity(fleet.hosts.len() * cols.len() * 48);
    s.push_str("<div class=\"wrap\"><table id=\"matrix\"><thead><tr><th>host</th><th>verdict</th>");
    for c in cols {
        let _ = write!(
            s,
            "<th title=\"{}: {}\"><span class=\"col\">{}</span></th>",
            c.phase,
            esc(c.title),
            esc(c.id)
        );
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (hi, h) in fleet.hosts.iter().enumerate() {
        let key = format!(
            "{} {} {} {}",
            h.label,
            h.distribution(),
            h.verdict.name(),
            h.failed_ids().join(" ")
        )
        .to_lowercase();
        let _ = write!(
            s,
            "<tr data-v=\"{v}\" data-k=\"{k}\"><th><a href=\"#h{hi}\">{label}</a></th><td class=\"v-{v}\">{vl}</td>",
            v = h.verdict.name(),
            k = esc(&key),
            label = esc(&h.label),
            vl = h.verdict.label(),
        );
        for (ci, col) in cols.iter().enumerate() {
            match index[hi].get(&(col.phase, col.id)) {
                Some(c) if c.status == "pass" => {
                    let _ = write!(
                        s,
                        "<td class=\"s-pass\"><a href=\"#h{hi}-c{ci}\">✓</a></td>"
                    );
                }
                Some(c) => {
                    let _ = write!(
                        s,
                        "<td class=\"s-{st}{u}\"><a href=\"#h{hi}-c{ci}\" title=\"{st}: {sum}\">{sym}</a></td>",
                        st = esc(&c.status),
                        u = if c.unjudged { " u" } else { "" },
                        sum = esc(&c.summary),
                        sym = symbol(c),
                    );
                }
                None => s.push_str("<td></td>"),
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

fn host_section(
    s: &mut String,
    hi: usize,
    h: &Host,
    cols: &[Column<'_>],
    index: &HashMap<(&str, &str), &Check>,
) {
    let settings = h
        .meta
        .get("settings")
        .and_then(|v| RunSettings::deserialize(v).ok())
        .map_or_else(|| "not recorded".into(), |s| s.line());
    let systemd = h
        .meta
        .get("systemd")
        .and_then(|v| v.as_u64())
        .map_or("unknown".to_string(), |v| v.to_string());
    let _ = write!(
        s,
        "<section id=\"h{hi}\"><h2>{label} <span class=\"v-{v}\">{vl}</span></h2>\n<p>{dist}, kernel {kernel}, systemd {systemd}, user {user}, krc {krc} ({commit}), host id {hid}<br>settings: <code>{settings}</code><br>report: <code>{file}</code></p>\n<table class=\"host\">\n",
        label = esc(&h.label),
        v = h.verdict.name(),
        vl = h.verdict.label(),
        dist = esc(&h.distribution()),
        kernel = esc(h.meta_str("kernel")),
        user = esc(h.meta_str("user")),
        krc = esc(h.meta_str("krc_version")),
        commit = esc(h.meta_str("krc_commit")),
        hid = esc(h.host_id.as_deref().unwrap_or("unknown")),
        settings = esc(&settings),
        file = esc(&h.file),
    );
    for (ci, col) in cols.iter().enumerate() {
        let Some(c) = index.get(&(col.phase, col.id)) else {
            continue;
        };
        let _ = write!(
            s,
            "<tr id=\"h{hi}-c{ci}\"><td class=\"s-{st}\">{sym} {st}</td><td><code>{id}</code> <small>({phase}, {sev})</small></td><td>{sum}",
            st = esc(&c.status),
            sym = symbol(c),
            id = esc(&c.id),
            phase = esc(col.phase),
            sev = esc(&c.severity),
            sum = esc(&c.summary),
        );
        if c.status != "pass" {
            if !c.evidence.is_empty() {
                let _ = write!(
                    s,
                    "<div class=\"label\">observed:</div><pre>{}</pre>",
                    esc(&c.evidence.join("\n"))
                );
            }
            if let Some(r) = &c.remedy {
                let _ = write!(s, "<div class=\"label\">remedy:</div><pre>{}</pre>", esc(r));
            }
        }
        s.push_str("</td></tr>\n");
    }
    s.push_str("</table></section>\n");
}

pub(crate) fn render(fleet: &Fleet) -> String {
    let cols = columns(fleet);
    let index: Vec<HashMap<(&str, &str), &Check>> = fleet
        .hosts
        .iter()
        .map(|h| {
            h.phases
                .iter()
                .flat_map(|p| {
                    p.checks
                        .iter()
                        .map(move |c| ((p.phase.as_str(), c.id.as_str()), c))
                })
                .collect()
        })
        .collect();
    let mut body = verdict(fleet);
    let _ = writeln!(
        body,
        "<div class=\"tools\"><input id=\"filter\" type=\"search\" placeholder=\"filter hosts: name, distribution, verdict, failed check\" aria-label=\"filter hosts\"> <label><input id=\"bad\" type=\"checkbox\"> only hosts not qualified</label> <span id=\"shown\">{}</span> of {} hosts shown</div>",
        fleet.hosts.len(),
        fleet.hosts.len()
    );
    body.push_str(&matrix(fleet, &cols, &index));
    body.push_str("<p>✓ pass · ✗ fail · ! error · ⚠ warning · – skipped · ? not judged (missing facts or probes); each cell links to the finding below.</p>\n");
    for (hi, h) in fleet.hosts.iter().enumerate() {
        host_section(&mut body, hi, h, &cols, &index[hi]);
    }
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'\"><title>krc fleet report: {n}</title><style>{STYLE}</style></head>\n<body><h1>krc fleet report: {n}</h1>\n{body}<script>{SCRIPT}</script>\n</body></html>\n",
        n = plural(fleet.hosts.len(), "host", "hosts"),
    )
}
