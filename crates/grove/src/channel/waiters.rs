//! The channel's one waiter list: a FIFO of `std::task::Waker`s.
//!
//! Every waiter of a `grove::channel` — a greenlet (its `block_on` waker
//! unparks it through its hub's `Handle`), an OS thread (a waker that
//! unparks the thread) or an async task (its executor's waker) — is a
//! `Waker` in one of these lists, kept under the channel's mutex. The list
//! is plain data; the mutex around it (from `crate::sync`, the loom seam) is
//! what makes it cross-thread.
//!
//! Each entry has an id its owner keeps: the owner updates its waker in
//! place on a re-poll, and removes the entry when it stops waiting. An entry
//! that is gone when its owner looks was *notified* (popped and woken): if
//! the owner no longer acts on it (a dropped future: a kill, a timeout), it
//! passes the notification on ([`WakerList::wake_one`]), so none is lost.
//!
//! Notifying and waking are two steps: a notified waiter leaves the list
//! under the lock, its waker waits in [`Woken`] and is called once the lock
//! is released (`core::Locked`). A waker called under the lock would make
//! the woken side (a thread just out of its futex, a hub just out of
//! `epoll_wait`) find the lock still held by the waker's caller, which is in
//! the middle of that very system call: a contended lock, two more futex
//! calls and a sleep, on every crossing.

use std::collections::VecDeque;
use std::task::Waker;

/// Waiters in the order they began waiting. See the module docs.
#[derive(Debug, Default)]
pub(super) struct WakerList {
    entries: VecDeque<(u64, Waker)>,
    next_id: u64,
    /// Notified waiters whose wakers are still to be called.
    woken: Woken,
}

/// Wakers of notified waiters, to call once the lock is released. One
/// waker (the usual case) needs no allocation.
#[derive(Debug, Default)]
pub(super) struct Woken {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Woken {
    fn push(&mut self, waker: Waker) {
        match self.first {
            None => self.first = Some(waker),
            Some(_) => self.rest.push(waker),
        }
    }

    /// Whether no waker is waiting to be called.
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Moves `other`'s wakers behind these, keeping their order.
    pub(super) fn append(&mut self, other: Woken) {
        other.into_iter().for_each(|waker| self.push(waker));
    }

    /// Calls the wakers, in the order their waiters were notified.
    pub(super) fn wake(self) {
        self.into_iter().for_each(Waker::wake);
    }

    fn into_iter(self) -> impl Iterator<Item = Waker> {
        self.first.into_iter().chain(self.rest)
    }
}

impl WakerList {
    /// A fresh id for a waiter that has none yet.
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Puts the waiter `*id` (a fresh one if `None`) in the list with
    /// `waker`, or updates its waker if it is already there. A waiter that
    /// was notified and waits again goes to the back.
    pub(super) fn register(&mut self, id: &mut Option<u64>, waker: &Waker) {
        if let Some((_, w)) = id.and_then(|id| self.entries.iter_mut().find(|(i, _)| *i == id)) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
            return;
        }
        let key = *id.get_or_insert_with(|| self.next_id());
        self.entries.push_back((key, waker.clone()));
    }

    /// Takes waiter `id`'s waker out of the list, if it is still there.
    fn take(&mut self, id: u64) -> Option<Waker> {
        let at = self.entries.iter().position(|(i, _)| *i == id)?;
        self.entries.remove(at).map(|(_, waker)| waker)
    }

    /// Removes waiter `id`; returns whether it was still there (`false`:
    /// it was notified, or never registered).
    pub(super) fn remove(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Removes the waiter `*id` if it has registered, and forgets its id.
    pub(super) fn leave(&mut self, id: &mut Option<u64>) {
        if let Some(id) = id.take() {
            self.remove(id);
        }
    }

    /// Notifies the longest-waiting waiter; returns whether there was one.
    pub(super) fn wake_one(&mut self) -> bool {
        let Some((_, waker)) = self.entries.pop_front() else {
            return false;
        };
        self.woken.push(waker);
        true
    }

    /// Notifies waiter `id` if it is waiting.
    pub(super) fn wake_id(&mut self, id: u64) {
        if let Some(waker) = self.take(id) {
            self.woken.push(waker);
        }
    }

    /// Notifies every waiter, in order.
    pub(super) fn wake_all(&mut self) {
        for (_, waker) in self.entries.drain(..) {
            self.woken.push(waker);
        }
    }

    /// The wakers of the waiters notified since the last call, for the
    /// caller to call once it has released the lock.
    pub(super) fn take_woken(&mut self) -> Woken {
        std::mem::take(&mut self.woken)
    }

    /// Waiters not yet notified.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    /// A waiter of the tests: its wake count, its waker and its id.
    type Waiter = (Arc<Count>, Waker, Option<u64>);

    /// A fresh list with two waiters registered, `a` then `b`.
    fn two_waiters() -> (WakerList, [Waiter; 2]) {
        let mut list = WakerList::default();
        let mut waiters = [counter(), counter()].map(|(count, waker)| (count, waker, None));
        for (_, waker, id) in &mut waiters {
            list.register(id, waker);
        }
        (list, waiters)
    }

    #[test]
    fn fifo_update_in_place_and_notified_means_gone() {
        let (mut list, [(a, wa, mut ida), (b, _, idb)]) = two_waiters();
        list.register(&mut ida, &wa); // a re-poll: still first, still one entry
        assert_eq!(list.len(), 2);
        assert!(list.wake_one());
        assert_eq!(a.0.load(Ordering::Relaxed), 0, "woken only once taken");
        list.take_woken().wake();
        assert_eq!(a.0.load(Ordering::Relaxed), 1);
        assert!(
            !list.remove(ida.unwrap()),
            "a was notified: its entry is gone"
        );
        assert!(list.remove(idb.unwrap()));
        assert!(!list.wake_one());
        assert!(list.take_woken().is_empty());
        assert_eq!(b.0.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn wake_id_wakes_only_that_waiter() {
        let (mut list, [(a, ..), (b, _, idb)]) = two_waiters();
        list.wake_id(idb.unwrap());
        list.take_woken().wake();
        assert_eq!(
            (a.0.load(Ordering::Relaxed), b.0.load(Ordering::Relaxed)),
            (0, 1)
        );
        list.wake_all();
        list.take_woken().wake();
        assert_eq!(a.0.load(Ordering::Relaxed), 1);
        assert_eq!(list.len(), 0);
    }
}
