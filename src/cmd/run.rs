//! `krc run`: preflight → install → accept, one report with a testsuite per
//! phase. The preflight testsuite records the host as found, so its
//! failures are expected on a fresh host; the exit status comes from the
//! install and the acceptance.

use std::sync::Arc;
use std::time::Duration;

use super::accept::{AcceptPlan, run_phase as accept_phase};
use super::install::request;
use super::output;
use super::preflight::run_phase as preflight_phase;
use super::{CmdError, exit};
use crate::checks::{Phase, Severity, Verdict};
use crate::cli::RunArgs;
use crate::host::Origin;
use crate::install::event::InstallOutcome;
use crate::install::{apply, report as install_report};
use crate::report::{CheckRecord, Counts, PhaseReport, Subject};
use crate::settings::RootlessPatch;
use crate::suite::Suite;

pub(crate) fn run(args: &RunArgs) -> Result<u8, CmdError> {
    let ia = &args.install;
    // Flags first: a bad one is exit 2 before anything is read or touched.
    let req = request(ia)?;
    let files = super::install::report_files(&ia.junit, &ia.json, &ia.html)?;
    // Every phase judges this install: its settings and its pin.
    let rootless = RootlessPatch::all(req.opts.rootless);
    let pin = req.opts.pin.reference();
    let accept_plan = AcceptPlan::new(
        &ia.root,
        ia.user.as_deref(),
        Suite::builtin(Phase::Acceptance)
            .with_rootless(&rootless)
            .with_pin(pin),
        &args.accept,
    )?;
    let host = Arc::new(super::open_for_user(&ia.root, ia.user.as_deref())?);
    let me = nix::unistd::geteuid().as_raw();
    if host.origin() == Origin::Live && me != 0 && !ia.dry_run {
        // The install's root steps need root: run the whole chain as root
        // for this user rather than print preflight twice.
        let user = host.user().name.clone();
        println!(
            "krc run: the install needs root for some steps: re-running under sudo -n for {user}"
        );
        return super::as_root(&user).map_err(CmdError::of);
    }
    let pre_suite = Suite::builtin(Phase::Preflight).with_rootless(&rootless);
    let harness = args.filters.to_libtest();
    let ids: Vec<&str> = pre_suite
        .entries
        .iter()
        .chain(&accept_plan.suite.entries)
        .map(|e| e.check.id)
        .collect();
    if let Some(code) = output::no_match("run", &ids, &harness, None) {
        return Ok(code);
    }
    let width = pre_suite.id_width().max(accept_plan.suite.id_width());
    let printer = output::printer(&args.look, width);
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

    let (install, outcome, trust) = install_phase(&req)?;
    let install_code = outcome.map_or(exit::FAILED, super::exit_code);
    let skip_reason = acceptance_skipped(ia.dry_run, outcome);
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
    let mut meta = output::meta(&host, Some(pin), &req.opts.rootless);
    super::install::install_settings(&mut meta.settings, &req.opts);
    if let Some((trust, sha256)) = trust {
        meta.trust = trust;
        meta.sha256 = sha256;
    }
    let code = if let Some(sig) = crate::stop::requested() {
        crate::stop::exit_status(sig)
    } else if install_code != exit::OK {
        install_code
    } else {
        output::verdict_code(&phases[2].records)
    };
    if let Some(p) = &printer
        && let Ok(mut p) = p.lock()
    {
        p.inconclusive(
            &output::unjudged(&phases[2].records),
            code == exit::INCONCLUSIVE,
        );
    }
    files.write(&meta, &phases, code)?;
    Ok(code)
}

/// Runs the installer: its testsuite and how it ended (None: the
/// installer itself failed, which the testsuite then says).
/// How the install verified the artifacts, and their sums, for the meta.
type TrustFacts = (Option<String>, std::collections::BTreeMap<String, String>);

fn install_phase(
    req: &apply::Request,
) -> Result<(PhaseReport, Option<InstallOutcome>, Option<TrustFacts>), CmdError> {
    match apply::install(req, &mut super::install_show::Terminal) {
        Ok(run) => Ok((
            install_report::phase_report(&run.steps),
            Some(run.outcome),
            Some((run.trust.map(|t| t.label().to_string()), run.sha256)),
        )),
        Err(apply::InstallError::NeedsRoot) => Err(CmdError::new(
            "the install needs root: run krc run as root with --user NAME",
        )),
        // The user's mistakes (no --yes and nobody to ask) are usage
        // errors, exit 2, as in krc install; nothing was changed.
        Err(e @ (apply::InstallError::Host(_) | apply::InstallError::Confirm(_))) => {
            Err(super::install_error(e))
        }
        Err(e) => {
            // The run goes on to write its reports: the error and its
            // causes are the failed testcase's text, as one line.
            let e = crate::install::fetch::chain(&e);
            eprintln!("krc run: install: {e}");
            let failed = CheckRecord::judged(
                Subject {
                    id: "install".into(),
                    title: "the installer ran".into(),
                    phase: Phase::Install,
                    severity: Severity::Required,
                },
                Verdict::fail(e).remedy("see the message above; fix it and run krc run again"),
                Duration::ZERO,
            );
            Ok((
                PhaseReport::of_records(Phase::Install, "install", vec![failed]),
                None,
                None,
            ))
        }
    }
}

/// Why acceptance does not run after this install, if it does not.
fn acceptance_skipped(dry_run: bool, outcome: Option<InstallOutcome>) -> Option<String> {
    let why = match outcome {
        _ if dry_run => "dry run: nothing was installed, and acceptance would create a namespace",
        Some(InstallOutcome::Completed) => return None,
        Some(InstallOutcome::RebootRequired) => {
            "the install stopped for a reboot: run krc run again after it"
        }
        Some(InstallOutcome::ReloginRequired) => {
            "delegation takes effect at the user's next login: run krc run again after it"
        }
        Some(InstallOutcome::Declined) => "the install was declined: nothing was installed",
        _ => "the install did not complete: see the install testsuite",
    };
    Some(why.to_string())
}

/// The acceptance testsuite when acceptance cannot run: every check
/// reported skipped with the reason, so the report still has three suites.
fn skipped(suite: &Suite, reason: &str) -> PhaseReport {
    let records = suite
        .entries
        .iter()
        .map(|e| {
            CheckRecord::judged(
                Subject {
                    id: e.check.id.to_string(),
                    title: e.check.title.to_string(),
                    phase: Phase::Acceptance,
                    severity: e.severity,
                },
                Verdict::skip_after("install", reason.to_string()),
                Duration::ZERO,
            )
        })
        .collect();
    PhaseReport::of_records(Phase::Acceptance, &suite.name, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acceptance runs only after an install that completed; otherwise
    /// every acceptance check is reported skipped with the reason.
    #[test]
    fn acceptance_follows_only_a_completed_install() {
        assert_eq!(
            acceptance_skipped(false, Some(InstallOutcome::Completed)),
            None
        );
        for (dry, o, why) in [
            (true, Some(InstallOutcome::Planned), "dry run"),
            (false, Some(InstallOutcome::RebootRequired), "reboot"),
            (false, Some(InstallOutcome::Declined), "declined"),
            (false, Some(InstallOutcome::Refused), "did not complete"),
            (
                false,
                Some(InstallOutcome::Interrupted(15)),
                "did not complete",
            ),
            (false, None, "did not complete"),
        ] {
            let r = acceptance_skipped(dry, o).unwrap();
            assert!(r.contains(why), "{o:?}: {r}");
        }
    }
}
