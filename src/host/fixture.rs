//! `krc-fixture.toml`: what a directory tree in git cannot hold.
//!
//! A fixture tree carries plain files; owners, permission bits beyond git's
//! 0644/0755, device nodes, file capabilities and the answers of live probes
//! are declared here. The format is documented in `fixtures/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub(crate) const FILE_NAME: &str = "krc-fixture.toml";

/// A `krc-fixture.toml` krc cannot use. Each is one line of stderr (krc
/// stops with exit status 2), so an OS error is part of the sentence
/// rather than a cause printed below it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FixtureError {
    #[error("failed to read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    /// `line`: the line of the first byte that is not UTF-8.
    #[error("{path}: line {line}: not UTF-8 text")]
    NotText { path: String, line: usize },
    /// `what`: the line and what is wrong there, as the TOML parser says.
    #[error("{path}: {what}")]
    Invalid { path: String, what: String },
}

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
    /// Required for paths absent from the tree.
    pub(crate) kind: Option<OverrideKind>,
    pub(crate) major: Option<u32>,
    pub(crate) minor: Option<u32>,
    /// Permission bits, setuid included, written in octal: `"4755"`.
    /// Checked when the file is loaded, so a typo is an exit-2 error that
    /// names the line rather than a surprise in some check's verdict.
    #[serde(default, deserialize_with = "octal_mode")]
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    /// File capabilities as `getcap` prints them: `"cap_setuid=ep"`.
    pub(crate) caps: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OverrideKind {
    File,
    Dir,
    Char,
}

fn octal_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let text = String::deserialize(d)?;
    u32::from_str_radix(&text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "mode {text:?} is not octal permission bits such as \"0644\" or \"4755\""
            ))
        })
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
    /// What `getsubids USER` (`uid`) and `getsubids -g USER` (`gid`)
    /// printed, or their error; asked only when nsswitch.conf names a
    /// `subid:` source other than files.
    #[serde(default)]
    pub(crate) getsubids: BTreeMap<String, String>,
}

impl FixtureMeta {
    /// Loads `ROOT/krc-fixture.toml`; an absent file is an empty one.
    /// `dir` is the tree's root, open (the one descriptor every read of
    /// the run resolves from).
    pub(crate) fn load(
        root: &Path,
        dir: &super::rootdir::RootDir,
    ) -> Result<FixtureMeta, FixtureError> {
        let path = root.join(FILE_NAME);
        // Through the tree's root: a krc-fixture.toml that is a symlink to
        // /etc/shadow reads the tree's etc/shadow, never the machine's.
        let bytes = match dir.read(&format!("/{FILE_NAME}")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FixtureMeta::default()),
            Err(error) => {
                return Err(FixtureError::Read {
                    path: path.display().to_string(),
                    error,
                });
            }
        };
        FixtureMeta::parse(bytes, &path.display().to_string())
    }

    /// The file's bytes as metadata; `path` is only for messages.
    pub(crate) fn parse(bytes: Vec<u8>, path: &str) -> Result<FixtureMeta, FixtureError> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + good.iter().filter(|b| **b == b'\n').count();
            FixtureError::NotText {
                path: path.to_string(),
                line,
            }
        })?;
        toml::from_str(&text).map_err(|e| FixtureError::Invalid {
            path: path.to_string(),
            what: crate::fsutil::toml_error_line(&text, &e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: impl AsRef<[u8]>) -> Result<FixtureMeta, FixtureError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        FixtureMeta::load(
            dir.path(),
            &super::super::rootdir::RootDir::open(dir.path()).unwrap(),
        )
    }

    #[test]
    fn bad_kind_or_mode_names_the_line() {
        let ok = load_text("[files.\"/dev/fuse\"]\nkind = \"char\"\nmode = \"4755\"\n").unwrap();
        let f = &ok.files["/dev/fuse"];
        assert_eq!((f.kind, f.mode), (Some(OverrideKind::Char), Some(0o4755)));
        for (text, line) in [
            ("user = \"a\"\n[files.\"/x\"]\nmode = \"9z\"\n", "line 3"),
            ("[files.\"/x\"]\n\nkind = \"socket\"\n", "line 3"),
            ("[files.\"/x\"]\nmode = \"17777\"\n", "line 2"),
        ] {
            let e = load_text(text).unwrap_err().to_string();
            assert!(e.contains(FILE_NAME) && e.contains(line), "{text:?}: {e}");
        }
        // Not text at all: still the line (of the first bad byte).
        let e = load_text(b"user = \"a\"\n\n# caf\xc3\xa9\ndescription = \"\xff\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4: not UTF-8"), "{e}");
    }
}
