//! Where krc's trust in the k3s artifacts comes from, decided before
//! anything changes: a pins file (`--pins`, an offline bundle's
//! `pins.toml`), or by default what upstream's own installer trusts, the
//! release's `sha256sum-ARCH.txt` fetched over verified TLS. The label is
//! what every report and the journal say was trusted.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::fetch::{self, FetchError, arch, artifact_names, read_bundle, source};
use super::fsops::sha256_hex;
use super::options::{K3sPin, Options};

/// How the artifacts of a run are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Trust {
    /// Every artifact against a SHA-256 in a pins file.
    #[default]
    Pinned,
    /// The binary against the release's checksum file, that file,
    /// install.sh and the user unit as fetched over verified TLS
    /// (upstream's own trust).
    ReleaseTls,
    /// As above, over plain HTTP: only with `--insecure-mirror`.
    ReleaseHttp,
}

impl Trust {
    /// The label of the reports (`trust` in JSON, a JUnit property).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Trust::Pinned => "pinned",
            Trust::ReleaseTls => "release checksums over TLS",
            Trust::ReleaseHttp => "release checksums over plain HTTP (--insecure-mirror)",
        }
    }
}

/// SHA-256 pins for one k3s release or commit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pins {
    /// The release tag or commit these pins are for.
    #[serde(rename = "ref")]
    pub(crate) reference: String,
    /// Set when the binary is not a real k3s (tests, labs): the reason.
    pub(crate) stand_in: Option<String>,
    pub(crate) sha256: BTreeMap<String, String>,
    /// Where these sums come from (not in the file).
    #[serde(skip)]
    pub(crate) trust: Trust,
}

/// krc's own pins. Empty in this build: no k3s release artifact could be
/// fetched and hashed where krc was built, and a pin krc did not compute
/// itself would be worse than none. Pass `--pins FILE` meanwhile.
const BUILTIN_PINS: &[(&str, &str)] = &[];

