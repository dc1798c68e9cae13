//! Suite files (`suites/*.toml`): parsing and validation. Every mistake is
//! reported with the file, the line and the key, before anything runs.

use std::path::Path;

/// The longest wait any flag or suite may ask for: one day. Longer values
/// are typos, and `u64::MAX` seconds overflow `Instant` arithmetic.
pub(crate) const MAX_WAIT_SECS: u64 = 24 * 60 * 60;

use serde::Deserialize;
use toml::Spanned;

use crate::checks::params::{ParamError, ParamsPatch};
use crate::checks::{self, Check, Params, Phase, Severity};
use crate::settings::RootlessPatch;

/// The default suites, embedded in the binary.
pub(crate) const PREFLIGHT: &str = include_str!("../../suites/preflight.toml");
pub(crate) const ACCEPTANCE: &str = include_str!("../../suites/acceptance.toml");

#[derive(Debug, thiserror::Error)]
pub(crate) enum SuiteError {
    #[error("failed to read suite {path}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a suite krc accepts: the message names the file,
    /// the line and what is wrong.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    phase: Phase,
    #[serde(default)]
    params: ParamsPatch,
    #[serde(default)]
    check: Vec<CheckEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckEntry {
    id: Spanned<String>,
    severity: Option<Severity>,
    ports: Option<Vec<u16>>,
    cidrs: Option<Vec<String>>,
    cluster_cidrs: Option<Vec<String>>,
    min_memory_mib: Option<u64>,
    min_cpus: Option<u32>,
    probe_ports: Option<Vec<u16>>,
    timeout_secs: Option<u64>,
}

impl CheckEntry {
    fn patch(&self) -> ParamsPatch {
        ParamsPatch {
            user: None,
            ports: self.ports.clone(),
            cidrs: self.cidrs.clone(),
            cluster_cidrs: self.cluster_cidrs.clone(),
            min_memory_mib: self.min_memory_mib,
            min_cpus: self.min_cpus,
            probe_ports: self.probe_ports.clone(),
            timeout_secs: self.timeout_secs,
            ..ParamsPatch::default()
        }
    }
}

/// One check as a suite runs it.
#[derive(Debug, Clone)]
pub(crate) struct SuiteEntry {
    pub(crate) check: &'static Check,
    pub(crate) severity: Severity,
    pub(crate) params: Params,
}

#[derive(Debug, Clone)]
pub(crate) struct Suite {
    pub(crate) name: String,
    pub(crate) phase: Phase,
    /// The target user named by the suite, if any (`--user` wins).
    pub(crate) user: Option<String>,
    pub(crate) entries: Vec<SuiteEntry>,
}

impl Suite {
    pub(crate) fn builtin(phase: Phase) -> Suite {
        let text = match phase {
            Phase::Acceptance => ACCEPTANCE,
            _ => PREFLIGHT,
        };
        // The embedded suites are tested; a failure here is a build defect.
        Suite::parse(text, &format!("<built-in {}.toml>", phase.name()))
            .expect("built-in suite is valid")
    }

    /// The suite in `path`, or the built-in one of `phase`; a file of
    /// another phase is an error.
    pub(crate) fn for_phase(path: Option<&Path>, phase: Phase) -> Result<Suite, SuiteError> {
        let suite = match path {
            Some(path) => Suite::load(path)?,
            None => Suite::builtin(phase),
        };
        if suite.phase != phase {
            return Err(SuiteError::Invalid(format!(
                "suite {:?} has phase = \"{}\"; this command runs {} suites",
                suite.name,
                suite.phase.name(),
                phase.name()
            )));
        }
        Ok(suite)
    }

    /// The same suite judging by these rootless settings over its own
    /// `[params]`: flags (or the install's settings) win over the file,
    /// as `--user` does.
    pub(crate) fn with_rootless(mut self, rootless: &RootlessPatch) -> Suite {
        for e in &mut self.entries {
            e.params.rootless = rootless.over(e.params.rootless);
        }
        self
    }

