//! `krc-fixture.toml`: what a directory tree in git cannot hold.
//!
//! A fixture tree carries plain files; owners, permission bits beyond git's
//! 0644/0755, device nodes, file capabilities and the answers of live probes
//! are declared here. The format is documented in `fixtures/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub(crate) const FILE_NAME: &str = "krc-fixture.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixtureMeta {
    /// The user krc targets in this tree when `--user` is not given.
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// A sentence on what real machine this tree describes.
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Metadata overrides by host path.
    #[serde(default)]
    pub(crate) files: BTreeMap<String, FileOverride>,
    #[serde(default)]
    pub(crate) probes: ProbeAnswers,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileOverride {
    /// `file`, `dir` or `char`; required for paths absent from the tree.
    pub(crate) kind: Option<String>,
    pub(crate) major: Option<u32>,
    pub(crate) minor: Option<u32>,
    /// Octal permission bits, setuid included: `"4755"`.
    pub(crate) mode: Option<String>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    /// File capabilities as `getcap` prints them: `"cap_setuid=ep"`.
    pub(crate) caps: Option<String>,
}

/// Answers of live probes. An absent answer makes the probe "not run".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeAnswers {
    /// `"ok"`, or the failure as the live probe would report it.
    pub(crate) userns: Option<String>,
    /// What `systemctl --user is-system-running` printed, or its error.
    pub(crate) user_manager: Option<String>,
    pub(crate) rootless_lock_held: Option<bool>,
    /// First line of `PROGRAM --version`, by host path.
    #[serde(default)]
    pub(crate) versions: BTreeMap<String, String>,
}

impl FixtureMeta {
    /// Loads `ROOT/krc-fixture.toml`; an absent file is an empty one.
    pub(crate) fn load(root: &Path) -> Result<FixtureMeta, String> {
        let path = root.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FixtureMeta::default()),
            Err(e) => return Err(format!("failed to read {}: {e}", path.display())),
        };
        toml::from_str(&text).map_err(|e| {
            format!(
                "{}: {}",
                path.display(),
                crate::suite::config::toml_error_line(&text, &e)
            )
        })
    }
}
