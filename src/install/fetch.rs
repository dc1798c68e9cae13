//! The k3s artifacts (install script, binary, checksum file, and the user
//! unit `k3s-rootless.service` of the same tag): fetched from
//! a mirror over HTTPS (reqwest, rustls with ring; timeouts, bounded
//! retries) or read from an offline bundle, and every one verified against
//! a pinned SHA-256 before anything is written. A mismatch stops the run.
//!
//! Offline bundle layout (`--offline DIR`): `DIR/install.sh`,
//! `DIR/k3s` (`k3s-arm64`, `k3s-armhf`, `k3s-s390x` on those
//! architectures), `DIR/sha256sum-ARCH.txt`, `DIR/k3s-rootless.service`
//! and `DIR/pins.toml` (what
//! `krc pins` writes). Pins come from `--pins FILE`, else the bundle's
//! `pins.toml`, else krc's own table; without any, an online install
//! trusts the release's checksum file over TLS (`super::trust`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::action::ArtifactStore;
use super::fsops::sha256_hex;
use super::options::{K3sPin, Options};

pub(crate) use super::fetch_error::FetchError;

pub(crate) use super::trust::Pins;

/// (`amd64`, `k3s`): the checksum-file arch and the binary's name.
pub(crate) fn arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "aarch64" => ("arm64", "k3s-arm64"),
        "arm" => ("arm", "k3s-armhf"),
        "s390x" => ("s390x", "k3s-s390x"),
        _ => ("amd64", "k3s"),
    }
}

/// Upstream's user unit: taken from the same tag as the binary
/// (upstream: use the same version of k3s-rootless.service and k3s).
pub(crate) const UNIT_ARTIFACT: &str = "k3s-rootless.service";

/// The artifact names, in fetch order (the binary's name is the second).
pub(crate) fn artifact_names() -> [String; 4] {
    let (a, bin) = arch();
    [
        "install.sh".to_string(),
        bin.to_string(),
        format!("sha256sum-{a}.txt"),
        UNIT_ARTIFACT.to_string(),
    ]
}

/// Files of the source tree at the tag (not release assets): fetched
/// where install.sh is.
fn from_tree(name: &str) -> bool {
    name == "install.sh" || name == UNIT_ARTIFACT
}

/// Where an artifact comes from, for messages and the dry-run.
pub(crate) fn source(opts: &Options, name: &str) -> String {
    let r = opts.pin.reference();
    if let Some(dir) = &opts.offline {
        return dir.join(name).display().to_string();
    }
    match (&opts.mirror, &opts.pin) {
        (Some(m), _) if from_tree(name) => format!("{}/{name}", m.trim_end_matches('/')),
        (Some(m), _) => format!("{}/{}/{name}", m.trim_end_matches('/'), url_ref(r)),
        (None, _) if from_tree(name) => format!(
            "https://raw.githubusercontent.com/k3s-io/k3s/{}/{name}",
            url_ref(r)
        ),
        (None, K3sPin::Version(_)) => format!(
            "https://github.com/k3s-io/k3s/releases/download/{}/{name}",
            url_ref(r)
        ),
        (None, K3sPin::Commit(_)) => String::from(
            "(commit builds: pass --mirror URL where the CI artifacts are, or --offline DIR)",
        ),
    }
}

fn url_ref(r: &str) -> String {
    r.replace('+', "%2B")
}

/// The verified artifacts, in memory until a step writes them.
#[derive(Debug, Default)]
pub(crate) struct Artifacts {
    bytes: BTreeMap<String, Vec<u8>>,
    /// How they were verified (set once all of them were).
    trust: Option<super::trust::Trust>,
}

impl Artifacts {
    /// Every artifact krc accepted and its SHA-256, in fetch order.
    pub(crate) fn accepted(&self) -> Vec<(String, String)> {
        artifact_names()
            .into_iter()
            .filter_map(|n| self.bytes.get(&n).map(|b| (n.clone(), sha256_hex(b))))
            .collect()
    }
}

impl ArtifactStore for Artifacts {
    fn bytes(&self, name: &str) -> Result<&[u8], FetchError> {
        self.bytes
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| FetchError::NotFetched(name.to_string()))
    }

    fn verified(&self) -> Option<(&'static str, Vec<(String, String)>)> {
        self.trust.map(|t| (t.label(), self.accepted()))
    }
}

pub(crate) const TRIES: u32 = 3;

/// Fetches and verifies every artifact; nothing is returned (and so
/// nothing can be written) unless all of them match their pins.
pub(crate) fn fetch_all(opts: &Options, pins: &Pins) -> Result<Artifacts, FetchError> {
    let mut out = Artifacts::default();
    let token = token_for(opts)?;
    let client = if opts.offline.is_none() {
        Some(client()?)
    } else {
        None
    };
    for name in artifact_names() {
        // Without a pins file install.sh and the unit have no sum to
        // meet: like the upstream installer, krc takes them as fetched
        // from the tag over verified TLS (their sums are recorded).
        let src = source(opts, &name);
        let want = match pins.sum(&name) {
            Ok(w) => Some(w),
            Err(_) if pins.trust != super::trust::Trust::Pinned => None,
            // A pins file older than the unit artifact: the unit is taken
            // as without pins, where TLS can vouch for it.
            Err(_) if name == UNIT_ARTIFACT && !opts.require_pins => {
                unpinned_unit_ok(opts, &src)?;
                None
            }
            Err(e) => return Err(e),
        };
        let bytes = match (&opts.offline, &client) {
            (Some(dir), _) => read_bundle(dir, &name)?,
            (None, Some(c)) => download(c, &src, token)?,
            (None, None) => unreachable!("a client exists when not offline"),
        };
        let got = sha256_hex(&bytes);
        if let Some(want) = want
            && got != want
        {
            return Err(FetchError::Mismatch {
                name,
                src,
                got,
                want: want.to_string(),
            });
        }
        // A unit krc could not build from (no rootless k3s ExecStart) stops
        // the run here, before anything is written, not mid-install.
        if name == UNIT_ARTIFACT {
            super::unit::render(&bytes, "/usr/local/bin/k3s", opts.pin.reference())?;
        }
        out.bytes.insert(name, bytes);
    }
    // The binary must also match the release's own checksum file.
    let (a, bin) = arch();
    let listed = super::trust::listed(out.bytes(&format!("sha256sum-{a}.txt"))?, bin);
    let actual = sha256_hex(out.bytes(bin)?);
    match listed {
        Some(s) if s == actual => {
            out.trust = Some(pins.trust);
            Ok(out)
        }
        Some(listed) => Err(FetchError::NotAsListed {
            bin,
            arch: a,
            actual,
            listed,
        }),
        None => Err(FetchError::NotListed { bin, arch: a }),
    }
}

