//! `krc pins REF`: download a release's artifacts once, verify them as a
//! default install does (the binary against the release's checksum file,
//! over verified TLS), and write the pins file `--pins` reads, to be
//! reviewed and committed. Every sum in it is one krc computed itself.

use std::io::Write;

use super::{CmdError, exit};
use crate::cli::PinsArgs;
use crate::install::{fetch, options, trust};

pub(crate) fn pins(args: &PinsArgs) -> Result<u8, CmdError> {
    let commit =
        args.reference.len() == 40 && args.reference.chars().all(|c| c.is_ascii_hexdigit());
    let raw = options::RawOptions {
        k3s_version: (!commit).then(|| args.reference.clone()),
        k3s_commit: commit.then(|| args.reference.clone()),
        mirror: args.mirror.clone(),
        insecure_mirror: args.insecure_mirror,
        ..Default::default()
    };
    let opts =
        options::validate(&raw, std::env::var("GITHUB_TOKEN").ok()).map_err(CmdError::new)?;
    let failed = |e: fetch::FetchError| {
        CmdError::new(format!("krc pins: {}", fetch::chain(&e))).with_status(exit::FAILED)
    };
    let found = trust::from_release(&opts).map_err(failed)?;
    let artifacts = fetch::fetch_all(&opts, &found).map_err(failed)?;
    let sums = artifacts.accepted();
    let text = format!(
        "# k3s {} for {}: every sum computed by krc {} from the artifacts it\n# downloaded ({}). Review, commit, then: krc install --pins FILE\n{}",
        opts.pin,
        fetch::artifact_names()[1],
        env!("CARGO_PKG_VERSION"),
        found.trust.label(),
        trust::pins_toml(opts.pin.reference(), &sums)
    );
    match args.output.as_deref() {
        None | Some("-") => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
        }
        Some(path) => write_atomically(std::path::Path::new(path), &text)?,
    }
    for (name, sum) in &sums {
        eprintln!("krc pins: sha256 {sum}  {name}");
    }
    Ok(exit::OK)
}

/// A temporary file beside `path`, renamed over it: a reader sees the old
/// pins or the new ones, never half a file.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), CmdError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let fail = |e: std::io::Error| {
        CmdError::caused(
            format!(
                "krc pins: failed to write {}; check the directory exists and is writable: ls -ld {}",
                path.display(),
                dir.display()
            ),
            e,
        )
        .with_status(exit::FAILED)
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
