//! `krc accept`: after an install, prove that rootless k3s works and that
//! its rootless limits hold. [`run_phase`] runs the acceptance phase for
//! any caller (`krc run` chains it after preflight and install).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libtest_mimic::Arguments;

use super::output;
use super::{CmdError, exit};
use crate::checks::Phase;
use crate::checks::kubeconfig::kubeconfig_path;
use crate::cli::{AcceptArgs, AcceptOptions};
use crate::host::{Host, Origin};
use crate::kube::client::Kube;
use crate::kube::live::LiveAccept;
use crate::kube::{kubeconfig, kubefile};
use crate::report::PhaseReport;
use crate::report::terminal::Printer;
use crate::suite::Suite;
use crate::suite::runner::{self, host_tasks};

/// What an acceptance run will do, resolved from flags and the suite.
#[derive(Debug, Clone)]
pub(crate) struct AcceptPlan {
    pub(crate) root: PathBuf,
    pub(crate) user: Option<String>,
    pub(crate) suite: Suite,
    /// A host path; None: the suite's, or `~USER/.kube/k3s.yaml`.
    pub(crate) kubeconfig: Option<String>,
    pub(crate) timeout_secs: Option<u64>,
}

impl AcceptPlan {
    pub(crate) fn from_args(args: &AcceptArgs) -> Result<AcceptPlan, CmdError> {
        let sa = &args.suite;
        let rootless = args.rootless.flags().parse().map_err(CmdError::new)?;
        let suite =
            Suite::for_phase(sa.suite.as_deref(), Phase::Acceptance)?.with_rootless(&rootless);
        AcceptPlan::new(&args.root, sa.user.as_deref(), suite, &args.accept)
    }

    pub(crate) fn new(
        root: &Path,
        user: Option<&str>,
        suite: Suite,
        opts: &AcceptOptions,
    ) -> Result<AcceptPlan, CmdError> {
        let kubeconfig = match &opts.kubeconfig {
            Some(p) if root == Path::new("/") => Some(
                std::path::absolute(p)
                    .map_err(|e| CmdError::new(format!("--kubeconfig {}: {e}", p.display())))?
                    .display()
                    .to_string(),
            ),
            Some(p) => Some(p.display().to_string()),
            None => None,
        };
        if opts.timeout == Some(0) {
            return Err(CmdError::new(
                "--timeout 0: give the waits at least one second",
            ));
        }
        Ok(AcceptPlan {
            root: root.to_path_buf(),
            user: user.map(str::to_string).or_else(|| suite.user.clone()),
            suite,
            kubeconfig,
            timeout_secs: opts.timeout,
        })
    }
}

/// Opens the host, connects to the cluster and runs the acceptance suite.
/// The heading goes to `printer`; the summary and reports are the caller's.
pub(crate) fn run_phase(
    plan: &AcceptPlan,
    harness: &Arguments,
    printer: Option<Arc<Mutex<Printer>>>,
) -> Result<(PhaseReport, Arc<Host>), CmdError> {
    let mut suite = plan.suite.clone();
    for e in &mut suite.entries {
        if let Some(k) = &plan.kubeconfig {
            e.params.accept.kubeconfig = Some(k.clone());
        }
        if let Some(t) = plan.timeout_secs {
            e.params.accept.timeout_secs = t;
        }
    }
    let host = Host::open(&plan.root, plan.user.as_deref())?;
    let configured = suite
        .entries
        .first()
        .and_then(|e| e.params.accept.kubeconfig.clone());
    let kc = kubeconfig_path(host.user(), configured.as_deref());
    let kube = connect(&host, &kc);
    let live = LiveAccept::new(kube, host.origin() == Origin::Live);
    let host = Arc::new(host.with_accept_probes(Box::new(live)));
    if let Some(p) = &printer
        && let Ok(mut p) = p.lock()
    {
        let u = host.user();
        p.heading(&format!(
            "krc accept: checking rootless k3s of {} (uid {}) through {kc}",
            u.name, u.uid
        ));
    }
    let tasks = host_tasks(&suite, &host);
    Ok((
        runner::run(
            suite.phase,
            &suite.name,
            tasks,
            harness,
            output::feed(&printer),
        ),
        host,
    ))
}

/// The client, or why there is none in words safe for any report: the
/// file is read without following links and parsed by krc's own rules.
fn connect(host: &Host, kc: &str) -> Result<Kube, String> {
    let file = kubefile::read_host(host, kc).map_err(|r| {
        format!(
            "failed to load kubeconfig: {}",
            kubefile::refusal(host, kc, &r)
        )
    })?;
    let (_, creds) = kubeconfig::parse(&file.text)
        .map_err(|e| format!("failed to load kubeconfig: {}", e.in_file(kc)))?;
    Kube::open(kc, &creds).map_err(|e| e.to_string())
}

pub(crate) fn accept(args: &AcceptArgs) -> Result<u8, CmdError> {
    let sa = &args.suite;
    let (harness, files) = output::prepare(sa)?;
    let plan = AcceptPlan::from_args(args)?;
    let ids: Vec<&str> = plan.suite.entries.iter().map(|e| e.check.id).collect();
    if let Some(code) = output::no_match("accept", &ids, &harness, Some("acceptance")) {
        return Ok(code);
    }
    let id_width = plan.suite.id_width();
    if harness.list {
        let host = Arc::new(Host::open(&plan.root, plan.user.as_deref())?);
        let mut p = Printer::stdout(false, false, id_width);
        runner::list(&host_tasks(&plan.suite, &host), &harness, &mut p);
        return Ok(exit::OK);
    }
    let printer = output::printer(&sa.harness.look, id_width);
    let (report, host) = run_phase(&plan, &harness, printer.clone())?;
    let pin = plan
        .suite
        .entries
        .first()
        .and_then(|e| e.params.accept.k3s_version.clone());
    let code = output::finish(printer.as_ref(), &report, &files, &output::meta(&host, pin))?;
    Ok(crate::stop::requested().map_or(code, crate::stop::exit_status))
}