/// May an unpinned unit be taken from `src`? Over verified TLS (or plain
/// HTTP with `--insecure-mirror`), as without a pins file; never from a
/// bundle, which nothing vouches for.
fn unpinned_unit_ok(opts: &Options, src: &str) -> Result<(), FetchError> {
    if let Some(dir) = &opts.offline {
        return Err(FetchError::UnitUnpinned {
            from: opts
                .pins
                .clone()
                .unwrap_or_else(|| dir.join("pins.toml"))
                .display()
                .to_string(),
            name: UNIT_ARTIFACT.to_string(),
            tag: super::trust::cli_ref(opts),
        });
    }
    if src.starts_with("https://") || (src.starts_with("http://") && opts.insecure_mirror) {
        return Ok(());
    }
    Err(FetchError::InsecureMirror {
        mirror: opts.mirror.clone().unwrap_or_default(),
    })
}

/// The token to send, checked before any request: only commit builds need
/// one (release downloads are public), and it never travels in clear
/// text, so a commit pin from an `http://` mirror is refused outright.
fn token_for(opts: &Options) -> Result<Option<&str>, FetchError> {
    if opts.offline.is_some() || !matches!(opts.pin, K3sPin::Commit(_)) {
        return Ok(None);
    }
    if let Some(url) = artifact_names()
        .iter()
        .map(|n| source(opts, n))
        .find(|u| u.contains("://") && !u.starts_with("https://"))
    {
        return Err(FetchError::TokenInClear {
            scheme: url
                .split("://")
                .next()
                .unwrap_or("a non-https scheme")
                .to_string(),
        });
    }
    Ok(opts.github_token.as_deref())
}

/// One download with the client and token rules of [`fetch_all`].
pub(crate) fn download_one(opts: &Options, url: &str) -> Result<Vec<u8>, FetchError> {
    let token = token_for(opts)?;
    download(&client()?, url, token)
}

/// An error with its causes: reqwest's own message is only the outermost.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// An artifact of the bundle, through the file layer: the bundle may be
/// writable by the target user, so no link in it is followed (not even
/// to `/dev/zero`), a FIFO or device is refused at once, and at most the
/// artifact cap is read.
pub(crate) fn read_bundle(dir: &Path, name: &str) -> Result<Vec<u8>, FetchError> {
    let p = dir.join(name);
    crate::safefs::Root::open(dir)
        .and_then(|root| root.never_follow().read(name, crate::safefs::Cap::Artifact))
        .map_err(|source| FetchError::Bundle {
            path: p.display().to_string(),
            source,
        })
}

/// reqwest is built without a TLS provider; ring is krc's one (main
/// installs it too; this keeps every caller, tests included, safe).
pub(crate) fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client() -> Result<reqwest::blocking::Client, FetchError> {
    ensure_tls_provider();
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("krc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(FetchError::Client)
}

fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    token: Option<&str>,
) -> Result<Vec<u8>, FetchError> {
    let mut attempt = 1;
    loop {
        let mut req = client.get(url);
        // token_for already refused plain http; this keeps it so for any caller.
        if let Some(t) = token.filter(|_| url.starts_with("https://")) {
            req = req.bearer_auth(t);
        }
        match req
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.bytes())
        {
            Ok(b) => return Ok(b.to_vec()),
            // A 4xx will not get better by asking again.
            Err(e) if attempt == TRIES || e.status().is_some_and(|s| s.is_client_error()) => {
                // reqwest's errors carry the URL and no header: the token
                // cannot reach the message.
                return Err(FetchError::Download {
                    url: url.to_string(),
                    source: e.without_url(),
                });
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::options::{RawOptions, validate};

    fn opts(commit: bool, mirror: &str) -> Options {
        let raw = RawOptions {
            k3s_commit: commit.then(|| "a".repeat(40)),
            mirror: Some(mirror.into()),
            ..Default::default()
        };
        validate(&raw, Some("s3cr3t".into())).unwrap()
    }

    #[test]
    fn the_token_goes_only_to_commit_builds_over_https() {
        assert_eq!(token_for(&opts(false, "https://m.example")).unwrap(), None);
        assert_eq!(token_for(&opts(false, "http://m.example")).unwrap(), None);
        assert_eq!(
            token_for(&opts(true, "https://m.example")).unwrap(),
            Some("s3cr3t")
        );
        let e = token_for(&opts(true, "http://m.example"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("only over https") && !e.contains("s3cr3t"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}