impl Pins {
    /// The pins of this run: `--pins FILE`, else the offline bundle's
    /// `pins.toml`, else krc's own, else (unless `--require-pins`) the
    /// release's checksum file over TLS.
    pub(crate) fn load(opts: &Options) -> Result<Pins, FetchError> {
        let want = opts.pin.reference();
        if let Some(p) = &opts.pins {
            let text = std::fs::read_to_string(p).map_err(|source| FetchError::PinsUnreadable {
                path: p.display().to_string(),
                source,
            })?;
            return Pins::parse(&text, p.display().to_string(), opts);
        }
        if let Some(dir) = &opts.offline {
            match read_bundle(dir, "pins.toml") {
                Ok(b) => {
                    let text = String::from_utf8_lossy(&b).into_owned();
                    return Pins::parse(&text, dir.join("pins.toml").display().to_string(), opts);
                }
                Err(FetchError::Bundle { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some((_, t)) = BUILTIN_PINS.iter().find(|(r, _)| *r == want) {
            return Pins::parse(t, "krc's built-in pins".to_string(), opts);
        }
        if opts.require_pins {
            return Err(FetchError::PinsRequired {
                reference: opts.pin.to_string(),
                tag: cli_ref(opts),
            });
        }
        if let Some(dir) = &opts.offline {
            return Err(FetchError::BundleUnpinned {
                dir: dir.display().to_string(),
                tag: cli_ref(opts),
            });
        }
        from_release(opts)
    }

    fn parse(text: &str, from: String, opts: &Options) -> Result<Pins, FetchError> {
        let pins = Pins::parse_text(
            text,
            from.clone(),
            opts.pin.reference(),
            &opts.pin.to_string(),
        )?;
        if opts.require_pins
            && let Some(name) = artifact_names()
                .into_iter()
                .find(|n| !pins.sha256.contains_key(n))
        {
            return Err(FetchError::PinsIncomplete {
                from,
                name,
                tag: cli_ref(opts),
            });
        }
        Ok(pins)
    }

    /// A pins file's text for the release `want` (`shown` as the user
    /// named it), checked for its release and the shape of every sum;
    /// `from` says where the text came from.
    pub(crate) fn parse_text(
        text: &str,
        from: String,
        want: &str,
        shown: &str,
    ) -> Result<Pins, FetchError> {
        let pins: Pins = toml::from_str(text).map_err(|e| FetchError::PinsMalformed {
            from: from.clone(),
            reason: e.message().to_string(),
        })?;
        if pins.reference != want {
            return Err(FetchError::PinsForOther {
                from,
                pinned: pins.reference,
                wanted: shown.to_string(),
            });
        }
        for (name, sum) in &pins.sha256 {
            if sum.len() != 64 || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(FetchError::PinNotHex {
                    from,
                    name: name.clone(),
                });
            }
        }
        Ok(pins)
    }

    pub(crate) fn sum(&self, name: &str) -> Result<&str, FetchError> {
        self.sha256
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| FetchError::NoPin(name.to_string()))
    }
}

/// The pin as krc's flags take it, for a remedy that pastes:
/// `v1.33.5+k3s1`, or `--k3s-commit SHA`.
pub(crate) fn cli_ref(opts: &Options) -> String {
    match &opts.pin {
        K3sPin::Version(v) => v.clone(),
        K3sPin::Commit(c) => format!("--k3s-commit {c}"),
    }
}

/// The pins for a run without a pins file: the binary's line of the
/// release's checksum file, and that file's own sum (so the file fetched
/// again later must be the same). install.sh and the user unit get no
/// pin: they are taken from the tag over the same verified TLS, and their
/// sums are recorded when they are fetched.
pub(crate) fn from_release(opts: &Options) -> Result<Pins, FetchError> {
    let (a, bin) = arch();
    let name = format!("sha256sum-{a}.txt");
    let url = source(opts, &name);
    let trust = if url.starts_with("https://") {
        Trust::ReleaseTls
    } else if url.starts_with("http://") && opts.insecure_mirror {
        Trust::ReleaseHttp
    } else if url.starts_with("http://") {
        return Err(FetchError::InsecureMirror {
            mirror: opts.mirror.clone().unwrap_or_default(),
        });
    } else {
        // A commit without --mirror: `source` says what to pass.
        return Err(FetchError::NoSource(url));
    };
    let sums = fetch::download_one(opts, &url)?;
    let listed = listed(&sums, bin).ok_or(FetchError::NotListed { bin, arch: a })?;
    let mut sha256 = BTreeMap::new();
    sha256.insert(bin.to_string(), listed);
    sha256.insert(name, sha256_hex(&sums));
    Ok(Pins {
        reference: opts.pin.reference().to_string(),
        stand_in: None,
        sha256,
        trust,
    })
}

/// The SHA-256 a `sha256sum` file lists for `bin` (`SUM  NAME` or
/// `SUM *NAME`), if it is 64 hex digits.
pub(crate) fn listed(sums: &[u8], bin: &str) -> Option<String> {
    String::from_utf8_lossy(sums)
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(_, f)| f.trim().trim_start_matches('*') == bin)
        .map(|(s, _)| s.to_ascii_lowercase())
        .filter(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A pins file for `artifacts` (name, sha256), in the format `--pins` reads.
pub(crate) fn pins_toml(reference: &str, sums: &[(String, String)]) -> String {
    // TOML's own quoting: a reference is checked, but never trusted to be
    // free of quotes.
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!("ref = {}\n\n[sha256]\n", q(reference));
    for (name, sum) in sums {
        out.push_str(&format!("{} = {}\n", q(name), q(sum)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_found_only_for_the_exact_name_and_a_real_sum() {
        let s = format!(
            "{}  k3s\n{}  k3s-arm64\nnothex  k3s-s390x\n",
            "a".repeat(64),
            "b".repeat(64)
        );
        assert_eq!(listed(s.as_bytes(), "k3s"), Some("a".repeat(64)));
        assert_eq!(listed(s.as_bytes(), "k3s-arm64"), Some("b".repeat(64)));
        assert_eq!(listed(s.as_bytes(), "k3s-s390x"), None);
        assert_eq!(listed(s.as_bytes(), "k3s-armhf"), None);
    }
}
