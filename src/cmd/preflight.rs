//! `krc preflight`: qualify a host before install. Reads, never changes.

use std::sync::Arc;

use super::output::{self, ReportFiles};
use super::{CmdError, exit};
use crate::checks::Phase;
use crate::cli::PreflightArgs;
use crate::host::Host;
use crate::report::Counts;
use crate::suite::Suite;
use crate::suite::runner::{self, host_tasks};

pub(crate) fn preflight(args: &PreflightArgs) -> Result<u8, CmdError> {
    let sa = &args.suite;
    let suite = match &sa.suite {
        Some(path) => Suite::load(path).map_err(CmdError::new)?,
        None => Suite::builtin(Phase::Preflight),
    };
    if suite.phase != Phase::Preflight {
        return Err(CmdError::new(format!(
            "suite {:?} is a {} suite, not a preflight suite",
            suite.name,
            suite.phase.name()
        )));
    }
    let user = sa.user.as_deref().or(suite.user.as_deref());
    let host = Arc::new(Host::open(&args.root, user).map_err(CmdError::new)?);
    let tasks = host_tasks(&suite, &host);
    let id_width = tasks.iter().map(|t| t.id.len()).max().unwrap_or(0);
    let printer = output::printer(&sa.harness, id_width);
    if sa.harness.list {
        let mut p = crate::report::terminal::Printer::stdout(false, false, id_width);
        runner::list(&tasks, &sa.harness, &mut p);
        return Ok(exit::OK);
    }
    if let Some(p) = &printer
        && let Ok(mut p) = p.lock()
    {
        let u = host.user();
        let root = if host.origin() == crate::host::Origin::Live {
            String::new()
        } else {
            let about = host
                .description()
                .map(|d| format!(": {d}"))
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
    let report = runner::run(&suite.name, tasks, &sa.harness, printer.clone());
    let counts = Counts::of(&report.records);
    let blocked = report.records.iter().any(|r| r.blocks());
    if let Some(p) = &printer
        && let Ok(mut p) = p.lock()
    {
        p.summary(&counts);
    }
    let files = ReportFiles {
        junit: sa.junit.clone(),
        json: sa.json.clone(),
        html: sa.html.clone(),
    };
    files.write(&output::meta(&host, None), std::slice::from_ref(&report))?;
    Ok(if blocked { exit::FAILED } else { exit::OK })
}
