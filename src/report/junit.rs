//! JUnit XML, written with quick-junit and valid against both schemas in
//! `shared/junit/`: the strict Ant one and Jenkins xUnit's.
//!
//! One `<testsuite>` per phase; `classname` is `krc.<phase>.<group>`, `name`
//! the check id. A failure's message is the one-line summary and its body the
//! evidence and remedy. Ant's schema allows no output inside a testcase, so
//! warnings are listed in the testsuite's `<system-out>`.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CheckRecord, PhaseReport, RunMeta};
use crate::checks::Status;
use crate::fsutil::utc_timestamp;

pub(crate) fn render(meta: &RunMeta, phases: &[PhaseReport]) -> Result<String, String> {
    let mut report = Report::new("krc");
    for (i, p) in phases.iter().enumerate() {
        let mut suite = TestSuite::new(p.phase.name());
        suite.set_time(p.duration);
        // quick-junit writes timestamps with a zone, which the Ant schema
        // rejects; these attributes are written as the schema wants them.
        suite
            .extra
            .insert("timestamp".into(), utc_timestamp(p.started).into());
        suite.extra.insert(
            "hostname".into(),
            non_empty(&meta.hostname, "localhost").into(),
        );
        suite
            .extra
            .insert("package".into(), format!("krc.{}", p.phase.name()).into());
        suite.extra.insert("id".into(), i.to_string().into());
        suite.add_properties([
            Property::new("host", non_empty(&meta.hostname, "localhost")),
            Property::new("kernel", non_empty(&meta.kernel, "unknown")),
            Property::new("user", non_empty(&meta.user, "unknown")),
            Property::new("root", meta.root.as_str()),
            Property::new("krc.version", meta.krc_version.as_str()),
            Property::new("k3s", meta.k3s.as_deref().unwrap_or("not pinned")),
            Property::new("suite", p.suite.as_str()),
        ]);
        let mut warnings = String::new();
        for r in &p.records {
            suite.add_test_case(test_case(r));
            if r.status == Status::Warn {
                warnings.push_str(&format!("WARN {}: {}\n{}\n", r.id, r.summary, body(r)));
            }
        }
        suite.set_system_out(warnings);
        suite.set_system_err("");
        report.add_test_suite(suite);
    }
    let xml = report
        .to_string()
        .map_err(|e| format!("failed to render JUnit XML: {e}"))?;
    Ok(bare_root(&xml))
}

fn non_empty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.trim().is_empty() { fallback } else { s }
}

/// The Ant schema allows no attribute on `<testsuites>` and Jenkins' none
/// of `skipped`; quick-junit always writes the totals there. The totals are
/// on each `<testsuite>`, so the root tag loses nothing by being bare.
fn bare_root(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let Some(len) = xml[start..].find('>') else {
        return xml.to_string();
    };
    let self_closing = xml[start..start + len].ends_with('/');
    let tag = if self_closing {
        "<testsuites/>"
    } else {
        "<testsuites>"
    };
    format!("{}{tag}{}", &xml[..start], &xml[start + len + 1..])
}

fn body(r: &CheckRecord) -> String {
    let mut s = String::new();
    for e in &r.evidence {
        s.push_str("observed: ");
        s.push_str(e);
        s.push('\n');
    }
    if let Some(remedy) = &r.remedy {
        s.push_str("remedy:\n");
        s.push_str(remedy);
        s.push('\n');
    }
    s
}

fn test_case(r: &CheckRecord) -> TestCase {
    let status = match r.status {
        Status::Pass | Status::Warn => TestCaseStatus::success(),
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(r.summary.as_str());
            s.set_description(body(r));
            s
        }
        Status::Fail | Status::Error => {
            let (kind, ty) = if r.status == Status::Fail {
                (NonSuccessKind::Failure, "krc.fail")
            } else {
                (NonSuccessKind::Error, "krc.error")
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(r.summary.as_str());
            s.set_type(ty);
            s.set_description(body(r));
            s
        }
    };
    let mut tc = TestCase::new(r.id.as_str(), status);
    tc.set_classname(format!("krc.{}.{}", r.phase.name(), r.group));
    tc.set_time(r.duration);
    tc
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::super::{CheckRecord, PhaseReport, RunMeta};
    use crate::checks::{Phase, Severity, Status};

    fn record(phase: Phase, id: &str, status: Status) -> CheckRecord {
        CheckRecord {
            id: id.into(),
            phase,
            group: id.split('.').next().unwrap().into(),
            title: format!("title of {id}"),
            severity: Severity::Required,
            status,
            summary: format!("{id}: {status:?} ]]> \u{1b}[31m"),
            evidence: vec!["observed <thing> & more".into()],
            remedy: (status != Status::Pass).then(|| "sudo fix it".into()),
            duration: Duration::from_millis(12),
        }
    }

    /// `krc run` writes preflight, install and acceptance into one file:
    /// three testsuites, valid against both schemas (with xmllint present).
    #[test]
    fn three_phases_make_one_valid_report() {
        let phases: Vec<PhaseReport> = [
            (Phase::Preflight, "cgroup.unified", Status::Pass),
            (Phase::Install, "install.unit", Status::Skip),
            (Phase::Acceptance, "ports.offset", Status::Fail),
        ]
        .into_iter()
        .map(|(phase, id, st)| PhaseReport {
            phase,
            suite: phase.name().into(),
            started: SystemTime::now(),
            duration: Duration::from_secs(1),
            records: vec![
                record(phase, id, st),
                record(phase, "x.warned", Status::Warn),
            ],
        })
        .collect();
        let meta = RunMeta {
            hostname: "h".into(),
            kernel: "6.1.0".into(),
            user: "k3s".into(),
            root: "/".into(),
            krc_version: "0.1.0".into(),
            k3s: Some("v1.33.5+k3s1".into()),
        };
        let xml = super::render(&meta, &phases).unwrap();
        assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
        for name in ["preflight", "install", "acceptance"] {
            assert!(xml.contains(&format!("name=\"{name}\"")), "{xml}");
        }
        let json = super::super::json::render(&meta, &phases);
        assert_eq!(json.matches("\"phase\": \"").count(), 3 + 6, "{json}");
        let have_xmllint = std::process::Command::new("xmllint")
            .arg("--version")
            .output()
            .is_ok();
        let schemas = std::env::var_os("KRC_JUNIT_SCHEMAS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/junit")
            });
        if !have_xmllint || !schemas.is_dir() {
            eprintln!(
                "SKIP schema validation: xmllint or {} missing",
                schemas.display()
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.xml");
        std::fs::write(&file, &xml).unwrap();
        for xsd in ["ant-junit.xsd", "jenkins-junit-10.xsd"] {
            let out = std::process::Command::new("xmllint")
                .args(["--noout", "--schema"])
                .arg(schemas.join(xsd))
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{xsd}: {}\n{xml}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn root_tag_is_made_bare() {
        let x = "<?xml version=\"1.0\"?>\n<testsuites name=\"krc\" tests=\"1\">\n<testsuite/></testsuites>";
        assert_eq!(
            super::bare_root(x),
            "<?xml version=\"1.0\"?>\n<testsuites>\n<testsuite/></testsuites>"
        );
    }
}
