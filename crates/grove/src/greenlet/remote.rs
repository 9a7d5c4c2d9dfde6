//! Greenlets started from other threads through a [`Handle`].
//!
//! [`Handle::spawn`] queues a `Send` closure on a hub; the hub starts it as
//! an ordinary greenlet and, when it dies, moves its outcome into a shared
//! slot. The returned [`RemoteGreenlet`] is `Send + Sync`: any thread may
//! join it. The slot lives in a [`SharedWaitList`]: a joiner parks on its own
//! thread's hub and is woken through that hub's `Handle`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::GreenletError;
use crate::hub::{Handle, Hub, HubGone, WaitOn};
use crate::wait::list::Wait;
use crate::wait::shared::SharedWaitList;

struct Slot<T> {
    outcome: Option<Result<T, GreenletError>>,
    taken: bool,
    /// Registry key and id of the greenlet once the hub started it.
    started: Option<(u32, u64)>,
    kill_requested: bool,
}

impl<T> Slot<T> {
    fn finished(&self) -> bool {
        self.outcome.is_some() || self.taken
    }
}

/// Completes the slot with `Killed` if the job is dropped before it ran (the
/// hub's thread ended first).
struct Completer<T> {
    shared: Arc<SharedWaitList<Slot<T>>>,
}

impl<T> Completer<T> {
    /// Moves the outcome into the slot (the first one only) and wakes the
    /// joiners and watchers.
    fn complete(&self, outcome: Result<T, GreenletError>) {
        let mut slot = self.shared.lock();
        if slot.finished() {
            return;
        }
        slot.outcome = Some(outcome);
        slot.notify_all();
        slot.fire_watchers();
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.complete(Err(GreenletError::Killed));
    }
}

/// A handle to a greenlet running on another thread's hub; `Send + Sync`.
///
/// Returned by [`Handle::spawn`]. Joining or waiting parks the calling
/// greenlet (or drives the calling thread's own hub) until the greenlet ends.
///
/// ```
/// // A second thread with its own hub, serving until told to stop.
/// let (tx, rx) = std::sync::mpsc::channel();
/// let stop = grove::event::AsyncResult::new();
/// let s = stop.clone();
/// let thread = std::thread::spawn(move || {
///     tx.send(grove::Handle::current()).unwrap();
///     s.get(); // runs this thread's hub until `stop` is set
/// });
/// let other_hub = rx.recv().unwrap();
///
/// let g = other_hub.spawn(|| std::thread::current().id()).unwrap();
/// assert_ne!(g.join().unwrap(), std::thread::current().id()); // ran over there
/// stop.set(()).unwrap();
/// thread.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// [`join`](RemoteGreenlet::join), [`wait`](RemoteGreenlet::wait),
/// [`wait_timeout`](RemoteGreenlet::wait_timeout) and
/// [`kill`](RemoteGreenlet::kill) may be interrupted by a kill or timeout
/// of the *calling* greenlet. The wait ends by unwinding and leaves nothing
/// registered on the handle; the greenlet on the other hub is unaffected
/// and runs on. After an interrupted `wait`, `wait_timeout` or `kill` the
/// handle can be joined later; an interrupted `join` has consumed the
/// handle, and the outcome is dropped on the other hub when the greenlet
/// ends. Called while the calling greenlet is already unwinding, `join`
/// cannot wait: a greenlet that has not finished is asked to die
/// ([`kill_nowait`](RemoteGreenlet::kill_nowait)) and `Err(Killed)` is
/// returned.
pub struct RemoteGreenlet<T> {
    /// The slot and its joiners, shared with the greenlet's hub.
    shared: Arc<SharedWaitList<Slot<T>>>,
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
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let thread = std::thread::spawn(move || tx.send(grove::Handle::current()).unwrap());
    /// let handle = rx.recv().unwrap();
    /// thread.join().unwrap(); // that thread, and its hub, are gone
    /// assert_eq!(handle.spawn(|| ()).err(), Some(grove::HubGone));
    /// ```
    pub fn spawn<T, F>(&self, f: F) -> Result<RemoteGreenlet<T>, HubGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::new(SharedWaitList::new(Slot {
            outcome: None,
            taken: false,
            started: None,
            kill_requested: false,
        }));
        let completer = Completer {
            shared: shared.clone(),
        };
        self.call(move || start(completer, f))?;
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
            completer.complete(Err(GreenletError::Panicked(Box::new(format!(
                "grove: cannot spawn: {err}"
            )))));
            return;
        }
    };
    completer.shared.lock().started = Some((greenlet.task.key.get(), greenlet.task.id));
    let task = greenlet.task.clone();
    greenlet.link(move || {
        let outcome = task.completion.take_outcome();
        let outcome = outcome.map_or(Err(GreenletError::Killed), super::into_result);
        task.taken.set(true);
        completer.complete(outcome);
        drop(completer);
    });
}

