//! Where objects on other threads report readiness to a `grove::wait`.
//!
//! An `AsyncResult` may be set, and a `RemoteGreenlet` may finish, on any
//! thread; the `iwait` record they report to is hub-local. They report to
//! its mailbox instead: indices in the order they arrived, and the
//! waiter's cross-thread unparker while it is parked. The mailbox's mutex is
//! `crate::sync`'s, so the loom models below cover it.

use crate::hub::{RemoteUnparker, RemoteWatch, Unparker, Watch};
use crate::sync::{Mutex, MutexGuard};

/// Where objects on other threads (an `AsyncResult` set from anywhere)
/// report readiness: indices in order, and the waiter's cross-thread
/// unparker while it is parked. Lock order: the watched object's mutex,
/// then this one, then the waiter hub's job queue. Its mutex is
/// `crate::sync`'s, so `loom_tests` below check it under loom.
pub(super) struct Mailbox {
    inner: Mutex<Mail>,
}

#[derive(Default)]
pub(super) struct Mail {
    fired: Vec<usize>,
    pub(super) waker: Option<RemoteUnparker>,
}

impl Mailbox {
    pub(super) fn new() -> Self {
        Mailbox {
            inner: Mutex::new(Mail::default()),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Mail> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn take(&self) -> Vec<usize> {
        std::mem::take(&mut self.lock().fired)
    }

    /// See `Tracker::arm`.
    pub(super) fn arm(&self, unparker: &Unparker) -> bool {
        self.arm_with(RemoteUnparker::from_local(unparker))
    }

    /// Makes `waker` the one a readiness wakes, unless mail is waiting.
    fn arm_with(&self, waker: RemoteUnparker) -> bool {
        let mut mail = self.lock();
        if !mail.fired.is_empty() {
            return false;
        }
        mail.waker = Some(waker);
        true
    }

    pub(super) fn disarm(&self) {
        // Dropped outside the lock: it holds a `Handle` clone.
        let waker = self.lock().waker.take();
        drop(waker);
    }
}

impl RemoteWatch for Mailbox {}

impl Watch for Mailbox {
    fn ready(&self, index: usize) {
        let waker = {
            let mut mail = self.lock();
            mail.fired.push(index);
            mail.waker.take()
        };
        if let Some(waker) = waker {
            waker.unpark();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use super::*;
    use crate::sync::model::{self, on_hub};
    use crate::sync::thread;

    /// Takes mail until `want` indices have arrived, parking between looks
    /// as `iwait` does: arm (refused if mail is waiting), park, disarm.
    fn collect(mailbox: &Mailbox, want: usize) -> Vec<usize> {
        let mut got = Vec::new();
        while got.len() < want {
            got.extend(mailbox.take());
            if got.len() < want && mailbox.arm_with(RemoteUnparker::model_current()) {
                model::park();
                mailbox.disarm();
            }
        }
        got
    }

    /// A readiness from another thread against the waiter arming and
    /// parking: never lost (loom fails a model whose hub nobody wakes).
    #[test]
    fn loom_a_remote_readiness_reaches_a_parking_waiter() {
        loom::model(|| {
            on_hub(|_| {
                let mailbox = Arc::new(Mailbox::new());
                let remote = mailbox.clone();
                let t = thread::spawn(move || remote.ready(3));
                assert_eq!(collect(&mailbox, 1), [3]);
                t.join().unwrap();
                assert!(mailbox.lock().waker.is_none(), "no waker left armed");
            });
        });
    }

    /// Two threads report: both indices arrive, each once.
    #[test]
    fn loom_two_reporters() {
        loom::model(|| {
            on_hub(|_| {
                let mailbox = Arc::new(Mailbox::new());
                let reporters: Vec<_> = [1, 2]
                    .into_iter()
                    .map(|index| {
                        let remote = mailbox.clone();
                        thread::spawn(move || remote.ready(index))
                    })
                    .collect();
                let mut got = collect(&mailbox, 2);
                got.sort_unstable();
                assert_eq!(got, [1, 2]);
                for t in reporters {
                    t.join().unwrap();
                }
            });
        });
    }
}
