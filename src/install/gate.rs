//! The preflight gate: before changing anything, run the preflight suite
//! and refuse when a required check fails that no planned step fixes
//! (kernel too old, no user namespaces, AppArmor restriction, ...).
//! Once krc's own install exists (its user unit is there), its own k3s
//! holding the API port and running is expected, not a blocker.

use crate::checks::{Ctx, Phase, Severity, Status};
use crate::host::Host;
use crate::settings::{RootlessPatch, RootlessSettings};
use crate::suite::Suite;

/// A required check that fails and that no planned step fixes.
#[derive(Debug, Clone)]
pub(crate) struct Blocker {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: String,
    pub(crate) remedy: Option<String>,
}

impl std::fmt::Display for Blocker {
    /// `ID: summary — fix: first line of the remedy`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.summary)?;
        if let Some(r) = self.remedy.as_deref().and_then(|r| r.lines().next()) {
            write!(f, " — fix: {r}")?;
        }
        Ok(())
    }
}

/// Every blocking check.
/// The preflight suite judges by the install's own settings (its `--cidr`
/// is the network that must be free, not the default one).
pub(crate) fn blockers(host: &Host, planned: &[&str], rootless: &RootlessSettings) -> Vec<Blocker> {
    let suite = Suite::builtin(Phase::Preflight).with_rootless(&RootlessPatch::all(*rootless));
    let mut out = Vec::new();
    // Changing the settings of an install krc made: its own k3s holds the
    // API port and runs; that is not "another k3s".
    let ours = host.exists(&crate::layout::unit_path(&host.user().home));
    for e in &suite.entries {
        if e.severity != Severity::Required {
            continue;
        }
        if ours && ["ports.free", "k3s.single-instance"].contains(&e.check.id) {
            continue;
        }
        let v = e.check.judge(&Ctx {
            host,
            params: &e.params,
        });
        if !matches!(v.status, Status::Fail | Status::Error) {
            continue;
        }
        // A check a planned step fixes will pass after the install. On a
        // first install, one whose step is already "satisfied" will not
        // (e.g. controllers the kernel keeps on v1), so it blocks. Once
        // krc's install exists such a failure is the pending effect of its
        // own steps (a re-login for delegation): a re-run to change
        // settings must not be refused for it.
        if let Some(step) = e.check.fixed_by
            && (planned.contains(&step) || ours)
        {
            continue;
        }
        let redact = crate::report::redact::redact;
        out.push(Blocker {
            id: e.check.id,
            title: e.check.title,
            summary: redact(&v.summary),
            remedy: v.remedy.as_deref().map(redact),
        });
    }
    out
}
