//! `krc version` (what a bug report needs: version, commit, target, glibc
//! floor, build date, features) and the hidden `krc __generate`, which
//! writes the man pages and shell completions from the real clap
//! definitions for `ci/release/build.sh`: what ships is what parses.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{CmdError, exit};
use crate::cli::{Cli, Generated, VERSION};

/// The lines `krc version` prints (`--verbose`: all of them).
fn version_lines(verbose: bool) -> Vec<String> {
    let mut lines = vec![format!("krc {VERSION}")];
    if verbose {
        lines.extend([
            format!("target: {}", env!("KRC_TARGET")),
            format!("glibc floor: {}", env!("KRC_GLIBC_FLOOR")),
            format!("build date: {}", env!("KRC_BUILD_DATE")),
            format!("features: {}", env!("KRC_FEATURES")),
        ]);
    }
    lines
}

pub(crate) fn version(verbose: bool) -> Result<u8, CmdError> {
    let mut text = version_lines(verbose).join("\n");
    text.push('\n');
    super::catalogue::emit(&text)?;
    Ok(exit::OK)
}

/// Writes the man pages (`krc.1`, `krc-SUBCOMMAND.1` for each visible
/// subcommand) or the completions (`krc.bash`, `_krc`, `krc.fish`) into
/// `dir`. A build tool run by whoever builds the release, on a directory
/// they chose: plain std::fs, nothing here runs as root for another user.
pub(crate) fn generate(what: Generated, dir: &Path) -> Result<u8, CmdError> {
    let fail = |e: std::io::Error| {
        CmdError::caused(
            format!(
                "failed to write into {}; give a directory you can write (e.g. `krc __generate man target/man`)",
                dir.display()
            ),
            e,
        )
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut cmd = Cli::command();
    cmd.build();
    match what {
        Generated::Man => {
            write_man(&cmd, dir).map_err(fail)?;
        }
        Generated::Completions => {
            // clap_complete offers hidden subcommands too: complete only
            // the ones a user types (a fresh top level, same flags).
            let mut visible = clap::Command::new("krc").version(VERSION).subcommands(
                cmd.get_subcommands()
                    .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                    .cloned(),
            );
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut visible, "krc", dir).map_err(fail)?;
            }
        }
    }
    Ok(exit::OK)
}

/// One page for `cmd` (built, so a subcommand's display name is
/// `krc-preflight`), then one per visible subcommand: hidden ones
/// (`__generate`, the probe helper) are internal and get none.
fn write_man(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_man(sub, dir)?;
    }
    Ok(())
}
