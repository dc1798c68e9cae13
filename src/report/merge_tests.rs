//! Unit tests of reading and judging host reports (the real binary's
//! reports are merged in tests/fleet_merge.rs).

use std::path::Path;

use super::*;
use crate::report::merge_json::render_json;
use crate::report::merge_read::{MergeError, parse_host};

fn doc(host: &str, host_id: Option<&str>, checks: &str, extra: &str) -> String {
    let id = host_id.map_or("null".to_string(), |i| format!("\"{i}\""));
    format!(
        r#"{{"schema":"krc.report/v1","meta":{{"hostname":"{host}","host_id":{id},"kernel":"6.1"}},
"phases":[{{"phase":"preflight","suite":"preflight","started":"2026-12-03T10:00:00Z","duration":0.1,
"checks":[{checks}]}}]{extra}}}"#
    )
}

fn check(id: &str, status: &str, severity: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","title":"t","severity":"{severity}","status":"{status}","summary":"s","evidence":[],"remedy":null,"duration":0.0{extra}}}"#
    )
}

fn parse(text: &str) -> Result<Host, MergeError> {
    parse_host(Path::new("h.json"), text.as_bytes())
}

#[test]
fn an_older_report_is_judged_by_passed_and_its_checks() {
    let pass = check("a.x", "pass", "required", "");
    let fail = check("b.y", "fail", "required", "");
    let warn = check("c.z", "warn", "advisory", "");
    let unjudged = check("d.w", "skip", "required", r#","unjudged":true"#);
    let plain_skip = check("e.v", "skip", "required", "");
    let h = parse(&doc(
        "a",
        None,
        &format!("{pass},{warn},{plain_skip}"),
        r#","passed":true"#,
    ))
    .unwrap();
    assert_eq!(h.verdict, HostVerdict::Passed);
    assert!(!h.verdict_reported);
    let h = parse(&doc(
        "a",
        None,
        &format!("{pass},{fail}"),
        r#","passed":false"#,
    ))
    .unwrap();
    assert_eq!(h.verdict, HostVerdict::Failed);
    assert_eq!(h.failed_ids(), ["b.y"]);
    let h = parse(&doc(
        "a",
        None,
        &format!("{pass},{unjudged}"),
        r#","passed":true"#,
    ))
    .unwrap();
    assert_eq!(h.verdict, HostVerdict::Inconclusive);
    assert_eq!(h.unjudged_ids(), ["d.w"]);
}

#[test]
fn a_reported_verdict_wins_and_an_unknown_one_is_not_qualified() {
    let pass = check("a.x", "pass", "required", "");
    for (v, want) in [
        ("inconclusive", HostVerdict::Inconclusive),
        ("reboot-required", HostVerdict::RebootRequired),
        ("relogin-required", HostVerdict::ReloginRequired),
        ("failed", HostVerdict::Failed),
        ("passed", HostVerdict::Passed),
        ("something-new", HostVerdict::Inconclusive),
    ] {
        let h = parse(&doc(
            "a",
            None,
            &pass,
            &format!(r#","passed":true,"verdict":"{v}","exit_status":0"#),
        ))
        .unwrap();
        assert_eq!(h.verdict, want, "{v}");
        assert!(h.verdict_reported);
    }
}

/// A malformed report is one line naming the file, never quoting what it
/// holds (serde's own messages quote values: a token would be shown).
#[test]
fn malformed_reports_are_named_without_their_text() {
    let secret = "K10secretTOKENvalue";
    let cases = [
        format!("{{\"schema\": \"{secret}"),
        format!("[\"{secret}\"]"),
        doc("a", None, &check("a.x", secret, "required", ""), ""),
        doc("a", None, "", "").replace("krc.report/v1", secret),
        format!("{{\"schema\":\"krc.report/v1\",\"meta\":{{}},\"phases\":\"{secret}\"}}"),
        "{\"schema\":\"krc.fleet/v1\",\"hosts\":[]}".to_string(),
        "".to_string(),
    ];
    for text in &cases {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("h.json: "), "{e}");
        assert!(!e.contains(secret), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let e = parse(&cases[5]).unwrap_err().to_string();
    assert!(e.contains("merged krc.fleet/v1"), "{e}");
}

fn host(name: &str, id: Option<&str>) -> Host {
    let mut h = parse(&doc(name, id, &check("a.x", "pass", "required", ""), "")).unwrap();
    h.file = format!("{name}.json");
    h
}

#[test]
fn labels_are_unique_even_for_shared_hostnames() {
    let mut hosts = vec![
        host("web", Some("aaaaaaaa11111111")),
        host("web", Some("bbbbbbbb22222222")),
        host("db", None),
        host("db", None),
        host("db#2", None),
        host("solo", Some("cccccccc33333333")),
    ];
    label_hosts(&mut hosts);
    let labels: Vec<&str> = hosts.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(labels[..2], ["web~aaaaaaaa", "web~bbbbbbbb"]);
    assert_eq!(labels[5], "solo", "a unique hostname stays as it is");
    let unique: std::collections::HashSet<_> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len(), "{labels:?}");
}

#[test]
fn fleet_verdict_is_the_worst_host() {
    let mut fleet = Fleet {
        hosts: vec![host("a", None), host("b", None)],
    };
    assert_eq!(fleet.verdict(), FleetVerdict::Passed);
    fleet.hosts[0].verdict = HostVerdict::RebootRequired;
    assert_eq!(fleet.verdict(), FleetVerdict::Inconclusive);
    fleet.hosts[1].verdict = HostVerdict::Failed;
    assert_eq!(fleet.verdict(), FleetVerdict::Failed);
    let json: serde_json::Value = serde_json::from_str(&render_json(&fleet, 1)).unwrap();
    assert_eq!(json["schema"], FLEET_SCHEMA);
    assert_eq!(json["verdict"], "failed");
    assert_eq!(json["counts"]["reboot_required"], 1);
}
