//! JUnit and JSON reports from the real binary: both JUnit schemas accept
//! them, testcase identities are unique, and hostile text stays well-formed.

mod support;

use std::collections::HashSet;
use std::path::Path;

use support::{have, krc, validate_junit};

/// (classname, name) of every testcase. quick-junit's own reader rejects
/// the zone-less timestamps the Ant schema requires, so this reads the tags.
fn junit_cases(xml: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, key: &str| -> String {
        let pat = format!(" {key}=\"");
        let start = tag
            .find(&pat)
            .map(|i| i + pat.len())
            .unwrap_or_else(|| panic!("no {key} in {tag}"));
        tag[start..].split('"').next().unwrap().to_string()
    };
    xml.split("<testcase ")
        .skip(1)
        .map(|rest| {
            let tag = format!(" {}", rest.split('>').next().unwrap());
            (attr(&tag, "classname"), attr(&tag, "name"))
        })
        .collect()
}

fn check_junit(path: &Path) {
    let xml = std::fs::read_to_string(path).unwrap();
    let cases = junit_cases(&xml);
    assert!(!cases.is_empty());
    let unique: HashSet<_> = cases.iter().collect();
    assert_eq!(
        unique.len(),
        cases.len(),
        "(classname, name) pairs are unique: {cases:?}"
    );
    for (classname, name) in &cases {
        let group = name.split('.').next().unwrap();
        assert_eq!(
            classname,
            &format!("krc.preflight.{group}"),
            "classname of {name}"
        );
    }
    if !have("xmllint") {
        lab_skip!("xmllint is not installed (Debian: libxml2-utils)");
    }
    validate_junit(path).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", path.display()));
}

#[test]
fn live_host_reports_validate_against_both_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, json) = (dir.path().join("pre.xml"), dir.path().join("pre.json"));
    let out = krc()
        .args(["preflight", "-q", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    check_junit(&junit);

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["schema"], "krc.report/v1");
    let checks = doc["phases"][0]["checks"].as_array().unwrap();
    let list = String::from_utf8(
        krc()
            .args(["list", "--phase", "preflight"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        checks.len(),
        list.lines().count() - 1,
        "every preflight check is reported"
    );
    for c in checks {
        for key in [
            "id", "status", "title", "duration", "evidence", "remedy", "severity",
        ] {
            assert!(c.get(key).is_some(), "check lacks {key}: {c}");
        }
        let status = c["status"].as_str().unwrap();
        assert!(["pass", "fail", "warn", "skip", "error"].contains(&status));
        if status != "pass" {
            assert!(
                c["remedy"].is_string() || status == "skip",
                "non-pass {} has a remedy",
                c["id"]
            );
        }
    }
    assert_eq!(doc["passed"], out.status.code() == Some(0));
}

/// A tree whose files hold `]]>`, ANSI escapes and control bytes: the
/// checks report them verbatim as evidence, and the XML must stay valid.
#[test]
fn hostile_evidence_keeps_junit_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host");
    let write = |rel: &str, body: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    write("etc/passwd", b"alice:x:1000:1000::/home/alice:/bin/sh\n");
    write("proc/sys/kernel/osrelease", b"3.10\x1b[31m]]><x>&\x07\n");
    write("proc/sys/net/ipv4/ip_forward", b"0 ]]> \x1b[0m\n");
    write("etc/subuid", b"alice:100000:65536\n<bob>:]]>:1\n");
    let junit = dir.path().join("r.xml");
    let html = dir.path().join("r.html");
    let out = krc()
        .args(["preflight", "--user", "alice", "--root"])
        .arg(&root)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        !xml.contains('\x1b') && !xml.contains('\x07'),
        "control characters are stripped"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains('\x1b') && !page.contains("<x>") && page.contains("&lt;x&gt;"),
        "HTML escapes evidence"
    );
    check_junit(&junit);
}
