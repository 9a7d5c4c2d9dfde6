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
        if wait == Wait::Notified && self.inside.borrow().front() != Some(&ticket) {
            self.let_earlier_ones_go_first(ticket);
        }
        guard.on_cancel = None;
        wait
    }

    /// A chosen waiter found earlier chosen ones still inside (queued to run
    /// behind it): yields until they have gone ahead (a yield or two;
    /// bounded in case of a bug, never a hang).
    #[cold]
    #[inline(never)]
    fn let_earlier_ones_go_first(&self, ticket: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn rebalance_chooses_oldest_waiters_for_the_units_not_yet_promised() {
        let side = Rc::new(Side::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let gs: Vec<_> = (0..3)
            .map(|i| {
                let (side, order) = (side.clone(), order.clone());
                crate::spawn(move || {
                    let wait = side.wait(Primitive::QueueGet, None, &|| {});
                    order.borrow_mut().push((i, wait));
                })
            })
            .collect();
        crate::yield_now();
        assert_eq!((side.blocked(), side.unserved(), side.chosen()), (3, 3, 0));
        assert!(!side.is_idle());
        side.rebalance(2);
        assert_eq!((side.unserved(), side.chosen()), (1, 2));
        side.rebalance(2); // nothing new to promise
        assert_eq!(side.chosen(), 2);
        crate::yield_now();
        assert_eq!(*order.borrow(), [(0, Wait::Notified), (1, Wait::Notified)]);
        assert_eq!((side.blocked(), side.chosen()), (1, 0));
        side.wake_all();
        crate::joinall(&gs);
        assert!(side.is_idle());
    }

    #[test]
    fn a_cancelled_chosen_waiter_runs_on_cancel_and_releases_its_promise() {
        let side = Rc::new(Side::new());
        let cancelled = Rc::new(Cell::new(0));
        let g = {
            let (side, cancelled) = (side.clone(), cancelled.clone());
            crate::spawn(move || {
                side.wait(Primitive::QueueGet, None, &|| {
                    cancelled.set(cancelled.get() + 1);
                });
            })
        };
        crate::yield_now();
        side.rebalance(1);
        assert_eq!(side.chosen(), 1);
        g.kill();
        assert_eq!(cancelled.get(), 1);
        assert_eq!((side.blocked(), side.chosen()), (0, 0));
    }
}
