//! What `krc install` was asked to do, validated before anything is
//! touched: a bad CIDR, MTU, port driver or pin is a one-line usage error.

use std::path::PathBuf;

use crate::settings::{RootlessFlags, RootlessSettings};

/// The k3s release krc installs when neither `--k3s-version` nor
/// `--k3s-commit` is given.
pub(crate) const DEFAULT_K3S_VERSION: &str = "v1.33.5+k3s1";

/// Which k3s to install: a release tag or a commit (CI artifacts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum K3sPin {
    Version(String),
    Commit(String),
}

impl K3sPin {
    /// The release tag or commit, as the artifact store names it.
    pub(crate) fn reference(&self) -> &str {
        match self {
            K3sPin::Version(v) | K3sPin::Commit(v) => v,
        }
    }

    /// The install script's variable for this pin.
    pub(crate) fn env(&self) -> (&'static str, String) {
        match self {
            K3sPin::Version(v) => ("INSTALL_K3S_VERSION", v.clone()),
            K3sPin::Commit(c) => ("INSTALL_K3S_COMMIT", c.clone()),
        }
    }
}

impl std::fmt::Display for K3sPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            K3sPin::Version(v) => write!(f, "release {v}"),
            K3sPin::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// The options as typed (strings), so that every bad value gets the same
/// one-line message rather than clap's multi-line one.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawOptions {
    pub(crate) k3s_version: Option<String>,
    pub(crate) k3s_commit: Option<String>,
    pub(crate) rootless: RootlessFlags,
    pub(crate) offline: Option<PathBuf>,
    pub(crate) mirror: Option<String>,
    pub(crate) pins: Option<PathBuf>,
    /// `--require-pins` or `KRC_REQUIRE_PINS=1`.
    pub(crate) require_pins: bool,
    pub(crate) insecure_mirror: bool,
    pub(crate) wait_timeout: Option<u64>,
    pub(crate) ipv6_forwarding: bool,
    pub(crate) proxy: ProxyFlags,
}

/// `--http-proxy`, `--https-proxy`, `--no-proxy`: the proxy k3s pulls
/// through, given explicitly. Each one given wins over /etc/environment's;
/// root's own environment is never read (it is root's, not the user's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyFlags {
    pub(crate) http: Option<String>,
    pub(crate) https: Option<String>,
    pub(crate) no: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) pin: K3sPin,
    pub(crate) rootless: RootlessSettings,
    pub(crate) offline: Option<PathBuf>,
    pub(crate) mirror: Option<String>,
    pub(crate) pins: Option<PathBuf>,
    /// Refuse unless every artifact is pinned (no release-checksum trust).
    pub(crate) require_pins: bool,
    /// Consent to an `http://` mirror's checksum file when nothing is pinned.
    pub(crate) insecure_mirror: bool,
    /// Only for `--k3s-commit`: never printed, never journaled.
    pub(crate) github_token: Option<String>,
    pub(crate) wait_timeout: u64,
    /// `--ipv6-forwarding`: also set net.ipv6.conf.all.forwarding=1.
    pub(crate) ipv6_forwarding: bool,
    pub(crate) proxy: ProxyFlags,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub(crate) struct OptionError(pub(crate) String);

fn bad(msg: impl Into<String>) -> OptionError {
    OptionError(msg.into())
}

pub(crate) fn validate(
    raw: &RawOptions,
    github_token: Option<String>,
) -> Result<Options, OptionError> {
    let pin = match (&raw.k3s_version, &raw.k3s_commit) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "--k3s-version and --k3s-commit exclude each other: pin one",
            ));
        }
        (Some(v), None) => {
            if !v.starts_with('v') || !v.contains("+k3s") || v.contains(['/', ' ']) {
                return Err(bad(format!(
                    "--k3s-version {v:?}: expected a release tag like {DEFAULT_K3S_VERSION}"
                )));
            }
            K3sPin::Version(v.clone())
        }
        (None, Some(c)) => {
            if c.len() != 40 || !c.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "--k3s-commit {c:?}: expected a full 40-hex-digit commit"
                )));
            }
            K3sPin::Commit(c.to_ascii_lowercase())
        }
        (None, None) => K3sPin::Version(DEFAULT_K3S_VERSION.to_string()),
    };
    let github_token = github_token.filter(|t| !t.trim().is_empty());
    if matches!(pin, K3sPin::Commit(_)) && github_token.is_none() && raw.offline.is_none() {
        return Err(bad(
            "--k3s-commit needs GITHUB_TOKEN: since February 2026 (k3s PR #13559) commit builds are CI artifacts that need a token with k3s-io permissions; export GITHUB_TOKEN=..., or pin a release with --k3s-version",
        ));
    }
    let rootless = raw
        .rootless
        .parse()
        .map_err(|e| bad(e.0))?
        .over(RootlessSettings::default());
    if let Some(dir) = &raw.offline
        && !dir.is_dir()
    {
        return Err(bad(format!("--offline {}: not a directory", dir.display())));
    }
    if let Some(m) = &raw.mirror
        && !(m.starts_with("http://") || m.starts_with("https://"))
    {
        return Err(bad(format!(
            "--mirror {m:?}: expected an http:// or https:// URL"
        )));
    }
    if let Some(p) = &raw.pins
        && !p.is_file()
    {
        return Err(bad(format!("--pins {}: no such file", p.display())));
    }
    check_proxy(&raw.proxy)?;
    Ok(Options {
        pin,
        rootless,
        offline: raw.offline.clone(),
        mirror: raw.mirror.clone(),
        pins: raw.pins.clone(),
        require_pins: raw.require_pins,
        insecure_mirror: raw.insecure_mirror,
        github_token,
        wait_timeout: raw.wait_timeout.unwrap_or(300),
        ipv6_forwarding: raw.ipv6_forwarding,
        proxy: raw.proxy.clone(),
    })
}

