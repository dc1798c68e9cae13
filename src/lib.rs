//! krc: a conformance suite and installer for rootless k3s.
//!
//! The binary (`src/main.rs`) only calls [`main`]; the crate is a library so
//! that the fuzz targets in `fuzz/` reach the parsers.
//! [`main`] parses the command line, runs one command and maps its result to
//! an exit status; everything else lives in the modules below.

mod checks;
mod cli;
mod cmd;
mod fsutil;
#[doc(hidden)]
pub mod fuzz;
mod host;
mod install;
mod kube;
mod layout;
mod report;
mod safefs;
mod settings;
mod stop;
mod suite;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use cmd::exit;

/// The whole program: what `krc` does with its command line.
pub fn main() -> ExitCode {
    // The user-namespace probe helper first, while this process is still
    // single-threaded and before anything else runs (see host::probes).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(host::probes::userns_probe::HELPER_ARG))
    {
        return ExitCode::from(host::probes::userns_probe::helper_main());
    }
    // `krc -vV`: the verbose version, as rustc and cargo spell it (clap
    // would stop at -V and print the short one).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if matches!(
        args.iter()
            .map(|a| a.to_str())
            .collect::<Vec<_>>()
            .as_slice(),
        [Some("-vV" | "-Vv")] | [Some("-v"), Some("-V")] | [Some("-V"), Some("-v")]
    ) {
        return ExitCode::from(cmd::version(true).unwrap_or(exit::USAGE));
    }
    // ring is the one TLS provider krc is built with (see CRATES.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; the rest is usage.
            if !e.use_stderr() {
                // A closed stdout (`krc --help | head -1`) is no error.
                let _ = e.print();
                return ExitCode::from(exit::OK);
            }
            if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // Bare `krc`: say what is missing, as for any usage error.
                eprintln!(
                    "krc: a subcommand is missing (preflight, accept, install, run, list, explain, ...); see `krc --help`"
                );
                return ExitCode::from(exit::USAGE);
            }
            eprintln!("{}", usage_line(&e));
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Command::Run(args) = &cli.command {
        report::record::set_warnings_as_failures(args.warnings_as_failures);
    }
    let result = match &cli.command {
        Command::Preflight(args) => cmd::preflight(args),
        Command::Install(args) => cmd::install(args),
        Command::Uninstall(args) => cmd::uninstall(args),
        Command::Pins(args) => cmd::pins(args),
        Command::Bundle(args) => cmd::bundle(args),
        Command::Accept(args) => cmd::accept(args),
        Command::Capture(args) => cmd::capture(args),
        Command::Run(args) => cmd::run(args),
        Command::Report(cli::ReportCommand::Merge(args)) => cmd::merge(args),
        Command::List(args) => cmd::list(args.phase.map(Into::into)),
        Command::Explain { id } => cmd::explain(id),
        Command::Version { verbose } => cmd::version(*verbose),
        Command::Generate { what, dir } => cmd::generate(*what, dir),
        // Handled above, before clap; reaching it here is the same call.
        Command::UsernsProbe => Ok(host::probes::userns_probe::helper_main()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The one place an error's chain of causes is printed.
        Err(e) => {
            for line in cmd::error_lines(&e) {
                eprintln!("{line}");
            }
            ExitCode::from(e.status())
        }
    }
}

/// A clap error as one line: `krc preflight: unexpected argument '--bogus'
/// found; see `krc preflight --help``. clap's own rendering spans several
/// lines (tip, usage, pointer to --help), which a CI log splits apart.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        match line.strip_prefix("tip: ") {
            // "a similar argument exists" helps; "use '-- --x'" misleads.
            Some(tip) if tip.contains("similar") => parts.push(format!("({tip})")),
            Some(_) => {}
            None => parts.push(line.to_string()),
        }
    }
    let msg = parts.join(" ");
    let msg = if msg.is_empty() {
        "invalid command line".to_string()
    } else {
        msg
    };
    let command = subcommand()
        .map(|c| format!("krc {c}"))
        .unwrap_or_else(|| "krc".to_string());
    format!("{command}: {msg}; see `{command} --help`")
}

/// The subcommand named on the command line, if it is one of krc's.
fn subcommand() -> Option<String> {
    use clap::CommandFactory;
    let word = std::env::args().nth(1)?;
    Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == word)
        .then_some(word)
}
