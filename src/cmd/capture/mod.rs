//! `krc capture`: the facts krc reads on this host, as a fixture tree in a
//! tar.gz that `krc preflight --root` replays to the same verdicts.
//!
//! Which files go in is not a list kept here: the host is opened
//! recording ([`crate::host::record`]), every check of the preflight and
//! acceptance suites judges it once (acceptance without its cluster and
//! port probes), and what they read, stat'ed and listed, and what the
//! live probes answered, is the capture. [`clean`] then removes what must
//! not leave the host, [`tree`] lays the rest out as a fixture, and the
//! archive is written like a report (its directory resolved without
//! following a user's link), atomically, mode 0600.

mod accounts;
mod clean;
mod tree;
mod ustar;

use std::io::Write as _;

use super::{CmdError, exit};
use crate::checks::kubeconfig::kubeconfig_path;
use crate::checks::{Ctx, Phase, Severity, Status};
use crate::cli::CaptureArgs;
use crate::host::Host;
use crate::suite::Suite;

pub(crate) fn capture(args: &CaptureArgs) -> Result<u8, CmdError> {
    let out = &args.output;
    if out.as_os_str() == "-" || out.as_os_str().is_empty() {
        return Err(CmdError::new(
            "--output: give a file name, e.g. --output capture.tar.gz (a capture is not written to stdout)",
        ));
    }
    let (host, rec) = Host::open_recording(args.user.as_deref())?;
    let mut counts = [0usize; 5];
    let mut kubeconfig = None;
    for phase in [Phase::Preflight, Phase::Acceptance] {
        for e in &Suite::builtin(phase).entries {
            let v = e.check.judge(&Ctx {
                host: &host,
                params: &e.params,
            });
            if phase == Phase::Preflight {
                // As a report counts it: an advisory failure warns.
                let advisory = e.severity == Severity::Advisory && v.status == Status::Fail;
                let status = if advisory { Status::Warn } else { v.status };
                counts[status as usize] += 1;
            }
            kubeconfig.get_or_insert_with(|| {
                kubeconfig_path(host.user(), e.params.accept.kubeconfig.as_deref())
            });
        }
    }
    // What every report's meta reads is a fact of the host too.
    let meta = super::output::meta(&host, None);
    let record = rec.take();
    let u = host.user();
    let kc = kubeconfig.unwrap_or_else(|| kubeconfig_path(u, None));
    let t = tree::Tree::build(&record, u, &kc);
    let description = format!(
        "captured by krc {} on {} (kernel {}) for {}",
        env!("CARGO_PKG_VERSION"),
        if meta.hostname.is_empty() {
            "this host"
        } else {
            &meta.hostname
        },
        meta.kernel,
        u.name
    );
    let toml = t.fixture_toml(&record, &u.name, &description);
    let tar = t.tar(&toml).map_err(CmdError::new)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)
        .and_then(|()| gz.flush())
        .map_err(CmdError::new)?;
    let bytes = gz.finish().map_err(CmdError::new)?;
    crate::safefs::write::write_private(out, &bytes).map_err(CmdError::new)?;
    let (files, overrides) = t.counts();
    let [pass, skip, warn, fail, error] = [
        Status::Pass,
        Status::Skip,
        Status::Warn,
        Status::Fail,
        Status::Error,
    ]
    .map(|s| counts[s as usize]);
    println!(
        "krc capture: wrote {} ({} bytes, mode 600): {files} files, {overrides} file overrides and the live probes' answers, for {} (uid {})",
        out.display(),
        bytes.len(),
        u.name,
        u.uid
    );
    println!(
        "preflight as captured: {pass} passed, {fail} failed, {warn} warned, {skip} skipped, {error} errors"
    );
    for n in &t.notes {
        println!("  note: {n}");
    }
    println!(
        "replay: mkdir DIR && tar -xzf {} -C DIR && krc preflight --root DIR",
        out.display()
    );
    Ok(exit::OK)
}
