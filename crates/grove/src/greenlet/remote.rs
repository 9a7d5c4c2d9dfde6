//! Greenlets started from other threads through a [`Handle`].
//!
//! [`Handle::spawn`] queues a `Send` closure on a hub; the hub starts it as
//! an ordinary greenlet and, when it dies, moves its outcome into a shared
//! slot. The returned [`RemoteGreenlet`] is `Send + Sync`: any thread may
//! join it. A joiner parks on its own thread's hub and is woken through that
//! hub's `Handle` — the cross-thread wait-list in miniature.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::GreenletError;
use crate::hub::{Handle, Hub, HubGone, RemoteUnparker, TimerAction, WaitOn};

struct Slot<T> {
    outcome: Option<Result<T, GreenletError>>,
    taken: bool,
    /// Registry key and id of the greenlet once the hub started it.
    started: Option<(u32, u64)>,
    kill_requested: bool,
    waiters: Vec<RemoteUnparker>,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, outcome: Result<T, GreenletError>) {
        let waiters = {
            let mut slot = self.lock();
            if slot.outcome.is_some() || slot.taken {
                return;
            }
            slot.outcome = Some(outcome);
            std::mem::take(&mut slot.waiters)
        };
        for waiter in waiters {
            waiter.unpark();
        }
    }
}

/// Completes the slot with `Killed` if the job is dropped before it ran (the
/// hub's thread ended first).
struct Completer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.shared.complete(Err(GreenletError::Killed));
    }
}

/// A handle to a greenlet running on another thread's hub; `Send + Sync`.
///
/// Returned by [`Handle::spawn`]. Joining or waiting parks the calling
/// greenlet (or drives the calling thread's own hub) until the greenlet ends.
pub struct RemoteGreenlet<T> {
    shared: Arc<Shared<T>>,
    handle: Handle,
}

impl<T> fmt::Debug for RemoteGreenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteGreenlet")
            .field("is_dead", &self.is_dead())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Starts `f` as a greenlet on this handle's hub, from any thread.
    ///
    /// Fails with [`HubGone`] when the hub's thread has ended.
    pub fn spawn<T, F>(&self, f: F) -> Result<RemoteGreenlet<T>, HubGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                outcome: None,
                taken: false,
                started: None,
                kill_requested: false,
                waiters: Vec::new(),
            }),
        });
        let completer = Completer {
            shared: shared.clone(),
        };
        self.push(Box::new(move || start(completer, f)))?;
        Ok(RemoteGreenlet {
            shared,
            handle: self.clone(),
        })
    }
}

/// Runs on the target hub, in hub context.
fn start<T: Send + 'static>(completer: Completer<T>, f: impl FnOnce() -> T + 'static) {
    if completer.shared.lock().kill_requested {
        return; // the completer reports Killed
    }
    let greenlet = match super::Builder::new().spawn(f) {
        Ok(g) => g,
        Err(err) => {
            completer
                .shared
                .complete(Err(GreenletError::Panicked(Box::new(format!(
                    "grove: cannot spawn: {err}"
                )))));
            return;
        }
    };
    completer.shared.lock().started = Some((greenlet.task.key.get(), greenlet.task.id));
    let task = greenlet.task.clone();
    greenlet.link(move || {
        let outcome = task.completion.borrow_mut().outcome.take();
        let outcome = match outcome {
            Some(Ok(value)) => Ok(*value
                .downcast::<T>()
                .expect("the outcome has the greenlet's type")),
            Some(Err(err)) => Err(err),
            None => Err(GreenletError::Killed),
        };
        task.taken.set(true);
        completer.shared.complete(outcome);
        drop(completer);
    });
}

impl<T: Send + 'static> RemoteGreenlet<T> {
    /// Waits for the greenlet to finish and returns its outcome.
    ///
    /// # Panics
    /// When called in hub context.
    pub fn join(self) -> Result<T, GreenletError> {
        if !self.wait_until(None) {
            self.kill_nowait();
            return Err(GreenletError::Killed);
        }
        let mut slot = self.shared.lock();
        slot.taken = true;
        slot.outcome
            .take()
            .expect("a finished remote greenlet has an outcome")
    }
}

impl<T> RemoteGreenlet<T> {
    /// Waits until the greenlet has finished.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the greenlet has finished.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Hub::get().deadline_after(timeout);
        self.wait_until(Some(deadline))
    }

    /// Whether the greenlet has finished.
    pub fn is_dead(&self) -> bool {
        let slot = self.shared.lock();
        slot.outcome.is_some() || slot.taken
    }

    /// Asks the greenlet's hub to kill it, without waiting. A greenlet that
    /// has not started yet never runs.
    pub fn kill_nowait(&self) {
        let started = {
            let mut slot = self.shared.lock();
            slot.kill_requested = true;
            slot.started
        };
        if let Some((key, id)) = started {
            let _ = self.handle.call(move || {
                let hub = Hub::get();
                if let Some(task) = hub.task_by_key(key, id) {
                    hub.kill_nowait(&task);
                }
            });
        }
    }

    /// Kills the greenlet and waits until it is dead.
    pub fn kill(&self) {
        self.kill_nowait();
        self.wait();
    }

    fn wait_until(&self, deadline: Option<Option<std::time::Instant>>) -> bool {
        let hub = Hub::get();
        loop {
            let unparker = hub.current_unparker();
            let remote = RemoteUnparker::from_local(&unparker);
            {
                let mut slot = self.shared.lock();
                if slot.outcome.is_some() || slot.taken {
                    return true;
                }
                slot.waiters.push(remote);
            }
            let deadline = deadline.flatten();
            if deadline.is_some_and(|d| hub.now() >= d) {
                self.remove_waiter(&unparker);
                return false;
            }
            let timer = deadline.map(|d| hub.add_timer(d, TimerAction::unpark(unparker.clone())));
            let guard = scopeguard(|| {
                if let Some(timer) = timer {
                    Hub::get().cancel_timer(timer);
                }
                self.remove_waiter(&unparker);
            });
            let parked = hub.park(WaitOn::RemoteJoin);
            drop(guard);
            if !parked {
                return self.is_dead();
            }
        }
    }

    fn remove_waiter(&self, unparker: &crate::hub::Unparker) {
        self.shared.lock().waiters.retain(|w| !w.matches(unparker));
    }
}

/// Runs `f` when dropped.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
