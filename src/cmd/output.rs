//! What every suite-running command shares: the terminal printer, the
//! run's metadata and the report files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, ColorSetting};

use crate::cli::SuiteArgs;
use crate::report::Counts;

use super::CmdError;
use crate::fsutil::write_atomic;
use crate::host::Host;
use crate::report::terminal::Printer;
use crate::report::{PhaseReport, RunMeta, html, json, junit};

/// krc's printer, unless `--format` asked for libtest's own output.
pub(crate) fn printer(args: &Arguments, id_width: usize) -> Option<Arc<Mutex<Printer>>> {
    if args.format.is_some() {
        return None;
    }
    let color = match args.color {
        Some(ColorSetting::Always) => true,
        Some(ColorSetting::Never) => false,
        _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Some(Arc::new(Mutex::new(Printer::stdout(
        color, args.quiet, id_width,
    ))))
}

pub(crate) fn meta(host: &Host, k3s: Option<String>) -> RunMeta {
    let read = |p: &str| {
        host.read(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    RunMeta {
        hostname: read("/proc/sys/kernel/hostname"),
        kernel: read("/proc/sys/kernel/osrelease"),
        user: host.user().name.clone(),
        root: host.root().display().to_string(),
        krc_version: env!("CARGO_PKG_VERSION").to_string(),
        k3s,
    }
}

/// The report files a run was asked to write.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReportFiles {
    pub(crate) junit: Option<PathBuf>,
    pub(crate) json: Option<PathBuf>,
    pub(crate) html: Option<PathBuf>,
}

impl ReportFiles {
    pub(crate) fn from_args(sa: &SuiteArgs) -> ReportFiles {
        ReportFiles {
            junit: sa.junit.clone(),
            json: sa.json.clone(),
            html: sa.html.clone(),
        }
    }

    pub(crate) fn write(&self, meta: &RunMeta, phases: &[PhaseReport]) -> Result<(), CmdError> {
        if let Some(p) = &self.junit {
            let xml = junit::render(meta, phases).map_err(CmdError::new)?;
            write_atomic(p, xml.as_bytes()).map_err(CmdError::new)?;
        }
        if let Some(p) = &self.json {
            write_atomic(p, json::render(meta, phases).as_bytes()).map_err(CmdError::new)?;
        }
        if let Some(p) = &self.html {
            write_atomic(p, html::render(meta, phases).as_bytes()).map_err(CmdError::new)?;
        }
        Ok(())
    }
}

/// The end of a one-phase command: the count line, the report files, and
/// the exit status (1 when a required check failed or could not be verified).
pub(crate) fn finish(
    printer: Option<&Arc<Mutex<Printer>>>,
    report: &PhaseReport,
    files: &ReportFiles,
    meta: &RunMeta,
) -> Result<u8, CmdError> {
    if let Some(p) = printer
        && let Ok(mut p) = p.lock()
    {
        p.summary(&Counts::of(&report.records));
    }
    files.write(meta, std::slice::from_ref(report))?;
    let blocked = report.records.iter().any(|r| r.blocks());
    Ok(if blocked {
        super::exit::FAILED
    } else {
        super::exit::OK
    })
}