impl<T: Send + 'static> RemoteGreenlet<T> {
    /// Waits for the greenlet to finish and returns its outcome.
    ///
    /// ```
    /// let handle = grove::Handle::current();
    /// let remote = std::thread::spawn(move || handle.spawn(|| "hello").unwrap())
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(remote.join().unwrap(), "hello");
    /// ```
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
    ///
    /// ```
    /// let remote = grove::Handle::current().spawn(|| ()).unwrap();
    /// remote.wait();
    /// assert!(remote.is_dead());
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the greenlet has finished.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let remote = grove::Handle::current()
    ///     .spawn(|| grove::sleep(Duration::from_millis(50)))
    ///     .unwrap();
    /// assert!(!remote.wait_timeout(Duration::from_millis(5)));
    /// assert!(remote.wait_timeout(Duration::from_secs(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Hub::get().deadline_after(timeout))
    }

    /// Whether the greenlet has finished.
    ///
    /// ```
    /// let remote = grove::Handle::current().spawn(|| ()).unwrap();
    /// assert!(!remote.is_dead());
    /// remote.wait();
    /// assert!(remote.is_dead());
    /// ```
    pub fn is_dead(&self) -> bool {
        self.shared.lock().finished()
    }

    /// Asks the greenlet's hub to kill it, without waiting. A greenlet that
    /// has not started yet never runs.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let remote = grove::Handle::current()
    ///     .spawn(|| grove::sleep(Duration::from_secs(3600)))
    ///     .unwrap();
    /// remote.kill_nowait();
    /// assert!(matches!(remote.join(), Err(grove::GreenletError::Killed)));
    /// ```
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
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let handle = grove::Handle::current();
    /// let remote = handle.spawn(|| grove::sleep(Duration::from_secs(3600))).unwrap();
    /// remote.kill();
    /// assert!(remote.is_dead());
    /// ```
    pub fn kill(&self) {
        self.kill_nowait();
        self.wait();
    }

    /// Waits until dead or `deadline` (`None`: never). Returns whether the
    /// greenlet is dead.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut slot = self.shared.lock();
        loop {
            if slot.finished() {
                return true;
            }
            let (wait, relocked) = slot.wait(WaitOn::RemoteJoin, deadline);
            slot = relocked;
            if wait != Wait::Notified {
                return slot.finished();
            }
        }
    }
}

// ---- waiting on it with `grove::wait` ------------------------------------------

impl<T> crate::wait::Sealed for RemoteGreenlet<T> {
    /// A watcher fired when the greenlet finishes; `None` (nothing
    /// registered) if it has finished already.
    fn watch(&self, slot: &crate::wait::Slot) -> Option<usize> {
        let mut locked = self.shared.lock();
        (!locked.finished()).then(|| locked.watch(slot.remote()))
    }
    fn unwatch(&self, _slot: &crate::wait::Slot, key: usize) {
        self.shared.lock().unwatch(key);
    }
}

impl<T> crate::Waitable for RemoteGreenlet<T> {
    fn is_ready(&self) -> bool {
        self.is_dead()
    }
}
