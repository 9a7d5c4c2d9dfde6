//! The shared wait-list: a FIFO of parked greenlets of *any* hub, behind a mutex.
//!
//! The hub-local [`WaitList`](crate::wait::list::WaitList) serves every
//! primitive whose handle is `!Send`. A primitive that other threads may
//! touch — [`AsyncResult`](crate::event::AsyncResult), a joinable
//! [`RemoteGreenlet`](crate::RemoteGreenlet), cross-thread channels later —
//! uses this one instead: the primitive's own state `S` lives behind the same
//! mutex as the waiters (a condition variable and its mutex in one), and each
//! waiter is a [`RemoteUnparker`], so a notification made on any thread
//! reaches the waiter's hub through its [`Handle`](crate::Handle) (or
//! directly, when the notifier runs on that same hub).
//!
//! A waiter checks the state under the lock, and if it must wait, calls
//! [`SharedGuard::wait`]: it registers, releases the lock, parks (or drives
//! the hub on a thread's own stack), then re-takes the lock — as
//! `Condvar::wait` does — through the one park sequence (`wait/park.rs`),
//! with the local list's guarantees (FIFO, no lost notification, no stale
//! waiter; see `wait/list.rs`).
//!
//! A parked waiter's `RemoteUnparker` holds a clone of its hub's `Handle`,
//! so that hub never reports "would block forever" while the waiter waits:
//! another thread might still notify it. Lock order: the list's mutex may
//! be held while pushing a wake-up onto a hub's job queue (a leaf lock),
//! never the other way round.
//!
//! [`SharedGuard::notify_all`] takes the notified waiters' unparkers under
//! the lock and calls them when the guard is dropped, after the lock is
//! released: an unpark from another thread is an eventfd write, and the
//! greenlet it wakes re-takes this lock first thing, so waking under the
//! lock would have it find the lock held by the notifier, still in that
//! system call. (A waiter that times out after being served passes the
//! notification on under the lock: a rare path, left simple.)
//!
//! Invariants, all kept under the one mutex, which is what makes them hold
//! across threads: a node is waiting, holding its unparker, exactly while
//! its waiter waits un-notified; `notify_one` marks it served and takes the
//! unparker (so a waiter is notified at most once per wait), and the
//! waiter reads "served" as "notified" when it removes its node, once,
//! however the wait ends. The wake-up itself travels outside the list (a
//! job on the waiter's hub, `hub::handle`); it names one park episode, so a
//! late one cannot end a later wait. `event.rs`'s `loom_tests` check this
//! with `AsyncResult` set from another thread against a waiter that waits,
//! times out or re-checks.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Instant;

use crate::hub::{RemoteUnparker, RemoteWatcher, WaitOn};
use crate::sync::{Mutex, MutexGuard};
use crate::wait::line::Line;
use crate::wait::park::{self, Lock, Wait};

struct Inner<S> {
    state: S,
    /// The waiters in arrival order, and `grove::wait`'s watchers (the one
    /// waiter FIFO, `wait/line.rs`). A notified waiter's unparker is taken
    /// at once, so a node that only waits for its owner to remove it keeps
    /// no `Handle` clone alive.
    queue: Line<(), RemoteUnparker>,
}

/// A primitive's state `S` and its waiters, behind one mutex. See the module docs.
pub(crate) struct SharedWaitList<S> {
    inner: Mutex<Inner<S>>,
}

/// The locked state of a [`SharedWaitList`]; derefs to `S`. Dropping it
/// releases the lock, then unparks the waiters notified under it.
pub(crate) struct SharedGuard<'a, S> {
    list: &'a SharedWaitList<S>,
    /// `Some` until dropped.
    guard: Option<MutexGuard<'a, Inner<S>>>,
    /// Waiters notified under this guard, unparked once the lock is free.
    woken: Vec<RemoteUnparker>,
}

impl<S> Drop for SharedGuard<'_, S> {
    fn drop(&mut self) {
        drop(self.guard.take());
        for unparker in self.woken.drain(..) {
            unparker.unpark();
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for SharedWaitList<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let locked = self.lock();
        f.debug_struct("SharedWaitList")
            .field("state", &*locked)
            .field("waiting", &locked.len())
            .finish()
    }
}

impl<S> SharedWaitList<S> {
    pub(crate) fn new(state: S) -> Self {
        SharedWaitList {
            inner: Mutex::new(Inner {
                state,
                queue: Line::new(),
            }),
        }
    }

    /// Locks the state and the waiters. A panic while the lock was held (a
    /// user `Clone` impl, say) does not poison it: the list's own invariants
    /// never span user code.
    pub(crate) fn lock(&self) -> SharedGuard<'_, S> {
        SharedGuard {
            list: self,
            guard: Some(self.inner.lock().unwrap_or_else(|e| e.into_inner())),
            woken: Vec::new(),
        }
    }
}

