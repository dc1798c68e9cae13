//! `krc preflight`: qualify a host before install. Reads, never changes.
//! [`run_phase`] runs the preflight phase for any caller (`krc run` too).

use std::sync::{Arc, Mutex};

use libtest_mimic::Arguments;

use super::output;
use super::{CmdError, exit};
use crate::checks::Phase;
use crate::cli::PreflightArgs;
use crate::host::{Host, Origin};
use crate::report::PhaseReport;
use crate::report::terminal::Printer;
use crate::suite::Suite;
use crate::suite::runner::{self, host_tasks};

/// Prints the heading and runs the suite against `host`.
pub(crate) fn run_phase(
    suite: &Suite,
    host: &Arc<Host>,
    harness: &Arguments,
    printer: Option<Arc<Mutex<Printer>>>,
) -> PhaseReport {
    if let Some(p) = &printer
        && let Ok(mut p) = p.lock()
    {
        let u = host.user();
        let root = if host.origin() == Origin::Live {
            String::new()
        } else {
            let about = host
                .description()
                // A fixture's description is prose broken at its own
                // width: one paragraph here, wrapped by the printer.
                .map(|d| format!(": {}", d.split_whitespace().collect::<Vec<_>>().join(" ")))
                .unwrap_or_default();
            format!(
                " in the tree {}{about}\n(live probes are not run against a tree: they report skipped unless its krc-fixture.toml answers them)",
                host.root().display()
            )
        };
        p.heading(&format!(
            "krc preflight: qualifying this host for rootless k3s as {} (uid {}){root}",
            u.name, u.uid
        ));
    }
    runner::run(
        suite.phase,
        &suite.name,
        host_tasks(suite, host),
        harness,
        output::feed(&printer),
    )
}

pub(crate) fn preflight(args: &PreflightArgs) -> Result<u8, CmdError> {
    let sa = &args.suite;
    let rootless = args.rootless.flags().parse().map_err(CmdError::new)?;
    let (harness, files) = output::prepare(sa)?;
    let suite = Suite::for_phase(sa.suite.as_deref(), Phase::Preflight)?.with_rootless(&rootless);
    let ids: Vec<&str> = suite.entries.iter().map(|e| e.check.id).collect();
    if let Some(code) = output::no_match("preflight", &ids, &harness, Some("preflight")) {
        return Ok(code);
    }
    let user = sa.user.as_deref().or(suite.user.as_deref());
    let host = Arc::new(Host::open(&args.root, user)?);
    let id_width = suite.id_width();
    if harness.list {
        let mut p = Printer::stdout(false, false, id_width);
        runner::list(&host_tasks(&suite, &host), &harness, &mut p);
        return Ok(exit::OK);
    }
    let printer = output::printer(&sa.harness.look, id_width);
    let report = run_phase(&suite, &host, &harness, printer.clone());
    output::finish(
        printer.as_ref(),
        &report,
        &files,
        &output::meta(&host, None),
    )
}
