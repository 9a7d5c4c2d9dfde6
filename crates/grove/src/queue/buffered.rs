//! The state under `Queue`, `LifoQueue`, `PriorityQueue` and
//! `JoinableQueue`: a container behind two [`Line`]s, run by the queue
//! [`Engine`]. The kinds differ only in the container ([`Buffer`]).
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
//! Watchers are fired when an item went to the buffer, the getters' line
//! emptied, an item came back from a cancelled getter, or the queue was
//! shut down.

use std::fmt;
use std::time::Instant;

pub(crate) use super::buffer::{Buffer, Fifo, Holds, Lifo, Smallest};
use super::engine::{Engine, Guard, Policy};
use super::{Empty, Full};
use crate::hub::Primitive;
use crate::wait::line::Line;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_QUEUE_GET: Primitive = Primitive::new("a queue get");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_QUEUE_PUT: Primitive = Primitive::new("a queue put (queue full)");

/// A buffered queue: items in a [`Buffer`] (or in the hands of served
/// getters), getters and putters in FIFO [`Line`]s. See the module docs.
pub(crate) type Core<B> = Engine<State<B>>;

/// What the engine of a buffered queue runs on.
pub(crate) struct State<B: Holds> {
    items: B,
    /// Items moved into served getters' nodes (counted by `len`).
    held: usize,
    /// `usize::MAX` for an unbounded queue.
    capacity: usize,
    shut_down: bool,
    getters: Line<B::Item>,
    /// Served putters hold a free slot (no payload).
    putters: Line<()>,
}

/// The putters' line (for [`Engine::park_in`] and [`Engine::in_turn`]).
fn putters<B: Holds>(st: &mut State<B>) -> &mut Line<()> {
    &mut st.putters
}

impl<B: Buffer> State<B> {
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

    /// An item left the queue: its slot goes to the next waiting putter.
    #[inline(always)]
    fn slot_freed(&mut self) {
        if self.putters.has_waiting() {
            self.serve_putters();
        }
    }

    /// Serves waiting putters, oldest first, while slots are free beyond
    /// those already handed out.
    #[cold]
    #[inline(never)]
    fn serve_putters(&mut self) {
        while self.putters.has_waiting() && self.len() + self.putters.served() < self.capacity {
            self.putters.serve_first(None);
        }
    }
}

impl<B: Buffer> Policy for State<B> {
    type Item = B::Item;
    type Held = B::Item;

    fn waits_on_get() -> &'static Primitive {
        &WAITS_ON_QUEUE_GET
    }

    #[inline(always)]
    fn getters(&self) -> &Line<B::Item> {
        &self.getters
    }

    #[inline(always)]
    fn getters_mut(&mut self) -> &mut Line<B::Item> {
        &mut self.getters
    }

    #[inline(always)]
    fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// Takes an item when no getter is in line.
    #[inline(always)]
    fn take(&mut self) -> Option<B::Item> {
        let item = self.items.pop()?;
        self.slot_freed();
        Some(item)
    }

    /// Whether the buffer holds an item no getter in line has a claim on.
    fn has_free(&self) -> bool {
        if B::HANDS_OFF {
            self.items.len() > 0
        } else {
            self.items.len() > self.getters.served()
        }
    }

    #[cold]
    #[inline(never)]
    fn serve_getters(&mut self) {
        while self.getters.has_waiting() && self.has_free() {
            if B::HANDS_OFF {
                let item = self.items.pop().expect("a free item");
                self.held += 1;
                self.getters.serve_first(Some(item));
            } else {
                self.getters.serve_first(None);
            }
        }
    }

    /// The item in its hands, else one popped from the buffer (a claim, or
    /// a getter woken by the shutdown).
    #[inline(always)]
    fn take_served(&mut self, key: usize) -> Option<B::Item> {
        let item = match self.getters.pop_head(key) {
            Some(item) => {
                self.held -= 1;
                Some(item)
            }
            None => self.items.pop(),
        };
        if item.is_some() {
            self.slot_freed();
        }
        item
    }

    #[cold]
    #[inline(never)]
    fn getter_cancelled(&mut self, served: bool, carry: Option<B::Item>) {
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

    /// A slot it was handed passes on; its item is in its frame, not here.
    #[cold]
    #[inline(never)]
    fn putter_cancelled(&mut self, key: usize) -> Option<B::Item> {
        if self.putters.remove(key).0 {
            self.serve_putters();
        }
        None
    }

    /// It takes an item (none in line, one in the buffer), or the queue is
    /// shut down with nothing left for it. Exactly the cases in which
    /// `get_now` succeeds or fails for good.
    fn get_ready(&self) -> bool {
        (self.getters.is_idle() && self.items.len() > 0) || self.drained()
    }

    const NOT_YET: Empty = Empty::EMPTY;

    #[inline(always)]
    fn len(&self) -> usize {
        self.items.len() + self.held
    }

    /// Putters wake to find the queue shut down.
    fn close(&mut self) {
        self.shut_down = true;
        self.putters.serve_all();
    }
}

