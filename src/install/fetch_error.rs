//! Why the k3s artifacts could not be had or trusted: every refusal of
//! the fetch and trust layer, one line each, with the remedy in it.

use super::fetch::TRIES;

/// Why the artifacts could not be had, or not trusted. No variant holds
/// GITHUB_TOKEN or a request's headers: only URLs, paths and sums.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("failed to read --pins {path}")]
    PinsUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// toml's message locates the error in the file; it is kept as text
    /// because its Display repeats the whole offending line.
    #[error("{from}: {reason}")]
    PinsMalformed { from: String, reason: String },
    #[error("{from} pins {pinned}, but this install is for {wanted}")]
    PinsForOther {
        from: String,
        pinned: String,
        wanted: String,
    },
    #[error("{from}: sha256 of {name} is not 64 hex digits")]
    PinNotHex { from: String, name: String },
    #[error("no pinned sha256 for artifact {0}: add it to the pins file")]
    NoPin(String),
    #[error(
        "refusing to fetch a commit build over {scheme}: GITHUB_TOKEN is sent only over https; pass an https:// --mirror, or --offline DIR"
    )]
    TokenInClear { scheme: String },
    #[error("failed to set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The last attempt's error is the source, its URL stripped (the URL
    /// is in this message already).
    #[error("failed to download {url} after up to {TRIES} tries")]
    Download {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("offline bundle: failed to read {path} (layout: docs/install.md)")]
    Bundle {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{name} from {src}: sha256 {got} does not match the pinned {want}; nothing was written. Check the mirror or bundle, or the pins file"
    )]
    Mismatch {
        name: String,
        src: String,
        got: String,
        want: String,
    },
    #[error(
        "{bin}: sha256 {actual} does not match sha256sum-{arch}.txt ({listed}); nothing was written"
    )]
    NotAsListed {
        bin: &'static str,
        arch: &'static str,
        actual: String,
        listed: String,
    },
    #[error("sha256sum-{arch}.txt has no line for {bin}; nothing was written")]
    NotListed {
        bin: &'static str,
        arch: &'static str,
    },
    #[error(
        "{from} pins no sha256 for {name}, and an offline bundle cannot be checked over TLS; on a connected machine run: krc pins {tag} --output {from}"
    )]
    UnitUnpinned {
        from: String,
        name: String,
        tag: String,
    },
    #[error(
        "k3s-rootless.service of k3s {tag} cannot be used: {reason}; check the mirror or bundle (it must be upstream's unit of that tag)"
    )]
    UnitUnusable { tag: String, reason: String },
    #[error("artifact {0} was not fetched")]
    NotFetched(String),
    #[error(
        "--require-pins: k3s {reference} has no pins file; pass --pins FILE (write one with: krc pins {tag} --output pins.toml), or drop --require-pins (and KRC_REQUIRE_PINS) to trust the release checksums over TLS"
    )]
    PinsRequired { reference: String, tag: String },
    #[error(
        "--require-pins: {from} has no sha256 for {name}; every artifact must be pinned: write the pins again with: krc pins {tag} --output FILE"
    )]
    PinsIncomplete {
        from: String,
        name: String,
        tag: String,
    },
    #[error(
        "offline bundle {dir} has no pins.toml and no --pins FILE was given: an offline bundle cannot be checked over TLS; on a connected machine run: krc pins {tag} --output {dir}/pins.toml"
    )]
    BundleUnpinned { dir: String, tag: String },
    #[error(
        "--mirror {mirror} is plain http and no pins file was given: a checksum file over http proves nothing; use an https:// mirror, pass --pins FILE, or consent with --insecure-mirror"
    )]
    InsecureMirror { mirror: String },
    #[error("no source for the artifacts: {0}")]
    NoSource(String),
}
