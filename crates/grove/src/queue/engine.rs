//! The get/put engine under every queue and `Channel`, written once.
//!
//! An [`Engine`] is a queue's state (a [`Policy`]) in one `RefCell`, beside
//! `grove::wait`'s watchers. The policy says what an item is, where a free
//! one comes from and what a cancelled waiter gives back: a container for
//! the buffered queues (`buffered.rs`), the putters' offers for the
//! rendezvous (`channel.rs`). The engine does the rest, the same for all:
//! the getters' whole path (take now; else wait in the getters' [`Line`],
//! park until served, a deadline or a kill, leave the line in arrival
//! order, and on unwinding give back whatever was served), the park and
//! its drop guard that both sides use, and the watchers.
//!
//! The wait path (push, park, take) is inlined into each `get`/`put` call
//! so that after the stack switch the greenlet returns straight into the
//! caller's code: every `ret` between the switch and the caller would
//! mispredict. Unusual cases (deadlines, cancellation, shutdown, waiting
//! behind served getters) are out of line.
//!
//! Watchers sit in a list of their own beside the getters' and putters'
//! lines (a wait-list nobody waits in): they are told (fired)
//! whenever a newcomer's `get_nowait` may have become able not to fail with
//! "empty for now" ([`Policy::get_ready`]). They take and reserve nothing;
//! firing happens after the state's borrow is released, and costs one load
//! when nobody watches.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

use super::Empty;
use crate::hub::{Hub, Primitive, Task, Unparker, WaitOn, Watcher};
use crate::wait::line::{wait_turn, Line};
use crate::wait::list::WaitList;

/// A queue's state: what the [`Engine`] asks of it.
pub(crate) trait Policy {
    /// What a get returns.
    type Item;
    /// What a served getter's node holds.
    type Held;
    /// What a greenlet parked in a get waits on, for reports.
    fn waits_on_get() -> &'static Primitive;
    /// The getters' line.
    fn getters(&self) -> &Line<Self::Held>;
    /// The getters' line, to change.
    fn getters_mut(&mut self) -> &mut Line<Self::Held>;
    fn is_shut_down(&self) -> bool;
    /// A getter with nobody in line before it takes a free item, if one is
    /// free (after a shutdown, one nobody waits to take back).
    fn take(&mut self) -> Option<Self::Item>;
    /// Whether an item is free for a getter that would join the line now.
    fn has_free(&self) -> bool;
    /// Serves waiting getters, oldest first, while items are free.
    fn serve_getters(&mut self);
    /// The served getter `key`, head of the line, leaves it with its item;
    /// `None` if it was woken by the shutdown and nothing is left for it.
    fn take_served(&mut self, key: usize) -> Option<Self::Item>;
    /// A getter unwound out of its wait and has left the line: what it was
    /// served passes on. `served`: it had been served; `carry`: the item
    /// that came out at the end of the served getters after it, each
    /// having taken its predecessor's, so items still go out in order.
    fn getter_cancelled(&mut self, served: bool, carry: Option<Self::Held>);
    /// A putter unwound out of its wait: it leaves, and what it was served
    /// passes on. Returns the item it withdrew, to drop after the borrow.
    fn putter_cancelled(&mut self, key: usize) -> Option<Self::Item>;
    /// Whether a get that does not wait would not fail with "empty for
    /// now": it takes an item, or fails for good after a shutdown.
    fn get_ready(&self) -> bool;
    /// Why a get fails while the queue is only empty for now.
    const NOT_YET: Empty;
    /// Items in the queue, including those in served getters' hands.
    fn len(&self) -> usize;
    /// Sets the shut-down flag and wakes or serves the putters.
    fn close(&mut self);

    /// Shut down, with every item left promised to getters in line: a get
    /// that joins now fails for good.
    fn drained(&self) -> bool {
        self.is_shut_down() && self.len() <= self.getters().len()
    }

    /// Why a get that cannot take an item now fails: after a shutdown, for
    /// good once every item left is promised to getters in line; otherwise
    /// "empty for now".
    fn empty(&self) -> Empty {
        if self.drained() {
            Empty::SHUT_DOWN
        } else {
            Self::NOT_YET
        }
    }
}

/// A queue: its state and its watchers. See the module docs.
pub(crate) struct Engine<S> {
    pub(super) state: RefCell<S>,
    /// `grove::wait`'s watchers, fired whenever a get may have become
    /// possible (see the module docs).
    watchers: WaitList,
}

/// Whether `deadline` has passed (`None`: never).
#[inline(always)]
pub(super) fn expired(hub: &Hub, deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| d <= hub.deadline_base())
}

