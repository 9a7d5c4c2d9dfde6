//! The one mechanism under `Queue`, `LifoQueue`, `PriorityQueue` and
//! `JoinableQueue`: a container behind two [`Line`]s, all in one `RefCell`.
//! The kinds differ only in the container ([`Buffer`]).
//!
//! # Hand-off
//!
//! A put that finds a getter waiting serves it directly: a FIFO queue moves
//! the item into the getter's node (the getter wakes with it in hand, the
//! buffer is never touched); LIFO and priority queues push the item and
//! hand the getter a claim on one item of the buffer, which it picks when
//! it runs — an item put (or a smaller one) in between still goes first, as
//! for a get made at that moment. Either way the item counts in `len()`
//! until the getter has run, and a waiting putter is handed a free slot
//! when a getter takes an item (it puts its own item when it runs; until
//! then its item stays in its frame, so a kill drops it and the put simply
//! did not happen).
//!
//! Balance kept after every change: a getter waits unserved only while no
//! item is free (FIFO: the buffer is empty; LIFO/priority: every item in it
//! is claimed), and a putter only while no slot is free. A newcomer goes
//! ahead only when its side is idle, so waiters are served in arrival
//! order and nobody barges.
//!
//! If a served getter unwinds (kill, timeout) before it runs, its guard
//! gives back what it held: an item shifts down the line of served getters
//! (each takes its predecessor's, so items still go out in order) and the
//! last one goes to the next waiting getter or back to the front of the
//! buffer; a claim or a slot passes to the next waiter, or lapses. No item
//! or slot is lost.
//!
//! `grove::wait`'s watchers sit beside the lines, never in them: they are
//! told (fired) whenever a newcomer's `get_nowait` may have become able not
//! to fail with "empty for now" ([`Core::get_ready`]): an item went to the
//! buffer, the getters' line emptied, an item came back from a cancelled
//! getter, the queue was shut down. They take and reserve nothing; firing
//! happens after the state's borrow is released, and costs one load when
//! nobody watches.
//!
//! The wait path (push, park, take) is inlined into each `get`/`put` call
//! so that after the stack switch the greenlet returns straight into the
//! caller's code: every `ret` between the switch and the caller would
//! mispredict. Unusual cases (deadlines, cancellation, shutdown, waiting
//! behind served getters) are out of line.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::time::Instant;

use super::{Empty, Full};
use crate::hub::{Hub, Primitive, WaitOn, Watcher, Watchers};
use crate::wait::line::{wait_turn, Line};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_QUEUE_GET: Primitive = Primitive::new("a queue get");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_QUEUE_PUT: Primitive = Primitive::new("a queue put (queue full)");

/// What a container holds (a trait of its own, without the bounds the
/// container's methods need, so that `Core<Smallest<T>>` is a type for any
/// `T`, as `PriorityQueue<T>` is).
pub(crate) trait Holds {
    type Item;
}

/// The container of a buffered queue: decides which item a get takes.
pub(crate) trait Buffer: Holds {
    /// Whether a put moves its item straight into a waiting getter's hands
    /// (true for FIFO, where that is the item the getter would take
    /// anyway); otherwise the getter gets a claim and pops when it runs.
    const HANDS_OFF: bool;
    fn new() -> Self;
    fn push(&mut self, item: Self::Item);
    fn pop(&mut self) -> Option<Self::Item>;
    /// Puts back an item popped last, so the next `pop` returns it again.
    fn unpop(&mut self, item: Self::Item);
    /// The item the next `pop` returns.
    fn peek(&self) -> Option<&Self::Item>;
    fn len(&self) -> usize;
}

/// First in, first out.
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T> Holds for Fifo<T> {
    type Item = T;
}

