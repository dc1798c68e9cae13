//! Ctrl-C or SIGTERM during acceptance. The first asks the run to stop
//! ([`crate::stop`]): a call waiting on the API server (the target
//! user's process) gives up at once, the running check ends — a probe with
//! objects in the cluster deletes its namespace first — the checks not yet
//! started are reported as skipped "interrupted", and the reports are
//! written, so a CI job's timeout still leaves a report. A second signal
//! exits at once and says what may remain.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

static PENDING: AtomicUsize = AtomicUsize::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
/// Woken on every signal: an API call waiting on the server (the user's
/// process) gives up at once instead of at its deadline.
static STOP: Notify = Notify::const_new();
static INSTALL: Once = Once::new();

pub(crate) fn install(rt: &tokio::runtime::Runtime) {
    INSTALL.call_once(|| {
        rt.spawn(async {
            loop {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                on_signal(libc::SIGINT);
            }
        });
        rt.spawn(async {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            while term.recv().await.is_some() {
                on_signal(libc::SIGTERM);
            }
        });
    });
}

/// The first signal stops the run gracefully: the running check ends
/// (a probe deletes its namespace first), the rest are reported skipped,
/// the reports are written. The second one exits at once.
fn on_signal(sig: i32) {
    let name = crate::stop::name(sig);
    let status = i32::from(crate::stop::exit_status(sig));
    let again = crate::stop::request(sig);
    STOP.notify_waiters();
    if PENDING.load(Ordering::SeqCst) == 0 {
        if again {
            eprintln!("\nkrc: {name} again: stopping now; no report is written");
            std::process::exit(status);
        }
        eprintln!(
            "\nkrc: {name}: the running check stops waiting for the API server, the rest are reported as skipped, the reports are written (interrupt again to quit at once)"
        );
        return;
    }
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        eprintln!(
            "\nkrc: interrupted again; the namespace {} may remain: kubectl delete namespace {}",
            super::active::NAMESPACE,
            super::active::NAMESPACE
        );
        std::process::exit(status);
    }
    eprintln!(
        "\nkrc: interrupted; deleting namespace {} first (interrupt again to leave it)",
        super::active::NAMESPACE
    );
    NOTIFY.notify_waiters();
}

/// While alive, Ctrl-C means "clean up, then stop".
pub(crate) struct CleanupPending;

impl CleanupPending {
    pub(crate) fn enter() -> CleanupPending {
        PENDING.fetch_add(1, Ordering::SeqCst);
        CleanupPending
    }
}

impl Drop for CleanupPending {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Resolves when Ctrl-C was pressed during a cleanup-pending section.
pub(crate) async fn wait() {
    loop {
        let notified = NOTIFY.notified();
        if interrupted() {
            return;
        }
        notified.await;
    }
}

/// Resolves with the signal once the run was asked to stop. Not for the
/// cleanup of a probe's namespace, which must still run then.
pub(crate) async fn stop_requested() -> i32 {
    loop {
        // Created before the look: a signal between the two still wakes it.
        let notified = STOP.notified();
        if let Some(sig) = crate::stop::requested() {
            return sig;
        }
        notified.await;
    }
}
