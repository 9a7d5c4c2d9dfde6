//! Watchers: non-consuming readiness subscriptions, for `grove::wait`.
//!
//! A wait-list hands a notification to one waiter, who then *acts* on it (a
//! getter takes the item it was promised). Waiting on many objects at once
//! needs something else: to be *told* that an object became ready without
//! taking anything from it, so the real waiters (a queue's getters, say)
//! are served exactly as before. A [`Watcher`] is that: a primitive keeps a
//! list of them ([`Watchers`]; a task keeps its own among its joiners) and
//! [fires](Watchers::fire) them whenever it becomes ready. Firing tells the
//! watcher's target (`grove::wait`'s record, through the [`Watch`] trait)
//! the watcher's index; the target records it and unparks its waiter, if
//! that waiter is parked. Watchers are removed by their owner, never by a
//! firing, so they can fire again.
//!
//! A primitive that other threads may touch (`AsyncResult`) keeps
//! [`RemoteWatcher`]s instead, under its own mutex: their target is `Send +
//! Sync` and wakes the waiter through its hub's `Handle`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use slab::Slab;

/// The target of hub-local watchers (`grove::wait`'s record).
pub(crate) trait Watch {
    /// The object watched under `index` became ready.
    ///
    /// Runs wherever the object changed — in a greenlet, on a thread's own
    /// stack or in hub context — so it must not block, and must not touch
    /// the watcher list it is called from.
    fn ready(&self, index: usize);
}

/// One subscription of a [`Watch`] target to one object.
#[derive(Clone)]
pub(crate) struct Watcher {
    target: Rc<dyn Watch>,
    index: usize,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    pub(crate) fn new(target: Rc<dyn Watch>, index: usize) -> Self {
        Watcher { target, index }
    }

    /// Tells the target that the object became ready.
    pub(crate) fn fire(&self) {
        self.target.ready(self.index);
    }

    /// Whether both watchers are the same subscription.
    pub(crate) fn same(&self, other: &Watcher) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.target), Rc::as_ptr(&other.target))
            && self.index == other.index
    }
}

/// The watchers of one hub-local primitive, in a slab: adding and removing
/// are O(1), and an empty list costs one load per state change.
#[derive(Default)]
pub(crate) struct Watchers {
    slab: RefCell<Slab<Watcher>>,
    /// `slab.len()`, readable without a `RefCell` borrow on the hot path.
    len: Cell<usize>,
}

impl fmt::Debug for Watchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchers")
            .field("len", &self.slab.borrow().len())
            .finish()
    }
}

impl Watchers {
    /// Adds a watcher; returns the key that removes it.
    pub(crate) fn add(&self, watcher: Watcher) -> usize {
        let mut slab = self.slab.borrow_mut();
        let key = slab.insert(watcher);
        self.len.set(slab.len());
        key
    }

    /// Removes the watcher added under `key` (a key already removed is ignored).
    pub(crate) fn remove(&self, key: usize) {
        let removed = {
            let mut slab = self.slab.borrow_mut();
            let removed = slab.try_remove(key);
            self.len.set(slab.len());
            removed
        };
        drop(removed);
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// Tells every watcher that the object became ready. Watchers stay.
    #[inline]
    pub(crate) fn fire(&self) {
        if !self.is_empty() {
            self.fire_all();
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_all(&self) {
        for (_, watcher) in self.slab.borrow().iter() {
            watcher.fire();
        }
    }
}

/// The target of cross-thread watchers: `Send + Sync`, wakes its waiter
/// through the waiter's hub `Handle`.
pub(crate) trait RemoteWatch: Send + Sync {
    /// As [`Watch::ready`]; called on any thread, under the watched
    /// primitive's mutex: must not block or take that mutex.
    fn ready(&self, index: usize);
}

/// One subscription of a [`RemoteWatch`] target to one shared object.
pub(crate) struct RemoteWatcher {
    target: Arc<dyn RemoteWatch>,
    index: usize,
}

impl fmt::Debug for RemoteWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWatcher")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl RemoteWatcher {
    pub(crate) fn new(target: Arc<dyn RemoteWatch>, index: usize) -> Self {
        RemoteWatcher { target, index }
    }

    /// Tells the target that the object became ready.
    pub(crate) fn fire(&self) {
        self.target.ready(self.index);
    }
}
