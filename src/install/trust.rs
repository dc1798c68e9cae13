//! Where krc's trust in the k3s artifacts comes from, decided before
//! anything changes: a pins file (`--pins`, an offline bundle's
//! `pins.toml`), or by default what upstream's own installer trusts, the
//! release's `sha256sum-ARCH.txt` fetched over verified TLS. The label is
//! what every report and the journal say was trusted.

use std::collections::BTreeMap;

use super::fetch::{self, FetchError, Pins, arch, source};
use super::fsops::sha256_hex;
use super::options::Options;

/// How the artifacts of a run are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Trust {
    /// Every artifact against a SHA-256 in a pins file.
    #[default]
    Pinned,
    /// The binary against the release's checksum file, that file and
    /// install.sh as fetched over verified TLS (upstream's own trust).
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

/// The pins for a run without a pins file: the binary's line of the
/// release's checksum file, and that file's own sum (so the file fetched
/// again later must be the same). install.sh gets no pin: it is taken
/// from the same source and its sum is recorded when it is fetched.
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
    let mut out = format!("ref = \"{reference}\"\n\n[sha256]\n");
    for (name, sum) in sums {
        out.push_str(&format!("\"{name}\" = \"{sum}\"\n"));
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
