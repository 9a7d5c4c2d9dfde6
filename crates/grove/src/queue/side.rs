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
//!
//! Chosen waiters take their units in the order they came even when the
//! hub runs them in another order (a waiter whose deadline passed is already
//! queued to run when it is chosen: the notification still wins, but it may
//! run first). A chosen waiter that finds an earlier one still inside
//! yields until that one has gone ahead.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant;

use crate::hub::{Primitive, WaitOn};
use crate::waitlist::{Wait, WaitList};

pub(super) struct Side {
    list: WaitList,
    /// Arrival tickets of the greenlets inside [`Side::wait`] (still
    /// waiting, or chosen and not yet resumed), oldest first.
    /// Chosen = `inside.len() - list.len()`.
    inside: RefCell<VecDeque<u64>>,
    next_ticket: Cell<u64>,
}

impl Side {
    pub(super) fn new() -> Self {
        Side {
            list: WaitList::new(),
            inside: RefCell::new(VecDeque::new()),
            next_ticket: Cell::new(0),
        }
    }

    /// Greenlets blocked on this side (waiting, or chosen and about to run).
    pub(super) fn blocked(&self) -> usize {
        self.inside.borrow().len()
    }

    /// Greenlets waiting with nothing promised to them yet.
    pub(super) fn unserved(&self) -> usize {
        self.list.len()
    }

    /// Waiters notified but not yet resumed; each holds one unit.
    pub(super) fn chosen(&self) -> usize {
        self.blocked() - self.list.len()
    }

    /// Nobody waits and nobody holds a reservation: a newcomer may go ahead.
    pub(super) fn is_idle(&self) -> bool {
        self.inside.borrow().is_empty()
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
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        self.inside.borrow_mut().push_back(ticket);
        let mut guard = Inside {
            side: self,
            ticket,
            on_cancel: Some(on_cancel),
        };
        let wait = self.list.wait(WaitOn::Primitive(on), deadline);
        if wait == Wait::Notified {
            // Let earlier chosen waiters, queued to run behind us, go first
            // (a yield or two; bounded in case of a bug, never a hang).
            let mut rounds = self.blocked() + 2;
            while self.inside.borrow().front() != Some(&ticket) && rounds > 0 {
                crate::yield_now();
                rounds -= 1;
            }
            debug_assert!(
                self.inside.borrow().front() == Some(&ticket),
                "an earlier chosen waiter never ran"
            );
        }
        guard.on_cancel = None;
        wait
    }
}

/// Takes a greenlet's ticket out of `inside` however its wait ends.
struct Inside<'a> {
    side: &'a Side,
    ticket: u64,
    /// `Some` until the wait returns normally.
    on_cancel: Option<&'a dyn Fn()>,
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        {
            let mut inside = self.side.inside.borrow_mut();
            if inside.front() == Some(&self.ticket) {
                inside.pop_front();
            } else if let Ok(at) = inside.binary_search(&self.ticket) {
                inside.remove(at);
            }
        }
        if let Some(on_cancel) = self.on_cancel {
            on_cancel();
        }
    }
}