/// The wake-ups of a greenlet about to park: its task, for a line, and the
/// timer's unparker if it has a deadline.
#[inline(always)]
pub(super) fn wake_ups(
    hub: &Hub,
    deadline: Option<Instant>,
) -> (Rc<Task>, Option<(Instant, Unparker)>) {
    let unparker = hub.current_unparker();
    match deadline {
        None => (unparker.task, None),
        Some(d) => (unparker.task.clone(), Some((d, unparker))),
    }
}

impl<S: Policy> Engine<S> {
    pub(super) fn new(state: S) -> Self {
        Engine {
            state: RefCell::new(state),
            watchers: WaitList::default(),
        }
    }

    /// Takes the waiter `key` out of its line if its wait unwinds.
    pub(super) fn guard(&self, key: usize, getter: bool) -> Guard<'_, S> {
        Guard {
            engine: self,
            key,
            getter,
            armed: true,
        }
    }

    /// Queues the current greenlet in the line `line` picks and parks it
    /// until it is served, its deadline passes or it is killed. `None`
    /// (nothing queued) if the deadline has already passed. Called while
    /// unwinding, `park` returns at once: the waiter is not served, and
    /// [`in_turn`](Self::in_turn) takes it out of the line again.
    #[inline(always)]
    pub(super) fn park_in<P>(
        &self,
        line: fn(&mut S) -> &mut Line<P>,
        getter: bool,
        deadline: Option<Instant>,
        on: &'static Primitive,
    ) -> Option<Guard<'_, S>> {
        let hub = Hub::get();
        if expired(hub, deadline) {
            return None;
        }
        let (task, for_timer) = wake_ups(hub, deadline);
        let key = line(&mut self.state.borrow_mut()).push(task);
        let guard = self.guard(key, getter);
        hub.park_until(WaitOn::Primitive(on), for_timer);
        Some(guard)
    }

    /// The waiter `key` woke not at the head of its line, or not served.
    /// If served, waits until the older served waiters have gone (`true`);
    /// otherwise (its deadline passed) leaves the line (`false`).
    #[cold]
    #[inline(never)]
    pub(super) fn in_turn<P>(&self, key: usize, line: fn(&mut S) -> &mut Line<P>) -> bool {
        let mut st = self.state.borrow_mut();
        let waiters = line(&mut st);
        if !waiters.is_served(key) {
            waiters.remove(key);
            return false;
        }
        let blocked = waiters.len();
        drop(st);
        wait_turn(blocked, &|| line(&mut self.state.borrow_mut()).is_head(key));
        true
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
        (!self.get_ready()).then(|| self.watchers.watch(watcher))
    }

    /// Removes the watcher registered under `key`.
    pub(super) fn unwatch(&self, key: usize) {
        self.watchers.unwatch(key);
    }

    /// Called, with the state not borrowed, after any change that may have
    /// made a get possible: fires the watchers if one is. One load when
    /// nobody watches.
    #[inline(always)]
    pub(super) fn notify_ready(&self) {
        if !self.watchers.has_no_watchers() {
            self.fire_if_ready();
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_if_ready(&self) {
        if self.get_ready() {
            self.watchers.fire_watchers();
        }
    }

    /// Closes the queue: puts fail from now on, gets drain what is left and
    /// then fail. Wakes every blocked putter and getter.
    pub(super) fn shutdown(&self) {
        let mut st = self.state.borrow_mut();
        if st.is_shut_down() {
            return;
        }
        st.close();
        st.getters_mut().serve_all();
        drop(st);
        self.notify_ready();
    }

    // ---- get ----------------------------------------------------------------

    /// A get that does not wait. It takes an item only when no other getter
    /// waits or holds a promise (it never overtakes one). After a shutdown
    /// it fails for good once every item left is claimed by earlier getters;
    /// until then it reports "empty for now": waiting would bring an item.
    pub(super) fn get_now(&self) -> Result<S::Item, Empty> {
        let mut st = self.state.borrow_mut();
        if st.getters().is_idle() {
            if let Some(item) = st.take() {
                return Ok(item);
            }
        }
        Err(st.empty())
    }

    /// A get that waits until `deadline` (`None`: without limit).
    #[inline(always)]
    pub(super) fn get_until(&self, deadline: Option<Instant>) -> Result<S::Item, Empty> {
        let mut st = self.state.borrow_mut();
        if st.getters().is_idle() && !st.is_shut_down() {
            if let Some(item) = st.take() {
                return Ok(item);
            }
            drop(st);
        } else {
            drop(st);
            if let Some(done) = self.get_crowded(deadline) {
                return done;
            }
        }
        match self.park_in(S::getters_mut, true, deadline, S::waits_on_get()) {
            Some(guard) => self.get_served(guard, deadline),
            None => self.get_now(),
        }
    }

    /// A get that found getters in line or the queue shut down. `None`:
    /// wait in line.
    #[cold]
    #[inline(never)]
    fn get_crowded(&self, deadline: Option<Instant>) -> Option<Result<S::Item, Empty>> {
        let mut st = self.state.borrow_mut();
        if st.getters().is_idle() {
            if let Some(item) = st.take() {
                return Some(Ok(item));
            }
        }
        let err = st.empty();
        if err.is_shutdown() {
            return Some(Err(err));
        }
        if !st.has_free() {
            return None;
        }
        drop(st);
        let Some(key) = self.join_served(S::getters_mut, S::serve_getters, deadline) else {
            return Some(Err(err));
        };
        // After a shutdown, one more getter in line can leave nothing for
        // a newcomer: a get now fails for good.
        self.notify_ready();
        Some(self.get_served(self.guard(key, true), deadline))
    }

    /// Items (or slots) are free, but waiters served earlier have not run
    /// yet: queues the caller in `line` and has `serve` serve it at once
    /// (so nobody else takes what is free), to take it once they have
    /// gone. `None` (nothing queued) if it cannot wait: its deadline has
    /// passed, or it is unwinding.
    pub(super) fn join_served<P>(
        &self,
        line: fn(&mut S) -> &mut Line<P>,
        serve: fn(&mut S),
        deadline: Option<Instant>,
    ) -> Option<usize> {
        let hub = Hub::get();
        if expired(hub, deadline) || std::thread::panicking() {
            return None;
        }
        let task = hub.current_unparker().task;
        let mut st = self.state.borrow_mut();
        let key = line(&mut st).push(task);
        serve(&mut st);
        debug_assert!(line(&mut st).is_served(key));
        Some(key)
    }

    /// After the park: takes the item the getter was served, in turn.
    #[inline(always)]
    fn get_served(
        &self,
        mut guard: Guard<'_, S>,
        deadline: Option<Instant>,
    ) -> Result<S::Item, Empty> {
        let key = guard.key;
        let mut st = self.state.borrow_mut();
        if !st.getters().is_served_head(key) {
            drop(st);
            if !self.in_turn(key, S::getters_mut) {
                guard.armed = false;
                return self.get_left();
            }
            st = self.state.borrow_mut();
        }
        guard.armed = false;
        match st.take_served(key) {
            // Nobody watches (the usual case): nothing else to do.
            Some(item) if self.watchers.has_no_watchers() => Ok(item),
            item => {
                let shut_down = st.is_shut_down();
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
        item: Option<S::Item>,
        shut_down: bool,
        deadline: Option<Instant>,
    ) -> Result<S::Item, Empty> {
        self.notify_ready();
        match item {
            Some(item) => Ok(item),
            None if shut_down => Err(Empty::SHUT_DOWN),
            None => {
                debug_assert!(false, "a served getter found no item");
                self.get_until(deadline)
            }
        }
    }

    /// A getter whose deadline passed before it was served has left the
    /// line: a get that does not wait, then the watchers are told (its
    /// leaving may have freed an item for others).
    #[cold]
    #[inline(never)]
    fn get_left(&self) -> Result<S::Item, Empty> {
        let got = self.get_now();
        self.notify_ready();
        got
    }

    /// A waiter's wait ended by unwinding: it leaves its line, and whatever
    /// it was served passes on (a withdrawn item is dropped after the
    /// borrow). Its item may be back for others, the line empty: the
    /// watchers are told.
    #[cold]
    #[inline(never)]
    fn unwound(&self, key: usize, getter: bool) {
        let mut st = self.state.borrow_mut();
        let withdrawn = if getter {
            let line = st.getters_mut();
            let carry = match line.take_payload(key) {
                Some(held) => line.shift_after(key, held),
                None => None,
            };
            let (served, _) = line.remove(key);
            st.getter_cancelled(served, carry);
            None
        } else {
            st.putter_cancelled(key)
        };
        drop(st);
        drop(withdrawn);
        self.notify_ready();
    }
}

/// Takes a waiter out of its line if its wait unwinds.
pub(super) struct Guard<'a, S: Policy> {
    engine: &'a Engine<S>,
    pub(super) key: usize,
    /// A getter (else a putter).
    getter: bool,
    /// Until the waiter has left the line normally.
    pub(super) armed: bool,
}

impl<S: Policy> Drop for Guard<'_, S> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.armed {
            self.engine.unwound(self.key, self.getter);
        }
    }
}

/// Something an [`Iter`] can take items from by blocking get.
pub(crate) trait Receive<T> {
    /// A blocking get; `None` once the queue is shut down and drained (or
    /// when the caller is unwinding and nothing is there).
    fn receive(&self) -> Option<T>;
}

impl<S: Policy> Receive<S::Item> for Engine<S> {
    fn receive(&self) -> Option<S::Item> {
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