/// A proxy URL krc can put in a unit: `http://`, `https://` or `socks5://`
/// (what Go's proxy support, and so k3s's containerd, takes), one line, and
/// no password: a command line is readable by every local user in
/// /proc/PID/cmdline while krc runs. The error never repeats a URL that
/// carries one.
fn check_proxy(p: &ProxyFlags) -> Result<(), OptionError> {
    for (flag, v) in [("--http-proxy", &p.http), ("--https-proxy", &p.https)] {
        let Some(v) = v else { continue };
        let scheme_ok = ["http://", "https://", "socks5://", "socks5h://"]
            .iter()
            .any(|s| v.starts_with(s) && v.len() > s.len());
        let authority = v.split_once("://").map_or("", |(_, r)| r);
        let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad(format!(
                "{flag}: the URL carries a user name or password, which every local user could read in /proc/PID/cmdline while krc runs; put the proxy in /etc/environment (krc keeps a password in a 0600 drop-in of the user's), e.g. echo 'HTTPS_PROXY=http://USER:PASS@proxy:3128' | sudo tee -a /etc/environment"
            )));
        }
        if !scheme_ok || v.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"') {
            return Err(bad(format!(
                "{flag} {v:?}: expected one URL like http://proxy.example:3128 (http, https or socks5)"
            )));
        }
    }
    if let Some(v) = &p.no
        && v.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(bad(format!(
            "--no-proxy {v:?}: expected a comma-separated list without spaces, like .corp.example,10.0.0.0/8"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut RawOptions)) -> Result<Options, OptionError> {
        let mut r = RawOptions::default();
        f(&mut r);
        validate(&r, None)
    }

    #[test]
    fn defaults_follow_the_reference_procedure() {
        let o = with(|_| {}).unwrap();
        assert_eq!(o.rootless.port_driver.as_str(), "slirp4netns");
        assert_eq!(o.rootless.cidr.to_string(), "10.41.0.0/16");
        assert_eq!(o.rootless.mtu.to_string(), "1500");
        assert!(o.rootless.disable_host_loopback);
        assert_eq!(o.pin, K3sPin::Version(DEFAULT_K3S_VERSION.into()));
    }

    #[test]
    fn bad_values_are_one_line() {
        let e = with(|r| r.rootless.cidr = Some("10.41.0.1/16".into())).unwrap_err();
        assert!(e.0.contains("did you mean 10.41.0.0/16"), "{e}");
        for m in ["575", "65521", "x"] {
            assert!(with(|r| r.rootless.mtu = Some(m.into())).is_err());
        }
        assert!(with(|r| r.rootless.mtu = Some("576".into())).is_ok());
        assert!(with(|r| r.rootless.port_driver = Some("pasta".into())).is_err());
        for c in [
            "0.0.0.0/0",
            "10.41.0.0/30",
            "10.41.0.0/26",
            "127.0.0.0/8",
            "10.42.0.0/16",
            "10.43.5.0/24",
            "10.0.0.0/8",
            "169.254.0.0/16",
            "224.0.0.0/4",
        ] {
            let e = with(|r| r.rootless.cidr = Some(c.into())).unwrap_err();
            assert!(!e.0.contains('\n') && e.0.contains(c), "{c}: {e}");
        }
        for c in [
            "10.41.0.0/16",
            "10.141.0.0/16",
            "192.168.100.0/24",
            "172.16.0.0/25",
        ] {
            assert!(with(|r| r.rootless.cidr = Some(c.into())).is_ok(), "{c}");
        }
        let e = with(|r| r.k3s_commit = Some("a".repeat(40))).unwrap_err();
        assert!(e.0.contains("GITHUB_TOKEN"), "{e}");
        let ok = validate(
            &RawOptions {
                k3s_commit: Some("a".repeat(40)),
                ..Default::default()
            },
            Some("t".into()),
        );
        assert!(ok.is_ok());
        let e = with(|r| r.proxy.https = Some("http://u:S3cretPw@p:3128".into())).unwrap_err();
        assert!(
            e.0.contains("/proc/PID/cmdline") && !e.0.contains("S3cretPw"),
            "{e}"
        );
        assert!(with(|r| r.proxy.http = Some("ftp://p".into())).is_err());
        assert!(with(|r| r.proxy.no = Some("a, b".into())).is_err());
        assert!(
            with(|r| {
                r.proxy.https = Some("http://proxy.corp:3128".into());
                r.proxy.no = Some(".corp,10.0.0.0/8".into());
            })
            .is_ok()
        );
        for e in [
            with(|r| r.rootless.cidr = Some("10.41.0.1/16".into())).unwrap_err(),
            with(|r| r.rootless.mtu = Some("1".into())).unwrap_err(),
        ] {
            assert!(!e.0.contains('\n'));
        }
    }
}
