//! What `krc install` prints: the plan for `--dry-run`, one line per step
//! while applying, and the closing lines. Plain text, no color: it is read
//! in CI logs and by people at 3 a.m. alike.

use std::io::{BufRead, IsTerminal, Write};

use super::options::Options;
use super::report::Outcome;
use super::steps::{Ctx, PLAN, State};
use crate::host::{Host, Origin};

/// Prints a line; a closed stdout (`krc install --dry-run | head`) is not an error.
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn where_(host: &Host) -> String {
    if host.origin() == Origin::Tree {
        format!(" in the tree {}", host.root().display())
    } else {
        String::new()
    }
}

pub(crate) fn heading(host: &Host, opts: &Options) {
    let u = host.user();
    say(&format!(
        "krc install: rootless k3s ({}) for {} (uid {}){}",
        opts.pin,
        u.name,
        u.uid,
        where_(host)
    ));
}

pub(crate) fn plan(ctx: &Ctx<'_>, states: &[State], me: u32, pins_err: Option<&str>) {
    let u = ctx.host.user();
    say(&format!(
        "krc install --dry-run: the plan for {} (uid {}){}, k3s {}; nothing is changed.",
        u.name,
        u.uid,
        where_(ctx.host),
        ctx.opts.pin
    ));
    if !ctx.live {
        say(
            "  (--root: files are written in the tree; host commands are listed but would not be run)",
        );
    }
    let machine = crate::host::systemd::machine_transport(ctx.host);
    let total = PLAN.len();
    let mut todo = 0;
    for (k, (step, state)) in PLAN.iter().zip(states).enumerate() {
        say("");
        say(&format!("[{}/{total}] {} — {}", k + 1, step.id, step.title));
        match state {
            State::Satisfied(s) => say(&format!("  satisfied: {s}")),
            State::Skipped(s) => say(&format!("  skipped: {s}")),
            State::RebootPending(s) => say(&format!(
                "  reboot pending: {s}; krc install stops here with exit 3 until the host is rebooted"
            )),
            State::Needed(why) => {
                todo += 1;
                say(&format!("  needed: {why}"));
                match (step.plan)(ctx) {
                    Ok(actions) if actions.is_empty() => say("  would: wait (nothing is written)"),
                    Ok(actions) => {
                        say("  would:");
                        for a in actions {
                            for (i, line) in
                                a.describe(ctx.fs, &u.name, me, machine).lines().enumerate()
                            {
                                say(&format!("  {} {line}", if i == 0 { "-" } else { " " }));
                            }
                        }
                    }
                    Err(e) => say(&format!("  cannot apply: {e}")),
                }
                if step.id == "cgroup-v2" {
                    say(
                        "  then: stop with exit 3, \"reboot required\"; run krc install again after the reboot",
                    );
                }
            }
        }
    }
    say("");
    if let Some(e) = pins_err {
        say(&format!("note: {e}"));
    }
    if todo == 0 {
        say("every step is already satisfied: krc install would change nothing.");
    } else {
        say(&format!(
            "{todo} of {total} steps would change this host; run without --dry-run (and with --yes to skip the question) to apply."
        ));
    }
}

pub(crate) fn step_line(n: usize, id: &str, o: &Outcome) {
    say(&format!(
        "  [{n:>2}/{}] {id:<17} {:<9} {}",
        PLAN.len(),
        o.label(),
        o.text()
    ));
}

/// Asks before changing the host; without a terminal, `--yes` is required.
pub(crate) fn confirm(needed: &[&str]) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "krc install would change this host ({}) and stdin is not a terminal: pass --yes, or look first with --dry-run",
            needed.join(", ")
        ));
    }
    print!(
        "apply {} step(s): {}? [y/N] ",
        needed.len(),
        needed.join(", ")
    );
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// The command that resumes the install: the same arguments again.
fn resume_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("krc {}", args.join(" "))
}

pub(crate) fn reboot_required() {
    say("krc install: reboot required: the boot configuration now asks for pure cgroup v2.");
    say("Reboot this host, then run the same command again; it continues where it stopped:");
    say(&format!("  sudo reboot\n  {}", resume_command()));
}

pub(crate) fn done(results: &[super::apply::StepResult]) {
    let applied = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Applied(_)))
        .count();
    if applied == 0 {
        say("krc install: every step is already satisfied; nothing was changed.");
    } else {
        say(&format!(
            "krc install: done ({applied} step(s) applied; `krc uninstall` undoes them)."
        ));
    }
    say("To use the cluster as this user:");
    say("  export KUBECONFIG=~/.kube/k3s.yaml");
}
