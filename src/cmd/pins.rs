//! `krc pins REF`: download a release's artifacts once, verify them as a
//! default install does (the binary against the release's checksum file,
//! over verified TLS), and write the pins file `--pins` reads, to be
//! reviewed and committed. Every sum in it is one krc computed itself.
//! `krc bundle REF DIR` does the same and also keeps the artifacts: the
//! offline bundle `krc install --offline DIR` reads, with its `pins.toml`.

use std::io::Write;

use super::{CmdError, exit};
use crate::cli::{BundleArgs, PinsArgs};
use crate::install::action::ArtifactStore;
use crate::install::{fetch, options, trust};

/// A release's artifacts, downloaded and verified like a default install
/// verifies them, and the pins file of exactly those bytes.
struct Verified {
    artifacts: fetch::Artifacts,
    sums: Vec<(String, String)>,
    pins: String,
}

fn download(
    what: &str,
    reference: &str,
    mirror: Option<&str>,
    insecure_mirror: bool,
) -> Result<Verified, CmdError> {
    let commit = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
    let raw = options::RawOptions {
        k3s_version: (!commit).then(|| reference.to_string()),
        k3s_commit: commit.then(|| reference.to_string()),
        mirror: mirror.map(str::to_string),
        insecure_mirror,
        ..Default::default()
    };
    let opts =
        options::validate(&raw, std::env::var("GITHUB_TOKEN").ok()).map_err(CmdError::new)?;
    let failed = |e: fetch::FetchError| {
        CmdError::new(format!("krc {what}: {}", fetch::chain(&e))).with_status(exit::FAILED)
    };
    let found = trust::from_release(&opts).map_err(failed)?;
    let artifacts = fetch::fetch_all(&opts, &found).map_err(failed)?;
    let sums = artifacts.accepted();
    let pins = format!(
        "# k3s {} for {}: every sum computed by krc {} from the artifacts it\n# downloaded ({}). Review, commit, then: krc install --pins FILE\n{}",
        opts.pin,
        fetch::artifact_names()[1],
        env!("CARGO_PKG_VERSION"),
        found.trust.label(),
        trust::pins_toml(opts.pin.reference(), &sums)
    );
    Ok(Verified {
        artifacts,
        sums,
        pins,
    })
}

pub(crate) fn pins(args: &PinsArgs) -> Result<u8, CmdError> {
    let Verified {
        sums, pins: text, ..
    } = download(
        "pins",
        &args.reference,
        args.mirror.as_deref(),
        args.insecure_mirror,
    )?;
    match args.output.as_deref() {
        None | Some("-") => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
        }
        Some(path) => write_atomically("pins", std::path::Path::new(path), &text.into_bytes())?,
    }
    for (name, sum) in &sums {
        eprintln!("krc pins: sha256 {sum}  {name}");
    }
    Ok(exit::OK)
}

/// `krc bundle REF DIR`: the offline bundle (docs/install.md's layout):
/// `install.sh`, the binary, the checksum file and `pins.toml`, all of the
/// bytes krc verified. DIR is created, or must be empty: a bundle never
/// mixes files of two downloads.
pub(crate) fn bundle(args: &BundleArgs) -> Result<u8, CmdError> {
    let dir = std::path::Path::new(&args.dir);
    let usage = |why: String| CmdError::new(format!("krc bundle: {why}")).with_status(exit::USAGE);
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(usage(format!(
                    "{} is not empty: give a new or empty directory (a bundle holds one download only)",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CmdError::caused(
                format!(
                    "krc bundle: cannot read {}: check it is a directory",
                    dir.display()
                ),
                e,
            )
            .with_status(exit::FAILED));
        }
    }
    let v = download(
        "bundle",
        &args.reference,
        args.mirror.as_deref(),
        args.insecure_mirror,
    )?;
    std::fs::create_dir_all(dir).map_err(|e| {
        CmdError::caused(format!("krc bundle: failed to create {}", dir.display()), e)
            .with_status(exit::FAILED)
    })?;
    for (name, _) in &v.sums {
        let bytes = v
            .artifacts
            .bytes(name)
            .map_err(|e| CmdError::new(format!("krc bundle: {}", fetch::chain(&e))))?;
        write_atomically("bundle", &dir.join(name), bytes)?;
    }
    write_atomically("bundle", &dir.join("pins.toml"), v.pins.as_bytes())?;
    for (name, sum) in &v.sums {
        eprintln!("krc bundle: sha256 {sum}  {name}");
    }
    eprintln!(
        "krc bundle: wrote {} (the artifacts and pins.toml); review pins.toml, then: sudo krc install --offline {} --yes",
        dir.display(),
        dir.display()
    );
    Ok(exit::OK)
}

/// A temporary file beside `path`, renamed over it: a reader sees the old
/// file or the new one, never half a file.
fn write_atomically(what: &str, path: &std::path::Path, bytes: &[u8]) -> Result<(), CmdError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let fail = |e: std::io::Error| {
        CmdError::caused(
            format!(
                "krc {what}: failed to write {}; check the directory exists and is writable: ls -ld {}",
                path.display(),
                dir.display()
            ),
            e,
        )
        .with_status(exit::FAILED)
    };
    // The report writer's rules: atomic, and no directory on the way that
    // is a link another user owns (a bundle or pins file may be written
    // as root into a shared directory such as /tmp).
    crate::fsutil::write_atomic(path, bytes).map_err(fail)
}
