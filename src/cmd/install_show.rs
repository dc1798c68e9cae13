//! What `krc install` and `krc uninstall` print: the installer's events as
//! lines on stdout (the plan for `--dry-run`, one line per step while
//! applying, and the closing lines), and the question before a change.
//! Plain text, no color: it is read in CI logs and by people at 3 a.m.
//! alike.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::install::event::{ConfirmError, Plan, PlannedStep, Target};
use crate::install::report::Outcome;
use crate::install::steps::State;
use crate::install::{Event, Question, Sink};

/// The installer's terminal: events become lines on stdout, questions are
/// asked on stdin.
pub(crate) struct Terminal;

impl Sink for Terminal {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Planned(plan) => planned(plan),
            Event::Started(t) => heading(t),
            Event::Refused {
                lines,
                force_passes,
            } => refused(lines, *force_passes),
            Event::Verified { trust, sha256 } => {
                say(&format!("krc install: artifacts verified ({trust}):"));
                for (name, sum) in sha256 {
                    say(&format!("  sha256 {sum}  {name}"));
                }
            }
            Event::Forced(lines) => {
                for l in lines {
                    say(&format!("krc install: {l}"));
                }
            }
            Event::Declined => say("nothing changed."),
            Event::StepFinished {
                n,
                total,
                id,
                outcome,
                notes,
            } => step_line(*n, *total, id, outcome, notes),
            Event::Paused(n) => say(&format!(
                "krc install: paused after step {n} (KRC_PAUSE_AT_STEP, a test hook)"
            )),
            Event::Waiting {
                attempt,
                elapsed,
                timeout,
                last,
            } => waiting(*attempt, elapsed.as_secs(), timeout.as_secs(), last),
            Event::WaitEnded => {
                if std::io::stdout().is_terminal() {
                    print!("\r\x1b[K");
                }
            }
            Event::RolledBack {
                n,
                id,
                error,
                undone,
                problems,
                checked,
            } => {
                for u in undone {
                    say(&format!("  undone: {u}"));
                }
                say(&format!("krc install: step {n} ({id}) failed: {error}"));
                if problems.is_empty() {
                    say("every change this run made was undone, and krc checked:");
                    for c in checked {
                        say(&format!("  {c}"));
                    }
                } else {
                    not_undone(
                        "these changes could not be undone; fix them by hand:",
                        problems,
                    );
                }
            }
            Event::RebootRequired => reboot_required(),
            Event::ReloginRequired { user, reason } => relogin_required(user, reason),
            Event::Completed { applied } => done(*applied),
            Event::NothingRecorded { user } => say(&format!(
                "krc uninstall: krc recorded no changes for {user} on this host; nothing to undo."
            )),
            Event::UndoPlan { user, changes } => undo_plan(user, changes),
            Event::Uninstalled {
                user,
                count,
                problems,
                pending,
            } if problems.is_empty() => {
                say(&format!(
                    "krc uninstall: undid {count} change(s); krc's changes for {user} are gone."
                ));
                for p in pending {
                    say(&format!("  at {user}'s next login: {p}"));
                }
            }
            Event::Uninstalled { problems, .. } => not_undone(
                "krc uninstall: these changes could not be undone; fix them by hand:",
                problems,
            ),
        }
    }

    /// Asks before changing the host; without a terminal, `--yes` is required.
    fn confirm(&mut self, q: &Question) -> Result<bool, ConfirmError> {
        let tty = std::io::stdin().is_terminal();
        match q {
            Question::Apply(needed) => {
                if !tty {
                    return Err(ConfirmError::NoTerminal(q.clone()));
                }
                print!(
                    "apply {} step(s): {}? [y/N] ",
                    needed.len(),
                    needed.join(", ")
                );
            }
            Question::Undo(changes) => {
                if !tty {
                    return Err(ConfirmError::NoTerminal(q.clone()));
                }
                for c in changes {
                    say(c);
                }
                print!("undo these {} change(s)? [y/N] ", changes.len());
            }
        }
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        Ok(matches!(line.trim(), "y" | "Y" | "yes"))
    }
}

