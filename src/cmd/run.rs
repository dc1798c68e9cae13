//! `krc run`: preflight → install → accept, one report with a testsuite per
//! phase. The preflight testsuite records the host as found, so its
//! failures are expected on a fresh host; the exit status comes from the
//! install and the acceptance.

use std::sync::Arc;

use super::accept::{AcceptPlan, run_phase as accept_phase};
use super::install::request;
use super::output;
use super::preflight::run_phase as preflight_phase;
use super::{CmdError, exit};
use crate::checks::{Phase, Severity, Verdict};
use crate::cli::RunArgs;
use crate::host::{Host, Origin};
use crate::install::{apply, report as install_report};
use crate::report::terminal::Printer;
use crate::report::{Counts, PhaseReport};
use crate::suite::Suite;
use crate::suite::runner::{self, Task};

pub(crate) fn run(args: &RunArgs) -> Result<u8, CmdError> {
    let ia = &args.install;
    // Flags first: a bad one is exit 2 before anything is read or touched.
    let req = request(ia)?;
    let files = super::install::report_files(&ia.junit, &ia.json, &args.html)?;
    let accept_plan = AcceptPlan::new(
        &ia.root,
        ia.user.as_deref(),
        Suite::builtin(Phase::Acceptance),
        &args.accept,
    )?;
    let host = Arc::new(Host::open(&ia.root, ia.user.as_deref()).map_err(CmdError::new)?);
    let me = nix::unistd::geteuid().as_raw();
    if host.origin() == Origin::Live && me != 0 && !ia.dry_run {
        // The install's root steps need root: run the whole chain as root
        // for this user rather than print preflight twice.
        let user = host.user().name.clone();
        println!(
            "krc run: the install needs root for some steps: re-running under sudo -n for {user}"
        );
        return super::as_root(&user).map_err(CmdError::new);
    }
    let pre_suite = Suite::builtin(Phase::Preflight);
    let harness = libtest_mimic::Arguments::default();
    let width = pre_suite.id_width().max(accept_plan.suite.id_width());
    let printer = output::printer(&harness, width);
    let summary = |report: &PhaseReport| {
        if let Some(p) = &printer
            && let Ok(mut p) = p.lock()
        {
            p.summary(&Counts::of(&report.records));
            p.line("");
        }
    };

    let preflight = preflight_phase(&pre_suite, &host, &harness, printer.clone());
    summary(&preflight);

    let (install, install_code) = match apply::install(&req, &mut super::install_show::Terminal) {
        Ok(run) => (
            install_report::phase_report(&run.steps),
            super::exit_code(run.outcome),
        ),
        Err(apply::InstallError::NeedsRoot) => {
            return Err(CmdError::new(
                "the install needs root: run krc run as root with --user NAME",
            ));
        }
        Err(e) => {
            eprintln!("krc run: install: {e}");
            let failed = single(
                "install",
                "the installer ran",
                Verdict::fail(e.to_string())
                    .remedy("see the message above; fix it and run krc run again"),
            );
            (
                runner::run(Phase::Install, "install", vec![failed], &harness, quiet()),
                exit::FAILED,
            )
        }
    };

    let skip_reason = if ia.dry_run {
        Some("dry run: nothing was installed, and acceptance would create a namespace".to_string())
    } else if install_code == exit::REBOOT_REQUIRED {
        Some("the install stopped for a reboot: run krc run again after it".to_string())
    } else if install_code != exit::OK {
        Some("the install did not complete: see the install testsuite".to_string())
    } else {
        None
    };
    let acceptance = match &skip_reason {
        Some(reason) => {
            if let Some(p) = &printer
                && let Ok(mut p) = p.lock()
            {
                p.heading(&format!(
                    "krc accept: not run ({reason}); the report lists its {} checks as skipped",
                    accept_plan.suite.entries.len()
                ));
            }
            skipped(&accept_plan.suite, reason)
        }
        None => accept_phase(&accept_plan, &harness, printer.clone())?.0,
    };
    summary(&acceptance);

    let pin = req.opts.pin.to_string();
    let phases = [preflight, install, acceptance];
    files.write(&output::meta(&host, Some(pin)), &phases)?;
    if let Some(sig) = crate::stop::requested() {
        return Ok(crate::stop::exit_status(sig));
    }
    Ok(if install_code != exit::OK {
        install_code
    } else if phases[2].records.iter().any(|r| r.blocks()) {
        exit::FAILED
    } else {
        exit::OK
    })
}

fn quiet() -> Option<Arc<std::sync::Mutex<Printer>>> {
    Some(Arc::new(std::sync::Mutex::new(Printer::to_writer(
        Box::new(std::io::sink()),
        0,
    ))))
}

fn single(id: &str, title: &str, v: Verdict) -> Task {
    Task {
        id: id.to_string(),
        title: title.to_string(),
        phase: Phase::Install,
        severity: Severity::Required,
        run: Box::new(move || v),
    }
}

/// The acceptance testsuite when acceptance cannot run: every check
/// reported skipped with the reason, so the report still has three suites.
fn skipped(suite: &Suite, reason: &str) -> PhaseReport {
    let tasks = suite
        .entries
        .iter()
        .map(|e| {
            let v = Verdict::skip(reason.to_string());
            Task {
                id: e.check.id.to_string(),
                title: e.check.title.to_string(),
                phase: Phase::Acceptance,
                severity: e.severity,
                run: Box::new(move || v),
            }
        })
        .collect();
    runner::run(
        Phase::Acceptance,
        &suite.name,
        tasks,
        &libtest_mimic::Arguments::default(),
        quiet(),
    )
}
