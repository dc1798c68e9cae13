//! krc: a conformance suite and installer for rootless k3s.
//!
//! `main` parses the command line, runs one command and maps its result to
//! an exit status; everything else lives in the modules below.

mod checks;
mod cli;
mod cmd;
mod fsutil;
mod host;
mod install;
mod kube;
mod report;
mod suite;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use cmd::exit;

fn main() -> ExitCode {
    // The user-namespace probe helper first, while this process is still
    // single-threaded and before anything else runs (see host::probes).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(host::probes::userns_probe::HELPER_ARG))
    {
        return ExitCode::from(host::probes::userns_probe::helper_main());
    }
    // ring is the one TLS provider krc is built with (see CRATES.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; the rest is usage.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match &cli.command {
        Command::Preflight(args) => cmd::preflight(args),
        Command::Install(args) => cmd::install(args),
        Command::Uninstall(args) => cmd::uninstall(args),
        Command::Accept(args) => cmd::accept(args),
        Command::Run(args) => cmd::run(args),
        Command::List(args) => cmd::list(args.phase.map(Into::into)),
        Command::Explain { id } => cmd::explain(id),
        // Handled above, before clap; reaching it here is the same call.
        Command::UsernsProbe => Ok(host::probes::userns_probe::helper_main()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("krc: error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
