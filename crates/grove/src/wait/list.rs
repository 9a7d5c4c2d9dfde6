//! The wait-list under every hub-local primitive: a FIFO of parked greenlets.
//!
//! `Event`, `Semaphore`, `Lock`, `JoinableQueue::join` and `Pool` are thin
//! layers over this one mechanism (gevent's `_abstract_linkable` +
//! `_waiter`, tokio's `batch_semaphore`), a `RefCell` around the one
//! waiter FIFO (`wait/line.rs`). A primitive checks its own condition; if
//! it cannot proceed it calls [`WaitList::wait`], which parks the current
//! greenlet (or drives the hub on a thread's own stack; `wait/park.rs`)
//! until a [`notify_one`] or [`notify_all`] reaches it, its deadline
//! passes, or it is cancelled.
//!
//! Guarantees:
//!
//! * **FIFO**: waiters are notified in the order they began waiting.
//! * **No lost notification**: a notification is handed to one specific
//!   waiter. If that waiter is killed or timed out before it runs, its exit
//!   passes the notification on to the next waiter, so a semaphore permit or
//!   a queue item is never stranded.
//! * **No stale waiter**: however a wait ends (notified, deadline, kill,
//!   timeout, unwinding), the waiter leaves the list.
//!
//! Nodes live in the line's arena (never on a parked greenlet's stack,
//! DESIGN.md rule 4), so a timed-out waiter leaves from the middle in
//! O(1). `grove::wait`'s watchers of the primitive are nodes of the line.
//!
//! [`notify_one`]: WaitList::notify_one
//! [`notify_all`]: WaitList::notify_all

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

use crate::hub::{Task, WaitOn, Watcher};
use crate::wait::line::Line;
pub(crate) use crate::wait::park::Wait;
use crate::wait::park::{self, Lock};

/// A FIFO of parked greenlets of one hub, and `grove::wait`'s watchers of
/// the primitive. See the module docs.
#[derive(Default)]
pub(crate) struct WaitList {
    inner: RefCell<Line<(), Rc<Task>>>,
    /// Whether the line holds a watcher: what every `set` or release asks,
    /// answered without a borrow.
    watched: Cell<bool>,
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.len())
            .finish()
    }
}

impl Lock for WaitList {
    type W = Rc<Task>;
    type Guard<'a> = RefMut<'a, Line<(), Rc<Task>>>;

    #[inline(always)]
    fn lock(&self) -> Self::Guard<'_> {
        self.inner.borrow_mut()
    }

    #[inline(always)]
    fn line<'g>(guard: &'g mut Self::Guard<'_>) -> &'g mut Line<(), Rc<Task>> {
        guard
    }
}

impl WaitList {
    pub(crate) fn new() -> Self {
        WaitList::default()
    }

    /// Greenlets waiting and not yet notified.
    pub(crate) fn len(&self) -> usize {
        self.inner.borrow().waiting()
    }

    /// Parks the current greenlet until notified, `deadline` passes, or it
    /// is cancelled (then it unwinds, leaving the list and passing on any
    /// notification it had received).
    ///
    /// A deadline already in the past returns `TimedOut` without parking.
    pub(crate) fn wait(&self, on: WaitOn, deadline: Option<Instant>) -> Wait {
        park::wait(self, self.lock(), on, deadline).0
    }

    /// Wakes the longest-waiting greenlet; returns whether there was one.
    ///
    /// Inline down to the check: a release or `set` with nobody waiting
    /// (the common case) costs a load and a branch.
    #[inline]
    pub(crate) fn notify_one(&self) -> bool {
        if !self.inner.borrow().has_waiting() {
            return false;
        }
        self.serve_first();
        true
    }

    #[inline(never)]
    fn serve_first(&self) {
        self.inner.borrow_mut().serve_first(None);
    }

    /// Wakes every waiting greenlet, in the order they began waiting;
    /// returns how many.
    pub(crate) fn notify_all(&self) -> usize {
        // One wake-up at a time, each inline down to its check (as
        // `notify_one`): cheaper for the usual one or two waiters than a
        // loop under one borrow.
        let mut woken = 0;
        while self.notify_one() {
            woken += 1;
        }
        woken
    }

    /// Adds a `grove::wait` watcher; returns the key that removes it.
    pub(crate) fn watch(&self, watcher: Watcher) -> usize {
        self.watched.set(true);
        self.inner.borrow_mut().watch(watcher)
    }

    /// Removes the watcher added under `key` (a key already removed is
    /// ignored).
    pub(crate) fn unwatch(&self, key: usize) {
        let removed = {
            let mut line = self.inner.borrow_mut();
            let removed = line.unwatch(key);
            self.watched.set(line.has_watchers());
            removed
        };
        drop(removed);
    }

    /// Whether no watcher is subscribed.
    #[inline]
    pub(crate) fn has_no_watchers(&self) -> bool {
        !self.watched.get()
    }

    /// Tells every watcher that the primitive became ready; they stay.
    ///
    /// Inline down to the check, as `notify_one`.
    #[inline]
    pub(crate) fn fire_watchers(&self) {
        if self.watched.get() {
            self.fire_each_watcher();
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_each_watcher(&self) {
        self.inner.borrow().fire_watchers();
    }
}
