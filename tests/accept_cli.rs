//! `krc accept` as a command: help, listing, flags and exit statuses.

mod support;

use support::krc;

const IDS: &[&str] = &[
    "install.binary",
    "unit.present",
    "unit.active",
    "unit.delegation-live",
    "rootful.inactive",
    "rootless.userns",
    "kubeconfig.present",
    "kubeconfig.env",
    "api.ready",
    "node.single-ready",
    "pods.system",
    "ports.api",
    "ports.offset",
    "cluster.single-node",
];

#[test]
fn list_shows_every_acceptance_check_and_explain_says_why() {
    let out = krc()
        .args(["list", "--phase", "acceptance"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for id in IDS {
        assert!(text.contains(id), "{id} missing:\n{text}");
    }
    assert_eq!(text.lines().count(), IDS.len() + 1, "{text}");
    let out = krc().args(["explain", "ports.offset"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("1024 -> 11024") && text.contains("krc-acceptance") && text.contains("Fix:"),
        "{text}"
    );
}

#[test]
fn accept_list_and_help_and_usage_errors() {
    let out = krc().args(["accept", "--list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ports.offset ") && l.contains("required"))
            && text.trim_end().ends_with("14 checks would run"),
        "{text}"
    );
    let out = krc().args(["accept", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--kubeconfig",
        "--timeout",
        "--skip",
        "--junit",
        "--json",
        "--user",
    ] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
    let out = krc().args(["accept", "--timeout", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let pre = dir.path().join("pre.toml");
    std::fs::write(
        &pre,
        "phase = \"preflight\"\n[[check]]\nid = \"cgroup.unified\"\n",
    )
    .unwrap();
    let out = krc()
        .args(["accept", "--suite"])
        .arg(&pre)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("this command runs acceptance suites"));
}

#[test]
fn a_missing_kubeconfig_fails_the_api_checks_with_a_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("nope.yaml");
    let out = krc()
        .args(["accept", "api.ready", "--exact", "--kubeconfig"])
        .arg(&kc)
        // A tree's user (alice), whoever runs the test: root as the
        // user is refused.
        .arg("--root")
        .arg(support::repo().join("fixtures/hosts/ready-v2"))
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL   api.ready") && text.contains("nope.yaml") && text.contains("remedy:"),
        "{text}"
    );
}

/// With nothing installed, acceptance reports the one cause: the unit is
/// missing. Every check that needs it (directly or through another) is
/// SKIP naming unit.present, none is a failure of its own, and none is
/// unjudged (the run is failed, not inconclusive).
#[test]
fn nothing_installed_is_one_cause_not_a_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    let out = krc()
        .args(["accept", "--timeout", "5", "--root"])
        .arg(support::repo().join("fixtures/hosts/ready-v2"))
        .arg("--json")
        .arg(&json)
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let checks = doc["phases"][0]["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["status"] == "fail" || c["status"] == "error")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["unit.present"], "one cause");
    let skipped: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["status"] == "skip").collect();
    assert!(skipped.len() >= 10, "{skipped:?}");
    for c in skipped {
        assert_eq!(c["prerequisite"], "unit.present", "{c}");
        assert!(
            c["summary"].as_str().unwrap().contains("see unit.present"),
            "{c}"
        );
        assert!(c.get("unjudged").is_none(), "{c}");
    }
    assert_eq!(doc["verdict"], "failed");
}
