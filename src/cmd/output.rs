//! What every suite-running command shares: the terminal printer, the
//! run's metadata and the report files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use libtest_mimic::Arguments;

use crate::cli::{ColorArg, LookArgs, SuiteArgs};
use crate::report::{CheckRecord, Counts};

use super::CmdError;
use crate::fsutil::write_atomic;
use crate::host::Host;
use crate::report::terminal::Printer;
use crate::report::{PhaseReport, RunMeta, html, json, junit};

/// Set by [`ReportFiles::validate`] when a report goes to stdout (`-`):
/// the terminal report then goes to stderr so the two never mix.
static STDOUT_TAKEN: AtomicBool = AtomicBool::new(false);

pub(crate) use crate::report::terminal::colour_auto;

/// The runner's feed: the printer, when there is one.
pub(crate) fn feed(printer: &Option<Arc<Mutex<Printer>>>) -> crate::suite::runner::Feed {
    printer
        .clone()
        .map(|p| p as Arc<Mutex<dyn crate::report::RecordSink>>)
}

/// krc's terminal printer, as `--quiet` and `--color` ask.
pub(crate) fn printer(look: &LookArgs, id_width: usize) -> Option<Arc<Mutex<Printer>>> {
    let to_stderr = STDOUT_TAKEN.load(Ordering::Relaxed);
    let color = match look.color {
        Some(ColorArg::Always) => true,
        Some(ColorArg::Never) => false,
        _ if to_stderr => false,
        _ => colour_auto(),
    };
    let p = if to_stderr {
        Printer::to_writer(Box::new(std::io::stderr()), id_width)
            .with_style(color, look.quiet)
            .with_width(crate::report::terminal::width_for(
                std::io::stderr().is_terminal(),
            ))
    } else {
        Printer::stdout(color, look.quiet, id_width)
    };
    Some(Arc::new(Mutex::new(p)))
}

/// Exit status 4 and its message when the filter selects no check of
/// `ids`: a filter that matches nothing is a typo, not a green run.
pub(crate) fn no_match(
    command: &str,
    ids: &[&str],
    args: &Arguments,
    phase: Option<&str>,
) -> Option<u8> {
    let selected = ids
        .iter()
        .filter(|id| !args.is_filtered_out(&libtest_mimic::Trial::test(**id, || Ok(()))))
        .count();
    if selected > 0 {
        return None;
    }
    let mut what = args
        .filter
        .as_ref()
        .map(|f| format!("{f:?}"))
        .unwrap_or_default();
    if args.exact {
        what.push_str(" --exact");
    }
    for s in &args.skip {
        what.push_str(&format!(" --skip {s:?}"));
    }
    let list = match phase {
        Some(p) => format!("krc list --phase {p}"),
        None => "krc list".to_string(),
    };
    eprintln!(
        "krc {command}: no check matched {}; see `{list}` for the ids",
        what.trim()
    );
    Some(super::exit::NO_MATCH)
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
        trust: None,
        sha256: Default::default(),
    }
}

/// The harness arguments and the validated report files of a
/// suite-running command, checked before anything is read or run.
pub(crate) fn prepare(sa: &SuiteArgs) -> Result<(Arguments, ReportFiles), CmdError> {
    let files = ReportFiles::from_args(sa);
    files.validate()?;
    crate::report::record::set_warnings_as_failures(sa.warnings_as_failures);
    Ok((sa.harness.to_libtest(), files))
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

    /// Checks the report paths before anything runs, so a typo costs
    /// nothing: each parent directory exists and is writable, the path is
    /// not a directory, no path is given twice, and `-` (stdout) is used by
    /// one report at most. With `-`, the terminal report goes to stderr.
    /// `krc install` and `krc run` call this too, right after parsing.
    pub(crate) fn validate(&self) -> Result<(), CmdError> {
        let named = [
            ("--junit", &self.junit),
            ("--json", &self.json),
            ("--html", &self.html),
        ];
        let mut seen: Vec<(&str, PathBuf)> = Vec::new();
        let mut stdout_by: Option<&str> = None;
        for (flag, path) in named {
            let Some(path) = path else { continue };
            if is_stdout(path) {
                if let Some(other) = stdout_by {
                    return Err(CmdError::new(format!(
                        "{other} - and {flag} - both write to stdout; give one of them a file name"
                    )));
                }
                stdout_by = Some(flag);
                continue;
            }
            let key = check_report_path(flag, path)?;
            if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key) {
                return Err(CmdError::new(format!(
                    "{other} and {flag} both name {}; give each report its own file",
                    path.display()
                )));
            }
            seen.push((flag, key));
        }
        if stdout_by.is_some() {
            STDOUT_TAKEN.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes every report of a run that ends with exit status `code`.
    pub(crate) fn write(
        &self,
        meta: &RunMeta,
        phases: &[PhaseReport],
        code: u8,
    ) -> Result<(), CmdError> {
        if let Some(p) = &self.junit {
            let xml = junit::render(meta, phases).map_err(CmdError::of)?;
            put(p, xml.as_bytes())?;
        }
        if let Some(p) = &self.json {
            put(p, json::render(meta, phases, ending(code)).as_bytes())?;
        }
        if let Some(p) = &self.html {
            put(p, html::render(meta, phases).as_bytes())?;
        }
        Ok(())
    }
}

pub(crate) fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes a report to its file, or to stdout for `-` (a closed stdout is
/// not an error: the reader has what it wanted).
fn put(path: &Path, bytes: &[u8]) -> Result<(), CmdError> {
    if is_stdout(path) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return match out.write_all(bytes).and_then(|_| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(CmdError::caused("failed to write the report to stdout", e))
            }
            _ => Ok(()),
        };
    }
    write_atomic(path, bytes).map_err(CmdError::new)
}