impl<B: Buffer> Engine<State<B>> {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Engine::new(State {
            items: B::new(),
            held: 0,
            capacity,
            shut_down: false,
            getters: Line::new(),
            putters: Line::new(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.state.borrow().len()
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        let capacity = self.state.borrow().capacity;
        (capacity != usize::MAX).then_some(capacity)
    }

    pub(super) fn is_full(&self) -> bool {
        let st = self.state.borrow();
        st.len() >= st.capacity
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

    /// Puts `item` into the free slot the caller found (or was served);
    /// tells the watchers if it went to the buffer.
    #[inline(always)]
    fn put_into(&self, mut st: std::cell::RefMut<'_, State<B>>, item: B::Item) {
        let buffered = st.push(item);
        drop(st);
        if buffered {
            self.notify_ready();
        }
    }

    // ---- put ----------------------------------------------------------------

    /// A put that does not wait: uses a slot nobody else was promised.
    pub(super) fn put_now(&self, item: B::Item) -> Result<(), Full<B::Item>> {
        let st = self.state.borrow_mut();
        if st.shut_down {
            return Err(Full::shut_down(item));
        }
        if st.putters.is_idle() && st.len() < st.capacity {
            self.put_into(st, item);
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
        let st = self.state.borrow_mut();
        if !st.shut_down && st.putters.is_idle() && st.len() < st.capacity {
            self.put_into(st, item);
            return Ok(());
        }
        drop(st);
        let item = match self.put_crowded(item, deadline) {
            Ok(done) => return done,
            Err(item) => item,
        };
        // The item stays in this frame while we wait: a kill drops it with
        // the frame, and the put did not happen.
        match self.park_in(putters, false, deadline, &WAITS_ON_QUEUE_PUT) {
            Some(guard) => self.put_served(guard, item),
            None => self.put_now(item),
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
        if st.putters.is_idle() || st.len() + st.putters.served() >= st.capacity {
            return Err(item);
        }
        drop(st);
        // A slot is free, but putters served earlier have not run yet.
        match self.join_served(putters, State::serve_putters, deadline) {
            Some(key) => Ok(self.put_served(self.guard(key, false), item)),
            None => Ok(Err(Full::no_room(item))),
        }
    }

    /// After the park: puts the item in the slot the putter was served, in
    /// turn.
    #[inline(always)]
    fn put_served(
        &self,
        mut guard: Guard<'_, State<B>>,
        item: B::Item,
    ) -> Result<(), Full<B::Item>> {
        let key = guard.key;
        let mut st = self.state.borrow_mut();
        if !st.putters.is_served_head(key) {
            drop(st);
            if !self.in_turn(key, putters) {
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
        self.put_into(st, item);
        Ok(())
    }

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
