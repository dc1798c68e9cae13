//! The preflight gate: before changing anything, run the preflight suite
//! and refuse when a required check fails that no planned step fixes
//! (kernel too old, no user namespaces, AppArmor restriction, ...).

use crate::checks::{Ctx, Phase, Severity, Status};
use crate::host::Host;
use crate::suite::Suite;

/// `ID: summary (remedy)` for every blocking check.
pub(crate) fn blockers(host: &Host, planned: &[&str]) -> Vec<String> {
    let suite = Suite::builtin(Phase::Preflight);
    let mut out = Vec::new();
    for e in &suite.entries {
        if e.severity != Severity::Required {
            continue;
        }
        let v = e.check.judge(&Ctx {
            host,
            params: &e.params,
        });
        if !matches!(v.status, Status::Fail | Status::Error) {
            continue;
        }
        // A check a planned step fixes will pass after the install; one
        // fixed by a step that is already "satisfied" will not, so it blocks.
        if e.check.fixed_by.is_some_and(|s| planned.contains(&s)) {
            continue;
        }
        let remedy = v
            .remedy
            .as_deref()
            .and_then(|r| r.lines().next())
            .map(|r| format!(" — fix: {r}"))
            .unwrap_or_default();
        out.push(format!(
            "{}: {}{remedy}",
            e.check.id,
            crate::report::redact::redact(&v.summary)
        ));
    }
    out
}
