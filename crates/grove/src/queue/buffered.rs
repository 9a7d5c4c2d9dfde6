//! The one mechanism under `Queue`, `LifoQueue`, `PriorityQueue` and
//! `JoinableQueue`: a container behind two [`Side`]s. The kinds differ only
//! in the container ([`Buffer`]).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::time::Instant;

use super::side::Side;
use super::{Empty, Full};
use crate::hub::{Primitive, Watcher, Watchers};
use crate::waitlist::Wait;

/// The container of a buffered queue: decides which item a get takes.
pub(crate) trait Buffer {
    type Item;
    fn new() -> Self;
    fn push(&mut self, item: Self::Item);
    fn pop(&mut self) -> Option<Self::Item>;
    /// The item the next `pop` returns.
    fn peek(&self) -> Option<&Self::Item>;
    fn len(&self) -> usize;
}

/// First in, first out.
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T> Buffer for Fifo<T> {
    type Item = T;
    fn new() -> Self {
        Fifo(VecDeque::new())
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
pub(crate) struct Lifo<T>(Vec<T>);

impl<T> Buffer for Lifo<T> {
    type Item = T;
    fn new() -> Self {
        Lifo(Vec::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (a min-heap).
pub(crate) struct Smallest<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Buffer for Smallest<T> {
    type Item = T;
    fn new() -> Self {
        Smallest(BinaryHeap::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A buffered queue: items in a [`Buffer`], getters and putters in FIFO
/// [`Side`]s.
///
/// Balance kept after every change: the getters chosen cover the items
/// (`rebalance` chooses a waiting getter whenever there are more items than
/// chosen getters), and the putters chosen cover the free slots. A chosen
/// waiter takes its unit when it runs; a newcomer only goes ahead when its
/// side is idle, so waiters are served in arrival order.
pub(crate) struct Core<B> {
    items: RefCell<B>,
    /// `usize::MAX` for an unbounded queue.
    capacity: usize,
    shut_down: Cell<bool>,
    getters: Side,
    putters: Side,
    /// `grove::wait`'s watchers, fired whenever a get becomes possible.
    watchers: Watchers,
}

impl<B: Buffer> Core<B> {
    pub(super) fn new(capacity: usize) -> Self {
        Core {
            items: RefCell::new(B::new()),
            capacity,
            shut_down: Cell::new(false),
            getters: Side::new(),
            putters: Side::new(),
            watchers: Watchers::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.items.borrow().len()
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    pub(super) fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    pub(super) fn is_shutdown(&self) -> bool {
        self.shut_down.get()
    }

    pub(super) fn getters_blocked(&self) -> usize {
        self.getters.blocked()
    }

    pub(super) fn putters_blocked(&self) -> usize {
        self.putters.blocked()
    }

    pub(super) fn peek(&self) -> Option<B::Item>
    where
        B::Item: Clone,
    {
        self.items.borrow().peek().cloned()
    }

    /// Chooses waiters for the items and slots nobody has been promised.
    /// Runs after every change of the items or the getters, so it is also
    /// where `grove::wait`'s watchers learn that a get became possible.
    fn rebalance(&self) {
        let len = self.len();
        self.getters.rebalance(len);
        self.putters.rebalance(self.capacity.saturating_sub(len));
        self.fire_watchers_if_ready();
    }

    /// Whether `get_now` would not fail with "empty for now": an item is
    /// there for a newcomer, or the queue is shut down and nothing is left
    /// for it. `grove::wait`'s readiness; takes nothing.
    pub(super) fn get_ready(&self) -> bool {
        let len = self.len();
        (self.getters.is_idle() && len > 0)
            || (self.shut_down.get() && len <= self.getters.blocked())
    }

    #[inline]
    fn fire_watchers_if_ready(&self) {
        if !self.watchers.is_empty() && self.get_ready() {
            self.watchers.fire();
        }
    }

    /// Registers a `grove::wait` watcher, fired whenever a get becomes
    /// possible; `None` (nothing registered) if one is possible now.
    pub(super) fn watch(&self, watcher: Watcher) -> Option<usize> {
        (!self.get_ready()).then(|| self.watchers.add(watcher))
    }

    /// Removes the watcher registered under `key`.
    pub(super) fn unwatch(&self, key: usize) {
        self.watchers.remove(key);
    }

    fn take(&self) -> Option<B::Item> {
        let item = self.items.borrow_mut().pop();
        if item.is_some() {
            self.rebalance();
        }
        item
    }

    /// Puts without checking the bound or the shutdown flag.
    pub(super) fn push(&self, item: B::Item) {
        self.items.borrow_mut().push(item);
        self.rebalance();
    }

    // ---- get ----------------------------------------------------------------

    /// A get that does not wait. It takes an item only when no other getter
    /// waits or holds a promise (it never overtakes one). After a shutdown
    /// it fails for good once every item left is claimed by earlier getters;
    /// until then it reports "empty for now": waiting would bring an item.
    pub(super) fn get_now(&self) -> Result<B::Item, Empty> {
        if self.getters.is_idle() {
            if let Some(item) = self.take() {
                return Ok(item);
            }
        }
        if self.shut_down.get() && self.len() <= self.getters.blocked() {
            Err(Empty::SHUT_DOWN)
        } else {
            Err(Empty::EMPTY)
        }
    }

    /// A get that waits until `deadline` (`None`: without limit).
    pub(super) fn get_until(&self, deadline: Option<Instant>) -> Result<B::Item, Empty> {
        match self.get_now() {
            Err(err) if !err.is_shutdown() => {}
            done => return done,
        }
        loop {
            match self
                .getters
                .wait(Primitive::QueueGet, deadline, &|| self.rebalance())
            {
                Wait::Notified => {
                    if let Some(item) = self.take() {
                        return Ok(item);
                    }
                    if self.shut_down.get() {
                        return Err(Empty::SHUT_DOWN);
                    }
                    debug_assert!(false, "a chosen getter found no item");
                }
                // Not chosen: nothing was there for us; the deadline passed
                // (or we could not wait at all). One last look.
                Wait::TimedOut | Wait::Unwinding => return self.get_now(),
            }
        }
    }

    // ---- put ----------------------------------------------------------------

    /// A put that does not wait: uses a slot nobody else was promised.
    pub(super) fn put_now(&self, item: B::Item) -> Result<(), Full<B::Item>> {
        if self.shut_down.get() {
            return Err(Full::shut_down(item));
        }
        if self.putters.is_idle() && self.len() < self.capacity {
            self.push(item);
            Ok(())
        } else {
            Err(Full::no_room(item))
        }
    }

    /// A put that waits until `deadline` (`None`: without limit).
    pub(super) fn put_until(
        &self,
        item: B::Item,
        deadline: Option<Instant>,
    ) -> Result<(), Full<B::Item>> {
        let item = match self.put_now(item) {
            Err(err) if !err.is_shutdown() => err.into_inner(),
            done => return done,
        };
        // The item stays in this frame while we wait: a kill drops it with
        // the frame, and the put simply did not happen.
        match self
            .putters
            .wait(Primitive::QueuePut, deadline, &|| self.rebalance())
        {
            Wait::Notified if self.shut_down.get() => Err(Full::shut_down(item)),
            Wait::Notified => {
                debug_assert!(self.len() < self.capacity, "a chosen putter found no slot");
                self.push(item);
                Ok(())
            }
            Wait::TimedOut | Wait::Unwinding => self.put_now(item),
        }
    }

    /// Closes the queue: puts fail from now on, gets drain what is left and
    /// then fail. Wakes every blocked putter and getter.
    pub(super) fn shutdown(&self) {
        if self.shut_down.replace(true) {
            return;
        }
        self.putters.wake_all();
        self.getters.wake_all();
        self.fire_watchers_if_ready();
    }
}

impl<B: Buffer> Core<B> {
    /// The `Debug` output of a queue handle named `name`.
    pub(super) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("getters_waiting", &self.getters.blocked())
            .field("putters_waiting", &self.putters.blocked())
            .field("shut_down", &self.shut_down.get())
            .finish()
    }
}

/// Something an [`Iter`] can take items from by blocking get.
pub(crate) trait Receive<T> {
    /// A blocking get; `None` once the queue is shut down and drained (or
    /// when the caller is unwinding and nothing is there).
    fn receive(&self) -> Option<T>;
}

impl<B: Buffer> Receive<B::Item> for Core<B> {
    fn receive(&self) -> Option<B::Item> {
        self.get_until(None).ok()
    }
}

/// An iterator that takes items from a queue by blocking get, ending when
/// the queue is [shut down](super::Queue::shutdown) and drained.
///
/// Made by `iter()` or by `for item in &queue` on any of the queue types
/// and [`Channel`](super::Channel). It waits (without limit) for each item:
/// without a shutdown it never ends, and a thread's own stack that iterates
/// a queue nobody can fill gets the hub's "would block forever" panic.
///
/// ```
/// use grove::queue::Queue;
///
/// let q = Queue::new();
/// let producer = {
///     let q = q.clone();
///     grove::spawn(move || {
///         for i in 0..3 {
///             q.put(i);
///         }
///         q.shutdown(); // the consumer's loop ends once it has the three
///     })
/// };
/// let got: Vec<i32> = q.iter().collect();
/// assert_eq!(got, [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub struct Iter<'a, T> {
    source: &'a dyn Receive<T>,
}

impl<'a, T> Iter<'a, T> {
    pub(super) fn new(source: &'a dyn Receive<T>) -> Self {
        Iter { source }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.source.receive()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// The queue types built on [`Core`]: what the shared API of `api.rs` needs.
pub(crate) trait HasCore {
    type Buf: Buffer;
    fn from_core(core: Core<Self::Buf>) -> Self;
    fn core(&self) -> &Core<Self::Buf>;
    /// Called after every successful put (`JoinableQueue` counts tasks).
    fn on_put(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<B: Buffer<Item = u32>>(items: &[u32]) -> Vec<u32> {
        let mut buffer = B::new();
        for &i in items {
            buffer.push(i);
        }
        assert_eq!(buffer.len(), items.len());
        let mut out = Vec::new();
        while let Some(&head) = buffer.peek() {
            assert_eq!(buffer.pop(), Some(head), "peek shows what pop takes");
            out.push(head);
        }
        out
    }

    #[test]
    fn the_containers_differ_only_in_order() {
        let items = [3, 1, 4, 1, 5];
        assert_eq!(drain::<Fifo<u32>>(&items), [3, 1, 4, 1, 5]);
        assert_eq!(drain::<Lifo<u32>>(&items), [5, 1, 4, 1, 3]);
        assert_eq!(drain::<Smallest<u32>>(&items), [1, 1, 3, 4, 5]);
    }

    #[test]
    fn debug_names_the_handle() {
        let q = super::super::PriorityQueue::<u8>::bounded(2);
        q.put(1);
        assert_eq!(
            format!("{q:?}"),
            "PriorityQueue { len: 1, capacity: Some(2), getters_waiting: 0, \
             putters_waiting: 0, shut_down: false }"
        );
    }
}