impl<S> Lock for SharedWaitList<S> {
    type W = RemoteUnparker;
    type Guard<'a>
        = SharedGuard<'a, S>
    where
        S: 'a;

    fn lock(&self) -> SharedGuard<'_, S> {
        SharedWaitList::lock(self)
    }

    fn line<'g>(guard: &'g mut SharedGuard<'_, S>) -> &'g mut Line<(), RemoteUnparker> {
        &mut guard.inner_mut().queue
    }
}

impl<S> Deref for SharedGuard<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.inner().state
    }
}

impl<S> DerefMut for SharedGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.inner_mut().state
    }
}

impl<'a, S> SharedGuard<'a, S> {
    fn inner(&self) -> &Inner<S> {
        self.guard.as_ref().expect("held until dropped")
    }

    fn inner_mut(&mut self) -> &mut Inner<S> {
        self.guard.as_mut().expect("held until dropped")
    }

    /// Waiters not yet notified.
    pub(crate) fn len(&self) -> usize {
        self.inner().queue.waiting()
    }

    /// Registers the current greenlet (or thread stack), unlocks, parks until
    /// notified, `deadline` passes or it is cancelled, then locks again
    /// (`wait/park.rs`).
    ///
    /// A deadline already in the past returns `TimedOut` without parking;
    /// a caller that is unwinding gets `Unwinding` without parking. A
    /// cancellation unwinds out of here with the lock released, the waiter
    /// removed and any notification it had received passed on.
    ///
    /// # Panics
    /// In hub context, where nothing may block.
    pub(crate) fn wait(self, on: WaitOn, deadline: Option<Instant>) -> (Wait, SharedGuard<'a, S>) {
        park::wait(self.list, self, on, deadline)
    }

    /// Whether any waiter's node is still in the list, notified or not (a
    /// finished wait must leave none behind).
    #[cfg(all(test, loom))]
    pub(crate) fn has_nodes(&self) -> bool {
        !self.inner().queue.is_idle()
    }

    /// Wakes every waiter, in the order they began waiting; returns how many.
    pub(crate) fn notify_all(&mut self) -> usize {
        let mut woken = std::mem::take(&mut self.woken);
        let queue = &mut self.inner_mut().queue;
        let mut n = 0;
        while queue.has_waiting() {
            let key = queue.mark_first_served(None);
            woken.extend(queue.take_waiter(key));
            n += 1;
        }
        self.woken = woken;
        n
    }

    /// Adds a watcher (see `hub::watch`); returns the key that removes it.
    pub(crate) fn watch(&mut self, watcher: RemoteWatcher) -> usize {
        self.inner_mut().queue.watch(watcher)
    }

    /// Removes the watcher added under `key` (a key already removed is ignored).
    pub(crate) fn unwatch(&mut self, key: usize) {
        self.inner_mut().queue.unwatch(key);
    }

    /// Tells every watcher that the primitive became ready (under the lock,
    /// so a watcher added after a readiness check cannot miss it). Watchers
    /// stay until their owners remove them.
    pub(crate) fn fire_watchers(&self) {
        self.inner().queue.fire_watchers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Duration;

    /// Waits until `flag` is set; returns how the last wait ended.
    fn wait_for(list: &SharedWaitList<bool>, deadline: Option<Instant>) -> Wait {
        let mut locked = list.lock();
        loop {
            if *locked {
                return Wait::Notified;
            }
            let (wait, relocked) = locked.wait(WaitOn::RemoteJoin, deadline);
            locked = relocked;
            if wait != Wait::Notified {
                return wait;
            }
        }
    }

    #[test]
    fn a_thread_without_a_hub_wakes_a_waiting_thread_stack() {
        let list = Arc::new(SharedWaitList::new(false));
        let list2 = list.clone();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut locked = list2.lock();
            *locked = true;
            locked.notify_all();
            crate::hub::Hub::try_get().is_none()
        });
        assert_eq!(wait_for(&list, None), Wait::Notified);
        assert!(setter.join().unwrap(), "the setter thread got no hub");
    }

    #[test]
    fn unwinding_callers_do_not_park() {
        struct WaitsOnDrop(Arc<SharedWaitList<bool>>, Rc<RefCell<Option<Wait>>>);
        impl Drop for WaitsOnDrop {
            fn drop(&mut self) {
                let (wait, _) = self.0.lock().wait(WaitOn::RemoteJoin, None);
                *self.1.borrow_mut() = Some(wait);
            }
        }
        let seen = Rc::new(RefCell::new(None));
        let list = Arc::new(SharedWaitList::new(false));
        let guard = WaitsOnDrop(list.clone(), seen.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("boom");
        }));
        assert!(r.is_err());
        assert_eq!(*seen.borrow(), Some(Wait::Unwinding));
        assert_eq!(list.lock().len(), 0);
    }
}