/// Prints a line, redacted (a step's summary may quote a host file: the
/// same redaction as every record); a closed stdout
/// (`krc install --dry-run | head`) is not an error.
/// Prints installer text. On a terminal (or with COLUMNS) it fits the
/// width: prose wraps under its own indent, a command continues with
/// ` \` (never broken inside), file contents and diffs stay as written.
/// Into a pipe every line stays whole, for grep and CI logs.
fn say(text: &str) {
    let text = crate::report::redact::redact(text);
    let width = crate::report::terminal::width_for(std::io::stdout().is_terminal());
    let mut s = String::new();
    for line in text.split('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let content =
            body.starts_with(['|', '+']) || (body.starts_with('-') && !body.starts_with("- "));
        match width {
            Some(w) if !content && line.chars().count() > w => {
                let avail = w.saturating_sub(indent.chars().count()).max(20);
                for l in crate::report::remedy::lay_out(body, Some(avail)) {
                    s.push_str(indent);
                    s.push_str(&l.text);
                    s.push('\n');
                }
            }
            _ => {
                s.push_str(line);
                s.push('\n');
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
}

fn heading(t: &Target) {
    say(&format!(
        "krc install: rootless k3s ({}) for {} (uid {}){}",
        t.pin,
        t.user,
        t.uid,
        where_(t.tree.as_deref())
    ));
}

fn undo_plan(user: &str, changes: &[String]) {
    say(&format!(
        "krc uninstall --dry-run: {} change(s) krc recorded for {user} would be undone, in this order; nothing is changed:",
        changes.len()
    ));
    for c in changes {
        say(c);
    }
}

fn refused(lines: &[String], force_passes: bool) {
    say("krc install: refusing before any change:");
    for l in lines {
        say(&format!("  {l}"));
    }
    if force_passes {
        say(
            "Fix them (see `krc explain ID`) and run krc install again, or pass --force to install anyway.",
        );
    }
}

fn not_undone(heading: &str, problems: &[String]) {
    say(heading);
    for p in problems {
        say(&format!("  {p}"));
    }
}

fn where_(tree: Option<&Path>) -> String {
    match tree {
        Some(root) => format!(" in the tree {}", root.display()),
        None => String::new(),
    }
}

/// `--dry-run`: whether the real run would refuse, the plan, and what
/// `--force` installs past.
fn planned(plan: &Plan) {
    if let Some(lines) = &plan.refusal {
        say("krc install --dry-run: the real run would refuse before changing anything:");
        for l in lines {
            say(&format!("  {l}"));
        }
        say("");
    }
    plan_steps(
        &plan.target,
        plan.live,
        &plan.steps,
        plan.pins_note.as_deref(),
    );
    for l in &plan.forced {
        say(l);
    }
}

fn plan_steps(t: &Target, live: bool, steps: &[PlannedStep], pins_note: Option<&str>) {
    say(&format!(
        "krc install --dry-run: the plan for {} (uid {}){}, k3s {}; nothing is changed.",
        t.user,
        t.uid,
        where_(t.tree.as_deref()),
        t.pin
    ));
    if !live {
        say(
            "  (--root: files are written in the tree; host commands are listed but would not be run)",
        );
    }
    let total = steps.len();
    let mut todo = 0;
    for (k, step) in steps.iter().enumerate() {
        say("");
        say(&format!("[{}/{total}] {} — {}", k + 1, step.id, step.title));
        match &step.state {
            State::Satisfied(s) => say(&format!("  satisfied: {s}")),
            State::Skipped(s) => say(&format!("  skipped: {s}")),
            State::RebootPending(s) => say(&format!(
                "  reboot pending: {s}; krc install stops here with exit 3 until the host is rebooted"
            )),
            State::Needed(why) => {
                todo += 1;
                say(&format!("  needed: {why}"));
                needed_step(step);
            }
        }
    }
    say("");
    if let Some(e) = pins_note {
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

/// What a needed step would do.
fn needed_step(step: &PlannedStep) {
    match &step.actions {
        Ok(actions) if actions.is_empty() => say("  would: wait (nothing is written)"),
        Ok(actions) => {
            say("  would:");
            for a in actions {
                for (i, line) in a.lines().enumerate() {
                    say(&format!("  {} {line}", if i == 0 { "-" } else { " " }));
                }
            }
        }
        Err(e) => say(&format!("  cannot apply: {e}")),
    }
    if step.then_reboot {
        say(
            "  then: stop with exit 3, \"reboot required\"; run krc install again after the reboot",
        );
    }
    if step.id == "delegation" {
        say(
            "  then: restart the user's manager (user@UID.service) only if it runs and the user has no login session; otherwise stop before linger/start with exit 6, \"delegation takes effect at the user's next login\"",
        );
    }
}

fn step_line(n: usize, total: usize, id: &str, o: &Outcome, notes: &[String]) {
    say(&format!(
        "  [{n:>2}/{total}] {id:<17} {:<9} {}",
        o.label(),
        o.text()
    ));
    for note in notes {
        say(&format!("{:>30}{note}", ""));
    }
}

/// The progress line while k3s comes up, on a terminal only.
fn waiting(attempt: usize, elapsed: u64, timeout: u64, last: &str) {
    if !std::io::stdout().is_terminal() {
        return;
    }
    let spin = ['|', '/', '-', '\\'];
    print!(
        "\r  {} waiting for k3s: {elapsed}s of {timeout}s ({last})\x1b[K",
        spin[attempt % 4],
    );
    let _ = std::io::stdout().flush();
}

/// The command that resumes the install: the same arguments again.
fn resume_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("krc {}", args.join(" "))
}

fn reboot_required() {
    say("krc install: reboot required: the boot configuration now asks for pure cgroup v2.");
    say("Reboot this host, then run the same command again; it continues where it stopped:");
    say(&format!("  sudo reboot\n  {}", resume_command()));
}

fn relogin_required(user: &str, reason: &str) {
    say(&format!(
        "krc install: delegation takes effect at {user}'s next login; everything else that does not need it is done."
    ));
    say(&format!("  {reason}"));
    say("Then run the same command again; it completes the install:");
    say(&format!("  {}", resume_command()));
}

fn done(applied: usize) {
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
