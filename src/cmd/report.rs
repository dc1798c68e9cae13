//! `krc report merge`: many hosts' JSON reports into one fleet report
//! (JUnit, HTML, JSON), a line per host that is not qualified, and the
//! fleet's exit status.

use std::io::Write;
use std::path::PathBuf;

use super::output::{ReportFiles, is_stdout, put};
use super::{CmdError, exit};
use crate::cli::MergeArgs;
use crate::report::merge::{Fleet, FleetVerdict, Host, HostVerdict};
use crate::report::merge_read::{self, visible};
use crate::report::{fleet_html, merge_json, merge_junit};

/// The exit status of a fleet: 1 if a host failed, 5 if one is not
/// judged (or waits for a reboot or login), else 0.
pub(crate) fn fleet_status(fleet: &Fleet) -> u8 {
    match fleet.verdict() {
        FleetVerdict::Passed => exit::OK,
        FleetVerdict::Failed => exit::FAILED,
        FleetVerdict::Inconclusive => exit::INCONCLUSIVE,
    }
}

/// A report written over one of the reports being merged would lose it.
fn refuse_overwriting_inputs(files: &ReportFiles, inputs: &[PathBuf]) -> Result<(), CmdError> {
    let inputs: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for (flag, out) in [
        ("--junit", &files.junit),
        ("--json", &files.json),
        ("--html", &files.html),
    ] {
        let Some(out) = out else { continue };
        if is_stdout(out) {
            continue;
        }
        if let Ok(real) = std::fs::canonicalize(out)
            && inputs.contains(&real)
        {
            return Err(CmdError::new(format!(
                "{flag} {}: is one of the reports to merge; write the fleet report to another file",
                merge_read::shown(out)
            )));
        }
    }
    Ok(())
}

/// At most this many check ids on a host's line; the rest are counted.
const IDS_SHOWN: usize = 4;

fn ids_line(ids: &[&str]) -> String {
    let mut s = ids
        .iter()
        .take(IDS_SHOWN)
        .map(|i| visible(i))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > IDS_SHOWN {
        s.push_str(&format!(" (+{} more)", ids.len() - IDS_SHOWN));
    }
    s
}

/// One line for a host that is not qualified.
fn host_line(h: &Host) -> String {
    let what = match h.verdict {
        HostVerdict::Failed => {
            let ids = h.failed_ids();
            if ids.is_empty() {
                "its report says it failed".to_string()
            } else {
                format!("failed: {}", ids_line(&ids))
            }
        }
        HostVerdict::Inconclusive => {
            let ids = h.unjudged_ids();
            if ids.is_empty() {
                "a required check could not be judged".to_string()
            } else {
                format!("not judged: {}", ids_line(&ids))
            }
        }
        HostVerdict::RebootRequired => {
            "the install waits for a reboot: reboot, then run krc again".to_string()
        }
        HostVerdict::ReloginRequired => {
            "the install waits for the user's next login: log in again, then run krc again"
                .to_string()
        }
        HostVerdict::Passed => "qualified".to_string(),
    };
    format!(
        "{:<16} {} ({}): {what}  [{}]",
        h.verdict.label(),
        visible(&h.label),
        visible(&h.distribution()),
        h.file
    )
}

fn total_line(fleet: &Fleet, code: u8) -> String {
    let n = fleet.hosts.len();
    let failed = fleet.count(HostVerdict::Failed);
    let passed = fleet.count(HostVerdict::Passed);
    let verdict = match fleet.verdict() {
        FleetVerdict::Passed => "QUALIFIED",
        FleetVerdict::Failed => "FAILED",
        FleetVerdict::Inconclusive => "INCONCLUSIVE",
    };
    format!(
        "krc report merge: {n} host{}: {passed} qualified, {failed} failed, {} not judged or waiting: {verdict} (exit status {code})",
        if n == 1 { "" } else { "s" },
        n - passed - failed
    )
}

fn write_outputs(files: &ReportFiles, fleet: &Fleet, code: u8) -> Result<(), CmdError> {
    if let Some(p) = &files.junit {
        let xml = merge_junit::render(fleet).map_err(CmdError::of)?;
        put(p, xml.as_bytes())?;
    }
    if let Some(p) = &files.json {
        put(p, merge_json::render_json(fleet, code).as_bytes())?;
    }
    if let Some(p) = &files.html {
        put(p, fleet_html::render(fleet).as_bytes())?;
    }
    Ok(())
}

pub(crate) fn merge(args: &MergeArgs) -> Result<u8, CmdError> {
    let files = ReportFiles {
        junit: args.junit.clone(),
        json: args.json.clone(),
        html: args.html.clone(),
    };
    files.validate()?;
    refuse_overwriting_inputs(&files, &args.files)?;
    let fleet = merge_read::read_fleet(&args.files)
        .map_err(|e| CmdError::new(format!("krc report merge: {e}")))?;
    let code = fleet_status(&fleet);
    write_outputs(&files, &fleet, code)?;
    let mut text = String::new();
    if !args.quiet {
        for h in fleet
            .hosts
            .iter()
            .filter(|h| h.verdict != HostVerdict::Passed)
        {
            text.push_str(&host_line(h));
            text.push('\n');
        }
    }
    text.push_str(&total_line(&fleet, code));
    text.push('\n');
    // With a report on stdout, the summary goes to stderr.
    let res = if files.uses_stdout() {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
    if let Err(e) = res
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(CmdError::caused("failed to write the summary", e));
    }
    Ok(code)
}
