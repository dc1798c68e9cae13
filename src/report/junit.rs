//! JUnit XML, written with quick-junit and valid against both schemas in
//! `tests/data/junit/`: the strict Ant one and Jenkins xUnit's.
//!
//! One `<testsuite>` per phase; `classname` is `krc.<phase>.<group>`, `name`
//! the check id. A failure's message is the one-line summary and its body the
//! evidence and remedy.
//!
//! Warnings: both schemas call a testcase without failure a pass, and
//! Ant's allows no output inside a testcase, so a warning is made visible
//! where both schemas allow it: a `krc.warnings` property of the testsuite
//! (count and ids) and the testsuite's `<system-out>` (each warning with its
//! evidence). With `--warnings-as-failures` a warning is a `<failure
//! type="krc.warn">`, which every consumer counts.
//!
//! Text: XML allows tab, newline and carriage return, and they are kept
//! (quick-junit would drop tab and CR: they pass through it as private-use
//! placeholders and come out as `&#9;` and `&#13;`, which also survive
//! attribute normalisation). Every other control character, and the
//! bidirectional overrides, are written visibly (`\x1b`, `\u{202e}`).

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CheckRecord, PhaseReport, RunMeta};
use crate::checks::Status;
use crate::fsutil::utc_timestamp;

/// quick-junit could not write the report.
#[derive(Debug, thiserror::Error)]
#[error("failed to render JUnit XML")]
pub(crate) struct RenderError(#[source] quick_junit::SerializeError);

pub(crate) fn render(meta: &RunMeta, phases: &[PhaseReport]) -> Result<String, RenderError> {
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
        if let Some(t) = &meta.trust {
            suite.add_property(Property::new("trust", t.as_str()));
        }
        for (name, sum) in &meta.sha256 {
            suite.add_property(Property::new(
                format!("sha256.{name}").as_str(),
                sum.as_str(),
            ));
        }
        let warned: Vec<&CheckRecord> = p
            .records
            .iter()
            .filter(|r| r.status == Status::Warn)
            .collect();
        if !warned.is_empty() {
            let ids: Vec<&str> = warned.iter().map(|r| r.id.as_str()).collect();
            suite.add_property(Property::new(
                "krc.warnings",
                xml_text(&format!("{}: {}", ids.len(), ids.join(", "))),
            ));
        }
        let mut warnings = String::new();
        for r in &p.records {
            suite.add_test_case(test_case(r));
        }
        for r in warned {
            warnings.push_str(&format!("WARN {}: {}\n{}\n", r.id, r.summary, body(r)));
        }
        suite.set_system_out(xml_text(&warnings));
        suite.set_system_err("");
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(RenderError)?;
    Ok(bare_root(&xml).replace(TAB, "&#9;").replace(CR, "&#13;"))
}

/// Stand-ins for tab and carriage return while quick-junit handles the
/// text (it strips both); the rendered XML gets character references.
const TAB: char = '\u{E009}';
const CR: char = '\u{E00D}';

/// Host text made fit for XML: tab, newline and CR kept (see the module
/// doc), other control characters, bidirectional overrides, the stand-ins
/// themselves and the non-characters U+FFFE/U+FFFF written visibly.
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(TAB),
            '\r' => out.push(CR),
            '\n' => out.push('\n'),
            c if c.is_control() && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{E009}'
            | '\u{E00D}'
            | '\u{FFFE}'
            | '\u{FFFF}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
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
    xml_text(&s)
}

/// How a skipped-unjudged required check's message starts.
pub(crate) const UNJUDGED: &str = "unjudged, the run is inconclusive";

fn test_case(r: &CheckRecord) -> TestCase {
    let status = match r.status {
        Status::Pass | Status::Warn => TestCaseStatus::success(),
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            // A required check that could not be judged makes the run
            // inconclusive (exit 5): CI must see it is not a plain skip.
            // (The ant schema allows no `type` on <skipped>: the message
            // says it.)
            if r.unjudged_required() {
                s.set_message(xml_text(&format!("{UNJUDGED}: {}", r.summary)));
            } else {
                s.set_message(xml_text(&r.summary));
            }
            s.set_description(body(r));
            s
        }
        Status::Fail | Status::Error => {
            let (kind, ty) = if r.is_failed_warning() {
                (NonSuccessKind::Failure, "krc.warn")
            } else if r.status == Status::Fail {
                (NonSuccessKind::Failure, "krc.fail")
            } else {
                (NonSuccessKind::Error, "krc.error")
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(xml_text(&r.summary));
            s.set_type(ty);
            s.set_description(body(r));
            s
        }
    };
    let mut tc = TestCase::new(xml_text(&r.id), status);
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
            unjudged: false,
            prerequisite: None,
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
            trust: None,
            sha256: Default::default(),
        };
        let xml = super::render(&meta, &phases).unwrap();
        assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
        for name in ["preflight", "install", "acceptance"] {
            assert!(xml.contains(&format!("name=\"{name}\"")), "{xml}");
        }
        let json = super::super::json::render(
            &meta,
            &phases,
            super::super::json::Ending {
                verdict: "failed",
                exit_status: 1,
            },
        );
        assert_eq!(json.matches("\"phase\": \"").count(), 3 + 6, "{json}");
        let have_xmllint = std::process::Command::new("xmllint")
            .arg("--version")
            .output()
            .is_ok();
        // Vendored in the repository (tests/data/junit/README.md).
        let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit");
        if !have_xmllint {
            assert!(
                std::env::var("KRC_REQUIRE_LAB").as_deref() != Ok("1"),
                "KRC_REQUIRE_LAB=1 but xmllint is not installed (Debian: libxml2-utils)"
            );
            eprintln!("SKIP schema validation: xmllint is not installed (Debian: libxml2-utils)");
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

    /// `memory\t4\t12\t1` (a /proc/cgroups line) keeps its tabs, in the
    /// message attribute and in the body; an escape byte is shown, not lost.
    #[test]
    fn tabs_and_carriage_returns_are_kept_other_controls_shown() {
        let mut r = record(Phase::Preflight, "cgroup.memory", Status::Fail);
        r.summary = "memory\t4\t12\t0 (disabled)\r".into();
        r.evidence = vec![
            "memory\t4\t12\t0".into(),
            "bell\u{7} esc\u{1b}[31m \u{e009}".into(),
        ];
        let mut w = record(Phase::Preflight, "cgroup.cpu", Status::Warn);
        w.summary = "cpu\tweight".into();
        let phase = PhaseReport {
            phase: Phase::Preflight,
            suite: "preflight".into(),
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            records: vec![r, w],
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
        };
        let xml = super::render(&meta, &[phase]).unwrap();
        assert!(
            xml.contains("message=\"memory&#9;4&#9;12&#9;0 (disabled)&#13;\""),
            "{xml}"
        );
        assert!(xml.contains("observed: memory&#9;4&#9;12&#9;0\n"), "{xml}");
        assert!(
            xml.contains("bell\\x07 esc\\x1b[31m \\u{e009}"),
            "control characters are written visibly: {xml}"
        );
        assert!(
            xml.contains("name=\"krc.warnings\" value=\"1: cgroup.cpu\""),
            "a warning is a property of its testsuite: {xml}"
        );
        assert!(xml.contains("WARN cgroup.cpu: cpu&#9;weight"), "{xml}");
        assert!(!xml.contains('\u{e009}') && !xml.contains('\u{7}'), "{xml}");
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