/// One report path checked: its directory exists and krc may create files
/// in it, and the path itself is not a directory. Returns the path with
/// its directory resolved, to compare with the others.
fn check_report_path(flag: &str, path: &Path) -> Result<PathBuf, CmdError> {
    let shown = path.display();
    let Some(name) = path.file_name() else {
        return Err(CmdError::new(format!(
            "{flag} {shown}: not a file name; give a file such as report.xml"
        )));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let real_dir = std::fs::canonicalize(dir).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "does not exist".to_string()
        } else {
            format!("cannot be read ({})", e.kind())
        };
        CmdError::new(format!(
            "{flag} {shown}: directory {} {why}; create it or choose another",
            dir.display()
        ))
    })?;
    if !real_dir.is_dir() {
        return Err(CmdError::new(format!(
            "{flag} {shown}: {} is not a directory; give a path in an existing directory",
            dir.display()
        )));
    }
    if let Err(e) = nix::unistd::access(
        &real_dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    ) {
        return Err(CmdError::new(format!(
            "{flag} {shown}: directory {} is not writable ({e}); choose a writable one",
            dir.display()
        )));
    }
    let full = real_dir.join(name);
    if std::fs::metadata(&full).is_ok_and(|m| m.is_dir()) {
        return Err(CmdError::new(format!(
            "{flag} {shown}: is a directory; give a file name inside it"
        )));
    }
    Ok(full)
}

/// The verdict of an exit status, in the words of the JSON report.
pub(crate) fn ending(code: u8) -> json::Ending {
    use super::exit;
    let verdict = match code {
        exit::OK => "passed",
        exit::INCONCLUSIVE => "inconclusive",
        exit::REBOOT_REQUIRED => "reboot-required",
        exit::RELOGIN_REQUIRED => "relogin-required",
        _ => "failed",
    };
    json::Ending {
        verdict,
        exit_status: code,
    }
}

/// The exit status records decide: 1 when one blocks (a required check
/// failed or errored, or a warning under --warnings-as-failures), else 5
/// when a required check could not be judged (missing facts or probes,
/// not a failed prerequisite), else 0. Unjudged is not qualified, with or
/// without --warnings-as-failures.
pub(crate) fn verdict_code<'a>(records: impl IntoIterator<Item = &'a CheckRecord>) -> u8 {
    let mut code = super::exit::OK;
    for r in records {
        if r.blocks() {
            return super::exit::FAILED;
        }
        if r.unjudged_required() {
            code = super::exit::INCONCLUSIVE;
        }
    }
    code
}

/// The ids of the required checks that could not be judged.
pub(crate) fn unjudged<'a>(records: impl IntoIterator<Item = &'a CheckRecord>) -> Vec<&'a str> {
    records
        .into_iter()
        .filter(|r| r.unjudged_required())
        .map(|r| r.id.as_str())
        .collect()
}

/// The end of a one-phase command: the count line (and the checks that
/// could not be judged), the report files, and the exit status.
pub(crate) fn finish(
    printer: Option<&Arc<Mutex<Printer>>>,
    report: &PhaseReport,
    files: &ReportFiles,
    meta: &RunMeta,
) -> Result<u8, CmdError> {
    let code = verdict_code(&report.records);
    if let Some(p) = printer
        && let Ok(mut p) = p.lock()
    {
        p.summary(&Counts::of(&report.records));
        p.inconclusive(
            &unjudged(&report.records),
            code == super::exit::INCONCLUSIVE,
        );
    }
    files.write(meta, std::slice::from_ref(report), code)?;
    Ok(code)
}
