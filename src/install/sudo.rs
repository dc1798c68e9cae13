//! Running as the target user: the root steps need root, so krc runs
//! itself again through `sudo -n` with `--user` set, and that one root
//! process writes every file atomically and keeps the journal (user steps
//! then go through runuser / `systemctl --machine`). If sudo wants a
//! password, krc stops before changing anything.

use std::process::Command;

/// The marker [`super::apply::install`] returns to ask for the re-run.
pub(crate) const REEXEC: &str = "krc: re-run under sudo";

/// Variables the root run needs from the user's environment.
const KEEP_ENV: &str = "GITHUB_TOKEN,KRC_FAULT_STEP,KRC_COMMAND_LOG";

pub(crate) fn reexec(user: &str) -> Result<u8, String> {
    let probe = Command::new("sudo").args(["-n", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(format!(
                "the root steps need sudo, and sudo asks for a password ({}): run `sudo krc install --user {user} ...`, or allow this user NOPASSWD sudo",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => {
            return Err(format!(
                "the root steps need sudo, which could not be run ({e}): run krc install as root with --user {user}"
            ));
        }
    }
    let exe = std::env::current_exe().map_err(|e| format!("failed to find krc's own path: {e}"))?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if !args
        .iter()
        .any(|a| a == "--user" || a.starts_with("--user="))
    {
        args.push("--user".into());
        args.push(user.into());
    }
    let status = Command::new("sudo")
        .arg("-n")
        .arg(format!("--preserve-env={KEEP_ENV}"))
        .arg(exe)
        .args(&args)
        .status()
        .map_err(|e| format!("failed to run sudo: {e}"))?;
    Ok(status.code().map_or(crate::cmd::exit::FAILED, |c| c as u8))
}
