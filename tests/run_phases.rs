//! `krc run` on a tree-rooted host: preflight, install and acceptance end up
//! in one JUnit file with three testsuites, valid against both schemas.

#[path = "support/install.rs"]
mod inst;
mod support;

use inst::{VERSION, seed, serve_artifacts, write_pins};

fn suites(xml: &str) -> Vec<String> {
    xml.split("<testsuite ")
        .skip(1)
        .map(|s| {
            let name = s.split("name=\"").nth(1).unwrap();
            name.split('"').next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn run_writes_one_report_with_three_testsuites() {
    let dir = tempfile::tempdir().unwrap();
    let root = seed(dir.path());
    let pins = write_pins(dir.path(), None);
    let (url, _) = serve_artifacts();
    let (junit, json) = (dir.path().join("krc.xml"), dir.path().join("krc.json"));
    let out = support::krc()
        .args([
            "run",
            "--yes",
            "--user",
            "alice",
            "--k3s-version",
            VERSION,
            "--mirror",
            &url,
            "--timeout",
            "1",
            "--mtu",
            "9000",
            "--cidr",
            "10.141.0.0/16",
        ])
        .arg("--pins")
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .env_remove("KRC_FAULT_STEP")
        .output()
        .unwrap();
    let text = format!(
        "status {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A tree has no running k3s: the install completes (its host commands
    // are listed, not run) and acceptance fails on what a tree cannot show.
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("krc preflight:") && text.contains("krc accept:"),
        "{text}"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        suites(&xml),
        ["preflight", "install", "acceptance"],
        "{xml}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let phases: Vec<&str> = doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["preflight", "install", "acceptance"]);
    let install = &doc["phases"][1]["checks"];
    assert!(
        install.as_array().unwrap().len() >= 10,
        "one testcase per step: {install}"
    );
    assert!(
        doc["meta"]["k3s"].as_str().unwrap().contains(VERSION),
        "{}",
        doc["meta"]
    );
    // Acceptance judges the install that ran: its --mtu and --cidr, its pin.
    let check = |id: &str| {
        doc["phases"][2]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {doc}"))
            .clone()
    };
    let unit = check("unit.present");
    assert_eq!(unit["status"], "pass", "{unit}");
    let evidence = unit["evidence"].to_string();
    assert!(
        evidence.contains("K3S_ROOTLESS_MTU=9000")
            && evidence.contains("K3S_ROOTLESS_CIDR=10.141.0.0/16"),
        "{unit}"
    );
    let binary = check("install.binary");
    assert!(
        binary
            .to_string()
            .contains("the pinned version was not verified"),
        "{binary}"
    );
    if !support::have("xmllint") {
        lab_skip!("xmllint is not installed (Debian: libxml2-utils)");
    }
    support::validate_junit(&junit).unwrap_or_else(|e| panic!("{e}\n{xml}"));
}

#[test]
fn dry_run_reports_acceptance_skipped_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = seed(dir.path());
    let before = inst::tree(&root);
    let pins = write_pins(dir.path(), None);
    let (url, _) = serve_artifacts();
    let junit = dir.path().join("krc.xml");
    let out = support::krc()
        .args([
            "run",
            "--dry-run",
            "--user",
            "alice",
            "--k3s-version",
            VERSION,
            "--mirror",
            &url,
        ])
        .arg("--pins")
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        inst::tree_diff(&before, &inst::tree(&root)),
        "",
        "dry run changed the tree"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(suites(&xml), ["preflight", "install", "acceptance"]);
    assert!(xml.contains("dry run: nothing was installed"), "{xml}");
}