impl<T> Buffer for Fifo<T> {
    const HANDS_OFF: bool = true;
    fn new() -> Self {
        Fifo(VecDeque::new())
    }
    #[inline(always)]
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn unpop(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
pub(crate) struct Lifo<T>(Vec<T>);

impl<T> Holds for Lifo<T> {
    type Item = T;
}

impl<T> Buffer for Lifo<T> {
    const HANDS_OFF: bool = false;
    fn new() -> Self {
        Lifo(Vec::new())
    }
    #[inline(always)]
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn unpop(&mut self, item: T) {
        self.0.push(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (a min-heap).
pub(crate) struct Smallest<T>(BinaryHeap<Reverse<T>>);

impl<T> Holds for Smallest<T> {
    type Item = T;
}

impl<T: Ord> Buffer for Smallest<T> {
    const HANDS_OFF: bool = false;
    fn new() -> Self {
        Smallest(BinaryHeap::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn unpop(&mut self, item: T) {
        self.push(item);
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|Reverse(item)| item)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A buffered queue: items in a [`Buffer`] (or in the hands of served
/// getters), getters and putters in FIFO [`Line`]s. See the module docs.
pub(crate) struct Core<B: Holds> {
    state: RefCell<State<B>>,
    /// `usize::MAX` for an unbounded queue.
    capacity: usize,
    /// `grove::wait`'s watchers, fired whenever a get may have become
    /// possible (see the module docs).
    watchers: Watchers,
}

struct State<B: Holds> {
    items: B,
    /// Items moved into served getters' nodes (counted by `len`).
    held: usize,
    shut_down: bool,
    getters: Line<B::Item>,
    /// Served putters hold a free slot (no payload).
    putters: Line<()>,
}

impl<B: Buffer> State<B> {
    /// Items in the queue, including those in served getters' hands.
    #[inline(always)]
    fn len(&self) -> usize {
        self.items.len() + self.held
    }

    /// Whether the buffer holds an item no getter in line has a claim on.
    fn has_free_item(&self) -> bool {
        if B::HANDS_OFF {
            self.items.len() > 0
        } else {
            self.items.len() > self.getters.served()
        }
    }

    /// Adds an item: the first waiting getter is served with it (or with a
    /// claim on it), else it goes to the buffer. Returns whether it went
    /// to the buffer unclaimed: only then may a get have become possible
    /// (the caller tells the watchers; a hand-off never needs to).
    #[inline(always)]
    fn push(&mut self, item: B::Item) -> bool {
        if !self.getters.has_waiting() {
            self.items.push(item);
            true
        } else if B::HANDS_OFF {
            self.held += 1;
            self.getters.serve_first(Some(item));
            false
        } else {
            self.items.push(item);
            self.getters.serve_first(None);
            false
        }
    }

    /// Takes an item when no getter is in line.
    #[inline(always)]
    fn pop(&mut self, capacity: usize) -> Option<B::Item> {
        let item = self.items.pop()?;
        self.slot_freed(capacity);
        Some(item)
    }

    /// An item left the queue: its slot goes to the next waiting putter.
    #[inline(always)]
    fn slot_freed(&mut self, capacity: usize) {
        if self.putters.has_waiting() {
            self.serve_putters(capacity);
        }
    }

    /// Serves waiting putters, oldest first, while slots are free beyond
    /// those already handed out.
    #[cold]
    #[inline(never)]
    fn serve_putters(&mut self, capacity: usize) {
        while self.putters.has_waiting() && self.len() + self.putters.served() < capacity {
            self.putters.serve_first(None);
        }
    }

    /// Serves waiting getters, oldest first, while items are free.
    #[cold]
    #[inline(never)]
    fn serve_getters(&mut self) {
        while self.getters.has_waiting() && self.has_free_item() {
            if B::HANDS_OFF {
                let item = self.items.pop().expect("a free item");
                self.held += 1;
                self.getters.serve_first(Some(item));
            } else {
                self.getters.serve_first(None);
            }
        }
    }

    /// The served getter `key`, head of the line, leaves it with its item:
    /// the one in its hands, else one popped from the buffer (a claim, or a
    /// getter woken by the shutdown).
    #[inline(always)]
    fn take_served(&mut self, key: usize, capacity: usize) -> Option<B::Item> {
        let item = match self.getters.pop_head(key) {
            Some(item) => {
                self.held -= 1;
                Some(item)
            }
            None => self.items.pop(),
        };
        if item.is_some() {
            self.slot_freed(capacity);
        }
        item
    }

    /// A getter unwound out of its wait: whatever it was served passes on.
    #[cold]
    #[inline(never)]
    fn getter_cancelled(&mut self, key: usize) {
        let carry = match self.getters.take_payload(key) {
            Some(item) => self.getters.shift_after(key, item),
            None => None,
        };
        let (served, _) = self.getters.remove(key);
        if let Some(item) = carry {
            if self.getters.has_waiting() {
                self.getters.serve_first(Some(item));
            } else {
                self.held -= 1;
                self.items.unpop(item);
            }
        }
        if served {
            // A claim it held (LIFO, priority) is free again.
            self.serve_getters();
        }
    }

    /// A putter unwound out of its wait: a slot it was handed passes on.
    #[cold]
    #[inline(never)]
    fn putter_cancelled(&mut self, key: usize, capacity: usize) {
        if self.putters.remove(key).0 {
            self.serve_putters(capacity);
        }
    }

    /// Whether a get that does not wait would not fail with "empty for
    /// now": it takes an item (none in line, one in the buffer), or the
    /// queue is shut down with nothing left for it. Exactly the cases in
    /// which `Core::get_now` succeeds or fails for good.
    fn get_ready(&self) -> bool {
        (self.getters.is_idle() && self.items.len() > 0)
            || (self.shut_down && self.len() <= self.getters.len())
    }

    /// Why a get that cannot take an item now fails: after a shutdown,
    /// for good once every item left is promised to getters in line;
    /// otherwise "empty for now".
    fn empty(&self) -> Empty {
        if self.shut_down && self.len() <= self.getters.len() {
            Empty::SHUT_DOWN
        } else {
            Empty::EMPTY
        }
    }
}

impl<B: Buffer> Core<B> {
    pub(super) fn new(capacity: usize) -> Self {
        Core {
            state: RefCell::new(State {
                items: B::new(),
                held: 0,
                shut_down: false,
                getters: Line::new(),
                putters: Line::new(),
            }),
            capacity,
            watchers: Watchers::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.state.borrow().len()
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    pub(super) fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    pub(super) fn is_shutdown(&self) -> bool {
        self.state.borrow().shut_down
    }

    pub(super) fn getters_blocked(&self) -> usize {
        self.state.borrow().getters.len()
    }

    pub(super) fn putters_blocked(&self) -> usize {
        self.state.borrow().putters.len()
    }

    /// A clone of the item the next get takes: the one in the first served
    /// getter's hands, else the buffer's next.
    pub(super) fn peek(&self) -> Option<B::Item>
    where
        B::Item: Clone,
    {
        let st = self.state.borrow();
        st.getters
            .head_payload()
            .or_else(|| st.items.peek())
            .cloned()
    }

    /// Puts without checking the bound or the shutdown flag.
    pub(super) fn push(&self, item: B::Item) {
        if self.state.borrow_mut().push(item) {
            self.notify_ready();
        }
    }

    // ---- grove::wait ----------------------------------------------------------

    /// Whether `get_now` would not fail with "empty for now" (`grove::wait`'s
    /// readiness); takes nothing.
    pub(super) fn get_ready(&self) -> bool {
        self.state.borrow().get_ready()
    }

    /// Registers a `grove::wait` watcher, fired whenever a get may have
    /// become possible; `None` (nothing registered) if one is possible now.
    pub(super) fn watch(&self, watcher: Watcher) -> Option<usize> {
        (!self.get_ready()).then(|| self.watchers.add(watcher))
    }

    /// Removes the watcher registered under `key`.
    pub(super) fn unwatch(&self, key: usize) {
        self.watchers.remove(key);
    }

    /// Called, with the state not borrowed, after any change that may have
    /// made a get possible: fires the watchers if one is. One load when
    /// nobody watches.
    #[inline(always)]
    fn notify_ready(&self) {
        if !self.watchers.is_empty() {
            self.fire_if_ready();
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_if_ready(&self) {
        if self.get_ready() {
            self.watchers.fire();
        }
    }

    // ---- get ----------------------------------------------------------------

    /// A get that does not wait. It takes an item only when no other getter
    /// waits or holds a promise (it never overtakes one). After a shutdown
    /// it fails for good once every item left is claimed by earlier getters;
    /// until then it reports "empty for now": waiting would bring an item.
    pub(super) fn get_now(&self) -> Result<B::Item, Empty> {
        let mut st = self.state.borrow_mut();
        if st.getters.is_idle() {
            if let Some(item) = st.pop(self.capacity) {
                return Ok(item);
            }
        }
        Err(st.empty())
    }

    /// A get that waits until `deadline` (`None`: without limit).
    #[inline(always)]
    pub(super) fn get_until(&self, deadline: Option<Instant>) -> Result<B::Item, Empty> {
        let mut st = self.state.borrow_mut();
        if st.getters.is_idle() && !st.shut_down {
            if let Some(item) = st.pop(self.capacity) {
                return Ok(item);
            }
            drop(st);
        } else {
            drop(st);
            if let Some(done) = self.get_crowded(deadline) {
                return done;
            }
        }
        self.get_wait(deadline)
    }

    /// A get that found getters in line or the queue shut down. `None`:
    /// wait in line.
    #[cold]
    #[inline(never)]
    fn get_crowded(&self, deadline: Option<Instant>) -> Option<Result<B::Item, Empty>> {
        let mut st = self.state.borrow_mut();
        if st.getters.is_idle() {
            if let Some(item) = st.pop(self.capacity) {
                return Some(Ok(item));
            }
        }
        let err = st.empty();
        if err.is_shutdown() {
            return Some(Err(err));
        }
        if !st.has_free_item() {
            return None;
        }
        drop(st);
        // Items are free, but getters served earlier have not run yet: take
        // one now (so nobody else can), and return once they have gone.
        let hub = Hub::get();
        if deadline.is_some_and(|d| d <= hub.deadline_base()) || std::thread::panicking() {
            return Some(Err(err));
        }
        let task = hub.current_unparker().task;
        let key = {
            let mut st = self.state.borrow_mut();
            let key = st.getters.push(task);
            st.serve_getters();
            debug_assert!(st.getters.is_served(key));
            key
        };
        // After a shutdown, one more getter in line can leave nothing for
        // a newcomer: a get now fails for good.
        self.notify_ready();
        let guard = GetGuard {
            core: self,
            key,
            armed: true,
        };
        Some(self.get_served(guard, deadline))
    }

    /// Waits in line for an item.
    #[inline(always)]
    fn get_wait(&self, deadline: Option<Instant>) -> Result<B::Item, Empty> {
        let hub = Hub::get();
        if deadline.is_some_and(|d| d <= hub.deadline_base()) {
            return self.get_now();
        }
        let unparker = hub.current_unparker();
        let (task, for_timer) = match deadline {
            None => (unparker.task, None),
            Some(d) => (unparker.task.clone(), Some((d, unparker))),
        };
        let key = self.state.borrow_mut().getters.push(task);
        let guard = GetGuard {
            core: self,
            key,
            armed: true,
        };
        // Called while unwinding, `park` returns at once: the getter is not
        // served, and `get_in_turn` takes it out of the line again.
        hub.park_until(WaitOn::Primitive(&WAITS_ON_QUEUE_GET), for_timer);
        self.get_served(guard, deadline)
    }

    /// After the park: takes the item the getter was served, in turn.
    #[inline(always)]
    fn get_served(
        &self,
        mut guard: GetGuard<'_, B>,
        deadline: Option<Instant>,
    ) -> Result<B::Item, Empty> {
        let key = guard.key;
        let mut st = self.state.borrow_mut();
        if !st.getters.is_served_head(key) {
            drop(st);
            if !self.get_in_turn(key) {
                guard.armed = false;
                return self.get_left();
            }
            st = self.state.borrow_mut();
        }
        guard.armed = false;
        match st.take_served(key, self.capacity) {
            // Nobody watches (the usual case): nothing else to do.
            Some(item) if self.watchers.is_empty() => Ok(item),
            item => {
                let shut_down = st.shut_down;
                drop(st);
                self.got_served(item, shut_down, deadline)
            }
        }
    }

    /// The end of `get_served` when watchers are registered or no item
    /// came: the line may be empty now, with items put while the getter
    /// was on its way, so the watchers are told.
    #[cold]
    #[inline(never)]
    fn got_served(
        &self,
        item: Option<B::Item>,
        shut_down: bool,
        deadline: Option<Instant>,
    ) -> Result<B::Item, Empty> {
        self.notify_ready();
        match item {
            Some(item) => Ok(item),
            None if shut_down => Err(Empty::SHUT_DOWN),
            None => self.get_again(deadline),
        }
    }

    /// A getter whose deadline passed before it was served has left the
    /// line: a get that does not wait, then the watchers are told (its
    /// leaving may have freed an item for others).
    #[cold]
    #[inline(never)]
    fn get_left(&self) -> Result<B::Item, Empty> {
        let got = self.get_now();
        self.notify_ready();
        got
    }

    /// The getter woke not at the head of the line, or not served. If
    /// served, waits until the older served getters have gone (`true`);
    /// otherwise (its deadline passed) leaves the line (`false`).
    #[cold]
    #[inline(never)]
    fn get_in_turn(&self, key: usize) -> bool {
        let mut st = self.state.borrow_mut();
        if !st.getters.is_served(key) {
            st.getters.remove(key);
            return false;
        }
        let blocked = st.getters.len();
        drop(st);
        wait_turn(blocked, &|| self.state.borrow().getters.is_head(key));
        true
    }

    #[cold]
    #[inline(never)]
    fn get_again(&self, deadline: Option<Instant>) -> Result<B::Item, Empty> {
        debug_assert!(false, "a served getter found no item");
        self.get_until(deadline)
    }

    /// A getter's wait ended by unwinding.
    #[cold]
    #[inline(never)]
    fn getter_unwound(&self, key: usize) {
        self.state.borrow_mut().getter_cancelled(key);
        // Its item may be back in the buffer, the line empty.
        self.notify_ready();
    }

    // ---- put ----------------------------------------------------------------

    /// A put that does not wait: uses a slot nobody else was promised.
    pub(super) fn put_now(&self, item: B::Item) -> Result<(), Full<B::Item>> {
        let mut st = self.state.borrow_mut();
        if st.shut_down {
            return Err(Full::shut_down(item));
        }
        if st.putters.is_idle() && st.len() < self.capacity {
            let buffered = st.push(item);
            drop(st);
            if buffered {
                self.notify_ready();
            }
            Ok(())
        } else {
            Err(Full::no_room(item))
        }
    }

    /// A put that waits until `deadline` (`None`: without limit).
    #[inline(always)]
    pub(super) fn put_until(
        &self,
        item: B::Item,
        deadline: Option<Instant>,
    ) -> Result<(), Full<B::Item>> {
        let mut st = self.state.borrow_mut();
        if !st.shut_down && st.putters.is_idle() && st.len() < self.capacity {
            let buffered = st.push(item);
            drop(st);
            if buffered {
                self.notify_ready();
            }
            return Ok(());
        }
        drop(st);
        match self.put_crowded(item, deadline) {
            Ok(done) => done,
            Err(item) => self.put_wait(item, deadline),
        }
    }

    /// A put that found the queue full, putters in line or the queue shut
    /// down. `Err` hands the item back: wait in line.
    #[cold]
    #[inline(never)]
    fn put_crowded(
        &self,
        item: B::Item,
        deadline: Option<Instant>,
    ) -> Result<Result<(), Full<B::Item>>, B::Item> {
        let st = self.state.borrow();
        if st.shut_down {
            return Ok(Err(Full::shut_down(item)));
        }
        if st.putters.is_idle() || st.len() + st.putters.served() >= self.capacity {
            return Err(item);
        }
        drop(st);
        // A slot is free, but putters served earlier have not run yet: take
        // it now (so nobody else can), and put once they have gone.
        let hub = Hub::get();
        if deadline.is_some_and(|d| d <= hub.deadline_base()) || std::thread::panicking() {
            return Ok(Err(Full::no_room(item)));
        }
        let task = hub.current_unparker().task;
        let key = {
            let mut st = self.state.borrow_mut();
            let key = st.putters.push(task);
            st.serve_putters(self.capacity);
            debug_assert!(st.putters.is_served(key));
            key
        };
        let guard = PutGuard {
            core: self,
            key,
            armed: true,
        };
        Ok(self.put_served(guard, item))
    }

    /// Waits in line for a free slot. The item stays in this frame while
    /// we wait: a kill drops it with the frame, and the put did not happen.
    #[inline(always)]
    fn put_wait(&self, item: B::Item, deadline: Option<Instant>) -> Result<(), Full<B::Item>> {
        let hub = Hub::get();
        if deadline.is_some_and(|d| d <= hub.deadline_base()) {
            return self.put_now(item);
        }
        let unparker = hub.current_unparker();
        let (task, for_timer) = match deadline {
            None => (unparker.task, None),
            Some(d) => (unparker.task.clone(), Some((d, unparker))),
        };
        let key = self.state.borrow_mut().putters.push(task);
        let guard = PutGuard {
            core: self,
            key,
            armed: true,
        };
        // Called while unwinding, `park` returns at once (see `get_wait`).
        hub.park_until(WaitOn::Primitive(&WAITS_ON_QUEUE_PUT), for_timer);
        self.put_served(guard, item)
    }

    /// After the park: puts the item in the slot the putter was served, in
    /// turn.
    #[inline(always)]
    fn put_served(&self, mut guard: PutGuard<'_, B>, item: B::Item) -> Result<(), Full<B::Item>> {
        let key = guard.key;
        let mut st = self.state.borrow_mut();
        if !st.putters.is_served_head(key) {
            drop(st);
            if !self.put_in_turn(key) {
                guard.armed = false;
                return self.put_now(item);
            }
            st = self.state.borrow_mut();
        }
        guard.armed = false;
        st.putters.pop_head(key);
        if st.shut_down {
            return Err(Full::shut_down(item));
        }
        // The slot was free when it was handed over. A put made while
        // unwinding (which cannot wait) may have gone beyond the bound since:
        // the promise stands, this item goes in too.
        let buffered = st.push(item);
        drop(st);
        if buffered {
            self.notify_ready();
        }
        Ok(())
    }

    /// As [`get_in_turn`](Self::get_in_turn), for a putter.
    #[cold]
    #[inline(never)]
    fn put_in_turn(&self, key: usize) -> bool {
        let mut st = self.state.borrow_mut();
        if !st.putters.is_served(key) {
            st.putters.remove(key);
            return false;
        }
        let blocked = st.putters.len();
        drop(st);
        wait_turn(blocked, &|| self.state.borrow().putters.is_head(key));
        true
    }

    /// A putter's wait ended by unwinding.
    #[cold]
    #[inline(never)]
    fn putter_unwound(&self, key: usize) {
        self.state.borrow_mut().putter_cancelled(key, self.capacity);
    }

    /// Closes the queue: puts fail from now on, gets drain what is left and
    /// then fail. Wakes every blocked putter and getter.
    pub(super) fn shutdown(&self) {
        let mut st = self.state.borrow_mut();
        if std::mem::replace(&mut st.shut_down, true) {
            return;
        }
        st.putters.serve_all();
        st.getters.serve_all();
        drop(st);
        self.notify_ready();
    }
}

/// Takes a getter out of the line if its wait unwinds.
struct GetGuard<'a, B: Buffer> {
    core: &'a Core<B>,
    key: usize,
    /// Until the getter has left the line normally.
    armed: bool,
}

impl<B: Buffer> Drop for GetGuard<'_, B> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.armed {
            self.core.getter_unwound(self.key);
        }
    }
}

/// Takes a putter out of the line if its wait unwinds.
struct PutGuard<'a, B: Buffer> {
    core: &'a Core<B>,
    key: usize,
    armed: bool,
}

impl<B: Buffer> Drop for PutGuard<'_, B> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.armed {
            self.core.putter_unwound(self.key);
        }
    }
}

impl<B: Buffer> Core<B> {
    /// The `Debug` output of a queue handle named `name`.
    pub(super) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("getters_waiting", &self.getters_blocked())
            .field("putters_waiting", &self.putters_blocked())
            .field("shut_down", &self.is_shutdown())
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
