//! The fleet as JUnit XML: one `<testsuite>` per host and phase, named
//! `HOST/PHASE`, each testcase's classname prefixed with the host
//! (`HOST.krc.PHASE.GROUP`), so every (classname, name) of the fleet is
//! unique and a CI system shows one row per host and check. HOST is the
//! host's fleet label (`merge::Host::label`), unique even when two
//! reports share a hostname. Valid against both schemas of
//! `tests/data/junit`, written as `junit` writes a host's report.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::junit::{RenderError, finish, non_empty, xml_text};
use super::merge::{Check, Fleet, Host, Phase};
use super::record::WARNING_FAILED;

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn body(c: &Check) -> String {
    let mut s = String::new();
    for e in &c.evidence {
        s.push_str("observed: ");
        s.push_str(e);
        s.push('\n');
    }
    if let Some(r) = &c.remedy {
        s.push_str("remedy:\n");
        s.push_str(r);
        s.push('\n');
    }
    xml_text(&s)
}

fn test_case(host: &Host, phase: &Phase, c: &Check) -> TestCase {
    let status = match c.status.as_str() {
        "skip" => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(xml_text(&c.summary));
            s.set_description(body(c));
            s
        }
        "fail" | "error" => {
            let (kind, ty) = if c.status == "error" {
                (NonSuccessKind::Error, "krc.error")
            } else if c.severity == "advisory" || c.summary.ends_with(WARNING_FAILED) {
                (NonSuccessKind::Failure, "krc.warn")
            } else {
                (NonSuccessKind::Failure, "krc.fail")
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(xml_text(&c.summary));
            s.set_type(ty);
            s.set_description(body(c));
            s
        }
        _ => TestCaseStatus::success(),
    };
    let mut tc = TestCase::new(xml_text(&c.id), status);
    tc.set_classname(xml_text(&format!(
        "{}.krc.{}.{}",
        host.label,
        phase.phase,
        c.group()
    )));
    tc.set_time(secs(c.duration));
    tc
}

pub(crate) fn render(fleet: &Fleet) -> Result<String, RenderError> {
    let mut report = Report::new("krc fleet");
    let mut id = 0usize;
    for host in &fleet.hosts {
        for phase in &host.phases {
            let mut suite = TestSuite::new(xml_text(&format!("{}/{}", host.label, phase.phase)));
            suite.set_time(secs(phase.duration));
            if let Some(t) = phase.started.as_deref() {
                // The host report's timestamp without its zone letter,
                // as the Ant schema wants it.
                let t = t.trim_end_matches('Z');
                if t.len() == 19 && t.is_ascii() {
                    suite.extra.insert("timestamp".into(), t.into());
                }
            }
            suite.extra.insert(
                "hostname".into(),
                xml_text(non_empty(&host.hostname, "localhost")).into(),
            );
            suite.extra.insert(
                "package".into(),
                xml_text(&format!("{}.krc", host.label)).into(),
            );
            suite.extra.insert("id".into(), id.to_string().into());
            id += 1;
            suite.add_properties([
                Property::new("host", xml_text(&host.label)),
                Property::new("host.verdict", host.verdict.name()),
                Property::new("distribution", xml_text(&host.distribution())),
                Property::new(
                    "kernel",
                    xml_text(non_empty(host.meta_str("kernel"), "unknown")),
                ),
                Property::new(
                    "krc.version",
                    xml_text(non_empty(host.meta_str("krc_version"), "unknown")),
                ),
                Property::new("report", xml_text(&host.file)),
                Property::new("suite", xml_text(&phase.suite)),
            ]);
            if let Some(hid) = &host.host_id {
                suite.add_property(Property::new("host.id", xml_text(hid)));
            }
            for c in &phase.checks {
                suite.add_test_case(test_case(host, phase, c));
            }
            suite.set_system_out("");
            suite.set_system_err("");
            report.add_test_suite(suite);
        }
    }
    finish(&report)
}
