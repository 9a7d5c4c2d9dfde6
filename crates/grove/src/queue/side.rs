//! One side of a queue — its getters or its putters: a wait-list plus the
//! number of waiters already *chosen*.
//!
//! A waiter is chosen when it is notified: from then on one unit (an item
//! for a getter, a free slot for a putter) is reserved for it until it runs
//! and takes it. Newcomers go ahead only when the side is idle (nobody
//! waiting, nobody chosen), so nobody barges past a waiter; and
//! [`Side::rebalance`] chooses waiters, oldest first, while there are more
//! units than chosen waiters.
//!
//! The reservation is a count, not a record: if a chosen waiter is killed or
//! timed out by unwinding before it runs, the wait-list passes its
//! notification on to the next waiter (which inherits the reservation), and
//! if there is none the count of chosen waiters drops by itself, so the unit
//! is free again. A queue cannot lose an item or a slot this way.

use std::cell::Cell;
use std::time::Instant;

use crate::hub::{Primitive, WaitOn};
use crate::waitlist::{Wait, WaitList};

pub(super) struct Side {
    list: WaitList,
    /// Greenlets inside [`Side::wait`]: still waiting, or chosen and not
    /// yet resumed. Chosen = `in_wait - list.len()`.
    in_wait: Cell<usize>,
}

impl Side {
    pub(super) fn new() -> Self {
        Side {
            list: WaitList::new(),
            in_wait: Cell::new(0),
        }
    }

    /// Greenlets blocked on this side (waiting, or chosen and about to run).
    pub(super) fn blocked(&self) -> usize {
        self.in_wait.get()
    }

    /// Greenlets waiting with nothing promised to them yet.
    pub(super) fn unserved(&self) -> usize {
        self.list.len()
    }

    /// Waiters notified but not yet resumed; each holds one unit.
    pub(super) fn chosen(&self) -> usize {
        self.in_wait.get() - self.list.len()
    }

    /// Nobody waits and nobody holds a reservation: a newcomer may go ahead.
    pub(super) fn is_idle(&self) -> bool {
        self.in_wait.get() == 0
    }

    /// Chooses waiters, oldest first, while `available` units exceed the
    /// units already promised.
    pub(super) fn rebalance(&self, available: usize) {
        while !self.list.is_empty() && available > self.chosen() {
            self.list.notify_one();
        }
    }

    /// Wakes every waiter (shutdown).
    pub(super) fn wake_all(&self) {
        self.list.notify_all();
    }

    /// Waits on this side. `Notified` means a unit is reserved for the
    /// caller (or the queue was shut down). If the wait ends by unwinding
    /// (kill, `with_timeout`), `on_cancel` runs after the wait-list has
    /// passed on any notification, so the owner can re-check its balance.
    pub(super) fn wait(
        &self,
        on: Primitive,
        deadline: Option<Instant>,
        on_cancel: &dyn Fn(),
    ) -> Wait {
        self.in_wait.set(self.in_wait.get() + 1);
        let mut guard = InWait {
            side: self,
            on_cancel: Some(on_cancel),
        };
        let wait = self.list.wait(WaitOn::Primitive(on), deadline);
        guard.on_cancel = None;
        wait
    }
}

/// Counts a greenlet out of `in_wait` however its wait ends.
struct InWait<'a> {
    side: &'a Side,
    /// `Some` until the wait returns normally.
    on_cancel: Option<&'a dyn Fn()>,
}

impl Drop for InWait<'_> {
    fn drop(&mut self) {
        self.side.in_wait.set(self.side.in_wait.get() - 1);
        if let Some(on_cancel) = self.on_cancel {
            on_cancel();
        }
    }
}