    /// The rootless settings the suite judges by (its first check's; one
    /// run gives every check the same), or the defaults of an empty suite.
    pub(crate) fn rootless(&self) -> crate::settings::RootlessSettings {
        self.entries
            .first()
            .map(|e| e.params.rootless)
            .unwrap_or_default()
    }

    /// The same suite expecting this k3s release or commit (`install.binary`).
    pub(crate) fn with_pin(mut self, pin: &str) -> Suite {
        for e in &mut self.entries {
            e.params.accept.k3s_version = Some(pin.to_string());
        }
        self
    }

    /// The width of the longest check id, for aligned output.
    pub(crate) fn id_width(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.check.id.len())
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn load(path: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Suite::parse(&text, &path.display().to_string())
    }

    pub(crate) fn parse(text: &str, file: &str) -> Result<Suite, SuiteError> {
        let raw: SuiteFile = toml::from_str(text).map_err(|e| {
            SuiteError::Invalid(format!(
                "{file}: {}",
                crate::fsutil::toml_error_line(text, &e)
            ))
        })?;
        if let Some(t) = raw.params.timeout_secs {
            check_timeout(t).map_err(|e| SuiteError::Invalid(format!("{file}: [params] {e}")))?;
        }
        let mut base = Params::default();
        raw.params
            .apply(&mut base)
            .map_err(|e| SuiteError::Invalid(format!("{file}: [params] {e}")))?;
        let mut entries = Vec::new();
        for c in &raw.check {
            let line = crate::fsutil::line_of(text, c.id.span().start);
            let id = c.id.get_ref();
            let check = checks::find(id).ok_or_else(|| {
                SuiteError::Invalid(format!(
                    "{file}:{line}: unknown check id {id:?} (`krc list` shows the ids)"
                ))
            })?;
            if check.phase != raw.phase {
                return Err(SuiteError::Invalid(format!(
                    "{file}:{line}: check {id:?} belongs to the {} phase, not to this {} suite",
                    check.phase.name(),
                    raw.phase.name()
                )));
            }
            if entries.iter().any(|e: &SuiteEntry| e.check.id == check.id) {
                return Err(SuiteError::Invalid(format!(
                    "{file}:{line}: check {id:?} is listed twice"
                )));
            }
            if let Some(t) = c.timeout_secs {
                check_timeout(t).map_err(|e| SuiteError::Invalid(format!("{file}:{line}: {e}")))?;
            }
            let mut params = base.clone();
            c.patch()
                .apply(&mut params)
                .map_err(|e| SuiteError::Invalid(format!("{file}:{line}: {e}")))?;
            entries.push(SuiteEntry {
                check,
                severity: c.severity.unwrap_or(check.severity),
                params,
            });
        }
        if entries.is_empty() {
            return Err(SuiteError::Invalid(format!(
                "{file}: the suite names no [[check]]"
            )));
        }
        Ok(Suite {
            name: raw.name.unwrap_or_else(|| raw.phase.name().to_string()),
            phase: raw.phase,
            user: raw.params.user,
            entries,
        })
    }
}

/// A wait from a suite file: 1 s to one day, as `--timeout` (a larger one
/// overflows the clock arithmetic of the checks that wait).
fn check_timeout(secs: u64) -> Result<(), ParamError> {
    if (1..=MAX_WAIT_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(ParamError::Timeout {
            secs,
            max: MAX_WAIT_SECS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each default is stated once, in code; the built-in suites spell out
    /// their `[params]` for readers, so they must say the same.
    #[test]
    fn builtin_suites_params_are_the_defaults() {
        for (phase, text) in [
            (Phase::Preflight, PREFLIGHT),
            (Phase::Acceptance, ACCEPTANCE),
        ] {
            let raw: SuiteFile = toml::from_str(text).unwrap();
            let mut p = Params::default();
            raw.params.apply(&mut p).unwrap();
            assert_eq!(p, Params::default(), "{}", phase.name());
            for e in Suite::builtin(phase).entries {
                assert_eq!(e.params, Params::default(), "{}", e.check.id);
            }
        }
        // And they spell them out: a key left out could drift unseen.
        for key in ["rootless_cidr", "cluster_cidrs", "ports", "min_memory_mib"] {
            assert!(PREFLIGHT.contains(&format!("\n{key} = ")), "{key}");
        }
        for key in [
            "rootless_cidr",
            "port_driver",
            "mtu",
            "disable_host_loopback",
            "api_port",
        ] {
            assert!(ACCEPTANCE.contains(&format!("\n{key} = ")), "{key}");
        }
    }

    #[test]
    fn flags_win_over_the_suite_file() {
        let s = Suite::parse(
            "phase = \"acceptance\"\n[params]\nrootless_cidr = \"10.141.0.0/16\"\nmtu = 9000\n[[check]]\nid = \"unit.present\"\n",
            "s.toml",
        )
        .unwrap();
        let flags = RootlessPatch {
            cidr: Some("10.241.0.0/16".parse().unwrap()),
            ..Default::default()
        };
        let p = &s.with_rootless(&flags).with_pin("v1.33.5+k3s1").entries[0].params;
        assert_eq!(p.rootless.cidr.to_string(), "10.241.0.0/16");
        assert_eq!(p.rootless.mtu.to_string(), "9000");
        assert_eq!(p.accept.k3s_version.as_deref(), Some("v1.33.5+k3s1"));
    }

    #[test]
    fn builtin_preflight_lists_every_preflight_check() {
        let s = Suite::builtin(Phase::Preflight);
        let ids: Vec<&str> = s.entries.iter().map(|e| e.check.id).collect();
        let all: Vec<&str> = checks::CATALOGUE
            .iter()
            .filter(|c| c.phase == Phase::Preflight)
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, all);
    }

    #[test]
    fn builtin_acceptance_lists_every_acceptance_check() {
        let s = Suite::builtin(Phase::Acceptance);
        let ids: Vec<&str> = s.entries.iter().map(|e| e.check.id).collect();
        let all: Vec<&str> = checks::CATALOGUE
            .iter()
            .filter(|c| c.phase == Phase::Acceptance)
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, all);
        assert_eq!(s.entries[0].params.accept.probe_ports, vec![81, 1024, 8080]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = Suite::parse(
            "phase = \"preflight\"\n[[check]]\nid = \"cgroup.unified\"\nsevrity = \"advisory\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml: line 4:") && e.contains("sevrity"),
            "{e}"
        );
        let e = Suite::parse(
            "phase = \"preflight\"\n\n[[check]]\nid = \"cgroup.unifed\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml:4: unknown check id \"cgroup.unifed\""),
            "{e}"
        );
        let e = Suite::parse("phase = \"preflight\"\n[params]\ncluster_cidrs = [\"10.41.0.1/16\"]\n[[check]]\nid = \"net.cidr\"\n", "s.toml").unwrap_err()
        .to_string();
        assert!(e.contains("host bits"), "{e}");
    }

    #[test]
    fn waits_are_bounded_when_parsing() {
        let e = Suite::parse(
            "phase = \"acceptance\"\n[[check]]\nid = \"pods.system\"\ntimeout_secs = 10000000000000000000\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml:3: timeout_secs = 10000000000000000000: give 1 to 86400"),
            "{e}"
        );
        let e = Suite::parse(
            "phase = \"acceptance\"\n[params]\ntimeout_secs = 0\n[[check]]\nid = \"pods.system\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml: [params] timeout_secs = 0"), "{e}");
    }

    #[test]
    fn per_check_params_override_globals() {
        let s = Suite::parse(
            "phase = \"preflight\"\n[params]\nports = [1]\n[[check]]\nid = \"ports.free\"\nports = [2]\nseverity = \"advisory\"\n[[check]]\nid = \"net.cidr\"\n",
            "s.toml",
        )
        .unwrap();
        assert_eq!(s.entries[0].params.ports, vec![2]);
        assert_eq!(s.entries[0].severity, Severity::Advisory);
        assert_eq!(s.entries[1].params.ports, vec![1]);
    }
}
