//! Ctrl-C while acceptance has objects in the cluster: the first Ctrl-C
//! asks the running probe to stop and clean up (the namespace is deleted
//! before krc exits); a second one exits at once and says what may remain.
//! With nothing to clean up, Ctrl-C exits as it always would.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

static PENDING: AtomicUsize = AtomicUsize::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
static INSTALL: Once = Once::new();

/// Exit status of a process ended by SIGINT, as shells report it.
const SIGINT_EXIT: i32 = 130;

pub(crate) fn install(rt: &tokio::runtime::Runtime) {
    INSTALL.call_once(|| {
        rt.spawn(async {
            loop {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                if PENDING.load(Ordering::SeqCst) == 0 {
                    eprintln!("\nkrc: interrupted");
                    std::process::exit(SIGINT_EXIT);
                }
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    eprintln!(
                        "\nkrc: interrupted again; the namespace {} may remain: kubectl delete namespace {}",
                        super::active::NAMESPACE,
                        super::active::NAMESPACE
                    );
                    std::process::exit(SIGINT_EXIT);
                }
                eprintln!(
                    "\nkrc: interrupted; deleting namespace {} first (Ctrl-C again to leave it)",
                    super::active::NAMESPACE
                );
                NOTIFY.notify_waiters();
            }
        });
    });
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
