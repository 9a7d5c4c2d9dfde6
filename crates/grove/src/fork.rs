//! Fork safety: a child created by `fork` gets a fresh hub and fresh
//! thread-pool threads, never its parent's (gevent's `reinit`).
//!
//! After `fork` the child has one thread — the one that forked — with a copy
//! of its parent's memory: that thread's hub still names the parent's epoll
//! instance (an fd shared with the parent: polling it would steal the
//! parent's events) and the thread pools count worker threads that do not
//! exist in the child. A `pthread_atfork` child handler, installed when the
//! first hub is created, bumps a process-wide *fork generation* and forgets
//! the forking thread's hub, doing nothing else (only async-signal-safe work
//! is allowed between `fork` and `exec`): the next grove call creates a
//! fresh hub, thread pools start fresh threads when they see the new
//! generation, and the blocking monitor restarts its watcher.
//!
//! The parent's hub in the child is leaked with its greenlets: they are
//! never resumed, their stacks never reused, their destructors never run.
//! What the fork cannot fix: a lock that another parent thread held at the
//! moment of the fork stays locked in the child (as with any `fork` of a
//! threaded program); and signal subscriptions (`grove::signal`) are not
//! carried over: the dispatcher thread does not exist in the child.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Bumped in each child right after `fork`.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The fork generation of this process: 0 in the original process, one more
/// in each child than in its parent.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Installs the child handler, once per process.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers a plain `extern "C"` function; the handler only
        // does async-signal-safe work (an atomic add, a thread-local store).
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        if rc != 0 {
            eprintln!("grove: pthread_atfork failed ({rc}): a forked child would share this process's hubs");
        }
    });
}

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    crate::hub::forget_after_fork();
}
