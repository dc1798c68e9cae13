//! `krc install` and `krc uninstall`: flags to a validated request, the
//! installer core, the reports.

use super::install_show::Terminal;
use super::output::{self, ReportFiles};
use super::{CmdError, exit};
use crate::cli::{InstallArgs, UninstallArgs};
use crate::install::{apply, options, uninstall as un};

/// The installer's request from the flags; every flag is checked before
/// anything is read or touched.
pub(crate) fn request(args: &InstallArgs) -> Result<apply::Request, CmdError> {
    let raw = options::RawOptions {
        k3s_version: args.k3s_version.clone(),
        k3s_commit: args.k3s_commit.clone(),
        rootless: args.rootless.flags(),
        offline: args.offline.clone(),
        mirror: args.mirror.clone(),
        pins: args.pins.clone(),
        require_pins: args.require_pins || require_pins_env(),
        insecure_mirror: args.insecure_mirror,
        wait_timeout: Some(args.wait_timeout),
        ipv6_forwarding: args.ipv6_forwarding,
        proxy: options::ProxyFlags {
            http: args.http_proxy.clone(),
            https: args.https_proxy.clone(),
            no: args.no_proxy.clone(),
        },
    };
    let opts =
        options::validate(&raw, std::env::var("GITHUB_TOKEN").ok()).map_err(CmdError::new)?;
    Ok(apply::Request {
        root: args.root.clone(),
        user: args.user.clone(),
        opts,
        dry_run: args.dry_run,
        yes: args.yes,
        force: args.force,
    })
}

/// `KRC_REQUIRE_PINS=1` (for a CI variable): the same as `--require-pins`.
/// It can only make krc stricter, so root may honour it (sudo keeps it).
fn require_pins_env() -> bool {
    std::env::var("KRC_REQUIRE_PINS").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The install's report files, checked before anything runs. The
/// installer prints its progress on stdout, so `-` is refused here.
pub(crate) fn report_files(
    junit: &Option<std::path::PathBuf>,
    json: &Option<std::path::PathBuf>,
    html: &Option<std::path::PathBuf>,
) -> Result<ReportFiles, CmdError> {
    let files = ReportFiles {
        junit: junit.clone(),
        json: json.clone(),
        html: html.clone(),
    };
    if [junit, json, html]
        .into_iter()
        .flatten()
        .any(|p| output::is_stdout(p))
    {
        return Err(CmdError::new(
            "a report to stdout (-) would mix with the installer's progress lines: write it to a file",
        ));
    }
    files.validate()?;
    Ok(files)
}

pub(crate) fn install(args: &InstallArgs) -> Result<u8, CmdError> {
    let req = request(args)?;
    super::open_for_user(&args.root, args.user.as_deref())?;
    let files = report_files(&args.junit, &args.json, &args.html)?;
    let opts = &req.opts;
    let run = match apply::install(&req, &mut Terminal) {
        Ok(run) => run,
        Err(apply::InstallError::NeedsRoot) => {
            let user = root_user(args.user.as_ref(), &args.root);
            return Ok(super::as_root(&user).unwrap_or_else(|e| {
                // The error and its cause, on one line.
                eprintln!("krc install: {}", crate::install::fetch::chain(&e));
                exit::FAILED
            }));
        }
        Err(e) => return Err(super::install_error(e)),
    };
    if let Some(host) = &run.host
        && !run.steps.is_empty()
    {
        let report = crate::install::report::phase_report(&run.steps);
        let code = super::exit_code(run.outcome);
        files.write(
            &run_meta(host, &run, opts),
            std::slice::from_ref(&report),
            code,
        )?;
    }
    Ok(super::exit_code(run.outcome))
}

/// The reports' facts, with how the artifacts were verified and their sums.
pub(crate) fn run_meta(
    host: &crate::host::Host,
    run: &apply::Run,
    opts: &options::Options,
) -> crate::report::RunMeta {
    let mut meta = output::meta(host, Some(opts.pin.to_string()));
    meta.trust = run.trust.map(|t| t.label().to_string());
    meta.sha256 = run.sha256.clone();
    meta
}

pub(crate) fn uninstall(args: &UninstallArgs) -> Result<u8, CmdError> {
    let files = report_files(&args.junit, &args.json, &args.html)?;
    let req = un::Request {
        root: args.root.clone(),
        user: args.user.clone(),
        dry_run: args.dry_run,
        yes: args.yes,
    };
    let mut sink = super::uninstall_report::Recorder::new(Terminal);
    match un::uninstall(&req, &mut sink) {
        Ok(outcome) => {
            let code = super::uninstall_exit_code(outcome);
            if let Ok(host) = crate::host::Host::open(&args.root, args.user.as_deref()) {
                let report = sink.report(outcome);
                let meta = output::meta(&host, None);
                files.write(&meta, std::slice::from_ref(&report), code)?;
            }
            Ok(code)
        }
        Err(apply::InstallError::NeedsRoot) => {
            let user = root_user(args.user.as_ref(), &args.root);
            Ok(super::as_root(&user).unwrap_or_else(|e| {
                // The error and its cause, on one line.
                eprintln!("krc uninstall: {}", crate::install::fetch::chain(&e));
                exit::FAILED
            }))
        }
        Err(e) => Err(super::install_error(e)),
    }
}

/// The user the root run works for: `--user`, or the one krc would pick.
fn root_user(user: Option<&String>, root: &std::path::Path) -> String {
    user.cloned()
        .or_else(|| {
            crate::host::Host::open(root, None)
                .ok()
                .map(|h| h.user().name.clone())
        })
        .unwrap_or_default()
}
