//! Watchers: non-consuming readiness subscriptions, for `grove::wait`.
//!
//! A wait-list hands a notification to one waiter, who then *acts* on it (a
//! getter takes the item it was promised). Waiting on many objects at once
//! needs something else: to be *told* that an object became ready without
//! taking anything from it, so the real waiters (a queue's getters, say)
//! are served exactly as before. A [`Watcher`] is that: a primitive keeps
//! them as nodes of its wait-list's line (`wait/line.rs`; a task keeps its
//! own among its joiners) and fires them whenever it becomes ready. Firing tells the
//! watcher's target (`grove::wait`'s record, through the [`Watch`] trait)
//! the watcher's index; the target records it and unparks its waiter, if
//! that waiter is parked. Watchers are removed by their owner, never by a
//! firing, so they can fire again.
//!
//! A primitive that other threads may touch (`AsyncResult`) keeps
//! [`RemoteWatcher`]s instead, in its shared wait-list under its own mutex:
//! their target is `Send + Sync` and wakes the waiter through its hub's
//! `Handle`.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

/// The target of hub-local watchers (`grove::wait`'s record).
pub(crate) trait Watch {
    /// The object watched under `index` became ready.
    ///
    /// Runs wherever the object changed — in a greenlet, on a thread's own
    /// stack or in hub context — so it must not block, and must not touch
    /// the watcher list it is called from.
    fn ready(&self, index: usize);
}

/// The target of cross-thread watchers: `Send + Sync`, wakes its waiter
/// through the waiter's hub `Handle`. Its [`Watch::ready`] is called on any
/// thread, under the watched primitive's mutex: it must not block or take
/// that mutex.
pub(crate) trait RemoteWatch: Watch + Send + Sync {}

/// One subscription of a target to one object, under the index the
/// target knows the object by.
#[derive(Clone)]
pub(crate) struct Subscription<P> {
    target: P,
    index: usize,
}

/// A subscription of a [`Watch`] target to one hub-local object.
pub(crate) type Watcher = Subscription<Rc<dyn Watch>>;

/// A subscription of a [`RemoteWatch`] target to one shared object.
pub(crate) type RemoteWatcher = Subscription<Arc<dyn RemoteWatch>>;

impl<P> fmt::Debug for Subscription<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// `P` is a hub-local or a cross-thread target (`Rc<dyn Watch>`,
/// `Arc<dyn RemoteWatch>`).
impl<P: Deref<Target: Watch>> Subscription<P> {
    pub(crate) fn new(target: P, index: usize) -> Self {
        Subscription { target, index }
    }

    /// Tells the target that the object became ready.
    pub(crate) fn fire(&self) {
        self.target.ready(self.index);
    }
}

impl Watcher {
    /// Whether both watchers are the same subscription.
    pub(crate) fn same(&self, other: &Watcher) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.target), Rc::as_ptr(&other.target))
            && self.index == other.index
    }
}
