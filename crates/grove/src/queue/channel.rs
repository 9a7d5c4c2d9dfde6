//! `Channel`: a rendezvous — a put waits until a getter takes its item.
//!
//! Two [`Line`]s in one `RefCell`, run by the queue [`Engine`] as the
//! buffered queues are. The putters' line holds the offers in arrival
//! order: a waiting putter's node holds its item. A put that finds a getter
//! waiting moves its item straight into that getter's node (with the key of
//! the putter's node) and then waits, served, until the getter has run and
//! taken it; a getter that finds a putter waiting takes its item and wakes
//! it. Items left in the channel with nobody waiting for them (a
//! `put_nowait` item whose getter died, a `put` made while unwinding) are
//! ownerless offers in the same line, so every item is taken in offer order.
//!
//! If a served getter unwinds before it runs, its item shifts down the
//! line of served getters (see `buffered.rs`); the last one goes to the
//! next waiting getter, or back on offer at the front: to its putter,
//! which waits on (after a shutdown it is woken and gets its item back), or
//! as an ownerless offer.
//!
//! Watchers are fired when an offer is made while no getter is in line,
//! the getters' line empties, an item is back on offer from a cancelled
//! getter, the channel is shut down, or an offer is withdrawn.

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::engine::{expired, wake_ups, Engine, Iter, Policy};
use super::{Empty, Full};
use crate::hub::{Hub, Primitive, WaitOn, Watcher};
use crate::wait::line::Line;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_CHANNEL_GET: Primitive = Primitive::new("Channel::get");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_CHANNEL_PUT: Primitive = Primitive::new("Channel::put (waiting for a getter)");

/// A rendezvous between the greenlets of one thread (gevent's `Channel`): a
/// queue with no room, where [`put`](Channel::put) waits until a getter has
/// taken the item and [`get`](Channel::get) waits until a putter offers one.
///
/// The verbs are those of [`Queue`](super::Queue): `put`/`get`,
/// `put_timeout`/`get_timeout`, `put_nowait` (succeeds only if a getter is
/// already waiting) and `get_nowait` (only if a putter is already waiting),
/// plus [`shutdown`](Channel::shutdown) and iteration. A `Channel` is a
/// cheap `Clone` handle.
///
/// # Fairness
///
/// Putters' items are taken in the order the putters arrived, and waiting
/// getters are served in arrival order: an item offered while getters wait
/// is promised to the one that has waited longest, and no later getter
/// (not even `get_nowait`) can take it first.
///
/// # Shutdown
///
/// After [`shutdown`](Channel::shutdown) every put fails; putters blocked
/// waiting for a getter wake at once with their items handed back
/// ([`Full::is_shutdown`]), except those whose item a getter has already
/// been chosen to take. Getters take what is left (items already promised,
/// or left by `put_nowait`) and then fail ([`Empty::is_shutdown`]); a plain
/// `get` then panics at the caller and iteration ends.
///
/// # Kill and timeout safety
///
/// A getter cancelled while waiting leaves; if an item had been promised to
/// it, the promise passes to the next waiting getter, or the item stays in
/// the channel for the next getter to come: never lost. A putter killed
/// while waiting withdraws its item (the put did not happen) unless a
/// getter has already been chosen to take it, in which case the getter
/// still gets it. `put_timeout` running out of time hands the item back in
/// `Err`, again unless a getter has been chosen for it: then the rendezvous
/// has happened and it returns `Ok`.
///
/// # Examples
///
/// ```
/// use grove::queue::Channel;
///
/// let chan = Channel::new();
/// let putter = {
///     let chan = chan.clone();
///     grove::spawn(move || {
///         chan.put("ping"); // returns only once the main stack has it
///         "delivered"
///     })
/// };
/// assert_eq!(chan.get(), "ping");
/// assert_eq!(putter.join().unwrap(), "delivered");
/// assert!(chan.put_nowait("nobody is waiting").is_err());
/// ```
///
/// A `Channel` belongs to its thread's hub: it is not `Send`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<grove::queue::Channel<u32>>();
/// ```
pub struct Channel<T>(Rc<Engine<State<T>>>);

/// What a node of the putters' line holds.
enum Offer<T> {
    /// The item of a putter that waits.
    Item(T),
    /// An item left with nobody waiting for it (no owner).
    Left(T),
    /// Taken by a getter: the putter may return.
    Taken,
}

/// No putter waits for the item (a getter's payload).
const NO_PUTTER: usize = usize::MAX;

/// What the engine of a channel runs on.
struct State<T> {
    /// A served getter holds its item and the key of the putter waiting
    /// for the take (`NO_PUTTER`: none).
    getters: Line<(T, usize)>,
    /// Offers, oldest first: waiting nodes are on offer; a served node's
    /// item is in a getter's hands (no payload) or was taken (`Taken`).
    putters: Line<Offer<T>>,
    /// Items in served getters' hands.
    held: usize,
    /// `Offer::Left` nodes in `putters`.
    left: usize,
    shut_down: bool,
}

impl<T> State<T> {
    /// The oldest offer a getter may take: the first on offer; after a
    /// shutdown, the first left one (the putters that wait are taking
    /// theirs back).
    #[inline(always)]
    fn next_offer(&self) -> Option<usize> {
        let first = self.putters.first_waiting()?;
        if !self.shut_down {
            return Some(first);
        }
        self.putters
            .find_waiting(|offer| matches!(offer, Offer::Left(_)))
    }

    /// Takes offer `key` (from `next_offer`) for a getter: its item and
    /// the putter to tell when it is taken.
    #[inline(always)]
    fn claim(&mut self, key: usize) -> (T, usize) {
        match self.putters.take_payload(key) {
            Some(Offer::Item(item)) => {
                let served = self.putters.mark_first_served(None);
                debug_assert_eq!(served, key);
                (item, key)
            }
            Some(Offer::Left(item)) => {
                self.putters.remove(key);
                self.left -= 1;
                (item, NO_PUTTER)
            }
            _ => unreachable!("an offer on the line holds its item"),
        }
    }

    /// The item of putter `putter` has been taken: it may return.
    #[inline(always)]
    fn taken(&mut self, putter: usize) {
        if putter != NO_PUTTER {
            self.putters.set_payload(putter, Offer::Taken);
            self.putters.wake(putter);
        }
    }

    /// Hands `item` (of putter `putter`) to the first waiting getter.
    #[inline(always)]
    fn hand_off(&mut self, item: T, putter: usize) {
        self.held += 1;
        self.getters.serve_first(Some((item, putter)));
    }

    /// A putter whose item is in a getter's hands leaves: the getter keeps
    /// the item, nobody waits for the take.
    #[cold]
    fn forget_putter(&mut self, key: usize) {
        if let Some(held) = self.getters.find_served_mut(|&(_, putter)| putter == key) {
            held.1 = NO_PUTTER;
        }
    }

    /// A putter's wait ended, however: it leaves the line. `Ok` if its item
    /// was taken or is in a getter's hands (the rendezvous has happened);
    /// otherwise its item comes back (to return in `Err`, or to be dropped
    /// after the borrow by a putter that unwound).
    fn putter_leaves(&mut self, key: usize) -> Result<(), T> {
        match self.putters.remove(key) {
            (true, Some(Offer::Taken)) => Ok(()),
            // In a getter's hands: the rendezvous has happened.
            (true, None) => {
                self.forget_putter(key);
                Ok(())
            }
            (false, Some(Offer::Item(item))) => Err(item),
            _ => unreachable!("a putter's node is on offer, handed or taken"),
        }
    }
}

impl<T> Policy for State<T> {
    type Item = T;
    type Held = (T, usize);

    fn waits_on_get() -> &'static Primitive {
        &WAITS_ON_CHANNEL_GET
    }

    #[inline(always)]
    fn getters(&self) -> &Line<(T, usize)> {
        &self.getters
    }

    #[inline(always)]
    fn getters_mut(&mut self) -> &mut Line<(T, usize)> {
        &mut self.getters
    }

    #[inline(always)]
    fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// Takes the next offer and tells its putter.
    #[inline(always)]
    fn take(&mut self) -> Option<T> {
        let key = self.next_offer()?;
        let (item, putter) = self.claim(key);
        self.taken(putter);
        Some(item)
    }

    fn has_free(&self) -> bool {
        self.next_offer().is_some()
    }

    /// Hands the next offers to waiting getters; their putters wait on
    /// until the take.
    #[cold]
    #[inline(never)]
    fn serve_getters(&mut self) {
        while self.getters.has_waiting() {
            let Some(key) = self.next_offer() else { break };
            let (item, putter) = self.claim(key);
            self.hand_off(item, putter);
        }
    }

    /// The item in its hands (its putter is told); a getter woken by the
    /// shutdown takes what is left.
    #[inline(always)]
    fn take_served(&mut self, key: usize) -> Option<T> {
        match self.getters.pop_head(key) {
            Some((item, putter)) => {
                self.held -= 1;
                self.taken(putter);
                Some(item)
            }
            None => self.take_released(),
        }
    }

    #[cold]
    #[inline(never)]
    fn getter_cancelled(&mut self, _served: bool, carry: Option<(T, usize)>) {
        let Some((item, putter)) = carry else { return };
        if self.getters.has_waiting() {
            self.getters.serve_first(Some((item, putter)));
            return;
        }
        self.held -= 1;
        if putter == NO_PUTTER {
            self.putters.insert_first_waiting(Offer::Left(item));
            self.left += 1;
        } else {
            // Back on offer, at the front: the putter waits on. After a
            // shutdown it takes its item back.
            self.putters.unserve(putter, Offer::Item(item));
            if self.shut_down {
                self.putters.wake(putter);
            }
        }
    }

    /// It withdraws its item, unless a getter has it already.
    fn putter_cancelled(&mut self, key: usize) -> Option<T> {
        self.putter_leaves(key).err()
    }

    /// It takes an offer (none in line, `next_offer` finds one: before a
    /// shutdown any waiting node, after it an ownerless one, and those
    /// always wait), or the channel is shut down with nothing left for it.
    fn get_ready(&self) -> bool {
        let on_offer = if self.shut_down {
            self.left > 0
        } else {
            self.putters.has_waiting()
        };
        (self.getters.is_idle() && on_offer) || self.drained()
    }

    const NOT_YET: Empty = Empty::NO_PUTTER;

    /// Items in getters' hands and on offer (after a shutdown, only the
    /// ownerless ones: the putters that wait are taking theirs back).
    fn len(&self) -> usize {
        let on_offer = if self.shut_down {
            self.left
        } else {
            self.putters.waiting()
        };
        self.held + on_offer
    }

    /// Putters whose item is still on offer take it back.
    fn close(&mut self) {
        self.shut_down = true;
        for key in self.putters.waiting_keys() {
            self.putters.wake(key);
        }
    }
}

impl<T> State<T> {
    /// A getter woken by the shutdown, which has left the line: takes what
    /// is left.
    #[cold]
    #[inline(never)]
    fn take_released(&mut self) -> Option<T> {
        self.take()
    }
}

impl<T> Engine<State<T>> {
    fn put_now(&self, item: T) -> Result<(), Full<T>> {
        let mut st = self.state.borrow_mut();
        if st.shut_down {
            return Err(Full::shut_down(item));
        }
        if !st.getters.has_waiting() {
            return Err(Full::no_getter(item));
        }
        st.hand_off(item, NO_PUTTER);
        Ok(())
    }

    /// Offers `item` and waits until a getter takes it or `deadline`
    /// passes. If the caller is unwinding (so cannot wait), `leave` decides
    /// between leaving the item in the channel for a getter and taking it
    /// back.
    #[inline(always)]
    fn put_until(&self, item: T, deadline: Option<Instant>, leave: bool) -> Result<(), Full<T>> {
        let hub = Hub::get();
        let mut st = self.state.borrow_mut();
        if st.shut_down {
            return Err(Full::shut_down(item));
        }
        if expired(hub, deadline) || std::thread::panicking() {
            drop(st);
            return self.put_cannot_wait(item, leave);
        }
        let (task, for_timer) = wake_ups(hub, deadline);
        let key = if st.getters.has_waiting() {
            // Into the first waiting getter's hands; wait for the take.
            let key = st.putters.push_served(task, None);
            st.hand_off(item, key);
            drop(st);
            key
        } else {
            let key = st.putters.push_waiting(Some(task), Offer::Item(item));
            drop(st);
            // On offer, not handed over: a get may have become possible.
            self.notify_ready();
            key
        };
        let mut guard = self.guard(key, false);
        // Only a take, a shutdown or the deadline wakes the putter.
        hub.park_until(WaitOn::Primitive(&WAITS_ON_CHANNEL_PUT), for_timer);
        guard.armed = false;
        let mut st = self.state.borrow_mut();
        let left = st.putter_leaves(key);
        let shut_down = st.shut_down;
        drop(st);
        left.map_err(|item| {
            // Withdrawn. (Fewer offers never make a get possible as the
            // state is kept now; told anyway, cheaply, off the fast path.)
            self.notify_ready();
            if shut_down {
                Full::shut_down(item)
            } else {
                Full::no_getter(item)
            }
        })
    }

    /// A put whose deadline has passed, or made while unwinding: hands the
    /// item to a waiting getter if there is one; otherwise leaves it in the
    /// channel (`leave`, unwinding) or gives it back.
    #[cold]
    #[inline(never)]
    fn put_cannot_wait(&self, item: T, leave: bool) -> Result<(), Full<T>> {
        let mut st = self.state.borrow_mut();
        if st.getters.has_waiting() {
            st.hand_off(item, NO_PUTTER);
            Ok(())
        } else if leave && std::thread::panicking() {
            st.putters.push_waiting(None, Offer::Left(item));
            st.left += 1;
            drop(st);
            self.notify_ready();
            Ok(())
        } else {
            Err(Full::no_getter(item))
        }
    }
}

impl<T> Channel<T> {
    /// Creates a channel.
    ///
    /// ```
    /// let chan = grove::queue::Channel::<String>::new();
    /// assert!(chan.is_empty() && chan.is_full()); // no room without a getter
    /// ```
    pub fn new() -> Self {
        Channel(Rc::new(Engine::new(State {
            getters: Line::new(),
            putters: Line::new(),
            held: 0,
            left: 0,
            shut_down: false,
        })))
    }

    /// Offers `item` and waits until a getter has taken it. Putters are
    /// served in arrival order.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let chan = grove::queue::Channel::new();
    /// let delivered = Rc::new(Cell::new(false));
    /// let (c, d) = (chan.clone(), delivered.clone());
    /// grove::spawn(move || {
    ///     c.put("hand-off"); // returns only once a getter took it
    ///     d.set(true);
    /// });
    /// grove::yield_now();
    /// assert!(!delivered.get()); // still waiting for a getter
    /// assert_eq!(chan.get(), "hand-off");
    /// ```
    ///
    /// # Panics
    ///
    /// At the caller, if the channel is shut down before the call or while
    /// it waits (and no getter had been chosen for the item); the item is
    /// dropped. Use [`put_timeout`](Self::put_timeout) (`Duration::MAX`
    /// waits without limit) to receive the shutdown as a value.
    ///
    /// Called while the current greenlet is unwinding (in a `Drop` during a
    /// panic or kill), `put` cannot wait: it leaves the item in the channel
    /// for the next getter and returns (on a shut-down channel it drops the
    /// item; it does not panic while panicking).
    #[track_caller]
    #[inline(always)]
    pub fn put(&self, item: T) {
        if let Err(err) = self.0.put_until(item, None, true) {
            if !std::thread::panicking() {
                debug_assert!(err.is_shutdown());
                panic!("grove: Channel::put on a channel that was shut down");
            }
        }
    }

    /// Offers `item` and waits at most `timeout` for a getter to take it.
    ///
    /// On failure the item comes back in the error; [`Full::is_shutdown`]
    /// says whether the channel was shut down. If the time runs out just as
    /// a getter has been chosen for the item, the rendezvous counts as done
    /// and `Ok` is returned. `Duration::MAX` waits without limit.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let chan = grove::queue::Channel::new();
    /// let unwanted = chan.put_timeout(1, Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(unwanted.into_inner(), 1); // nobody came to take it
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        let deadline = Hub::get().deadline_after(timeout);
        self.0.put_until(item, deadline, false)
    }

    /// Hands `item` to a getter that is already waiting, without waiting;
    /// fails (handing the item back) if none is.
    ///
    /// On success the item is promised to the longest-waiting getter, which
    /// takes it when it next runs.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// assert!(chan.put_nowait(1).is_err()); // no getter waits
    /// let c = chan.clone();
    /// let getter = grove::spawn(move || c.get());
    /// grove::yield_now(); // now one does
    /// assert!(chan.put_nowait(2).is_ok());
    /// assert_eq!(getter.join().unwrap(), 2);
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        self.0.put_now(item)
    }

    /// Waits until a putter offers an item and takes it. Getters are served
    /// in arrival order.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// let producer = grove::spawn(move || (1..=3).for_each(|n| c.put(n)));
    /// let got: Vec<i32> = (0..3).map(|_| chan.get()).collect();
    /// assert_eq!(got, [1, 2, 3]);
    /// producer.join().unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// At the caller, if the channel is shut down and holds no item for
    /// this getter. Use [`get_timeout`](Self::get_timeout), `get_nowait` or
    /// iteration to see the shutdown as a value. Called while unwinding
    /// with no item there, it cannot wait and panics (which aborts): use
    /// `get_nowait` in destructors.
    #[track_caller]
    #[inline(always)]
    pub fn get(&self) -> T {
        match self.0.get_until(None) {
            Ok(item) => item,
            Err(err) if err.is_shutdown() => panic!(
                "grove: Channel::get on a channel that was shut down and is empty; \
                 use get_timeout, get_nowait or iteration to see the shutdown as a value"
            ),
            Err(_) => panic!(
                "grove: Channel::get while unwinding, with no putter waiting: it cannot wait \
                 and has no item to return (use get_nowait in destructors)"
            ),
        }
    }

    /// Waits at most `timeout` for a putter and takes its item.
    /// `Duration::MAX` waits without limit.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let chan = grove::queue::Channel::<u8>::new();
    /// assert!(chan.get_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        let deadline = Hub::get().deadline_after(timeout);
        self.0.get_until(deadline)
    }

    /// Takes the item of a putter that is already waiting (and not promised
    /// to an earlier getter), without waiting.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// assert!(chan.get_nowait().is_err());
    /// let c = chan.clone();
    /// grove::spawn(move || c.put('x'));
    /// grove::yield_now(); // the putter waits with its item
    /// assert_eq!(chan.get_nowait(), Ok('x'));
    /// ```
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.0.get_now()
    }

    /// The number of items offered and not yet taken (by waiting putters,
    /// or left by `put_nowait` for a chosen getter).
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// grove::spawn(move || c.put(1));
    /// grove::yield_now();
    /// assert_eq!(chan.len(), 1); // offered by the waiting putter
    /// ```
    pub fn len(&self) -> usize {
        self.0.state.borrow().len()
    }

    /// Whether no item is on offer.
    ///
    /// ```
    /// let chan = grove::queue::Channel::<u8>::new();
    /// assert!(chan.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would have to wait: no getter is waiting with nothing
    /// promised to it (so `put_nowait` would fail).
    ///
    /// ```
    /// let chan = grove::queue::Channel::<u8>::new();
    /// assert!(chan.is_full()); // no getter waiting
    /// let c = chan.clone();
    /// grove::spawn(move || c.get());
    /// grove::yield_now();
    /// assert!(!chan.is_full());
    /// chan.put(1);
    /// ```
    pub fn is_full(&self) -> bool {
        !self.0.state.borrow().getters.has_waiting()
    }

    /// Greenlets blocked in a get: waiting, or already given an item and
    /// about to run.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// grove::spawn(move || c.get());
    /// grove::yield_now();
    /// assert_eq!(chan.getters_waiting(), 1);
    /// chan.put(());
    /// ```
    pub fn getters_waiting(&self) -> usize {
        self.0.state.borrow().getters.len()
    }

    /// Greenlets blocked in a put, waiting for a getter to take their item.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// grove::spawn(move || c.put(()));
    /// grove::yield_now();
    /// assert_eq!(chan.putters_waiting(), 1);
    /// chan.get();
    /// ```
    pub fn putters_waiting(&self) -> usize {
        let st = self.0.state.borrow();
        st.putters.len() - st.left
    }

    /// Shuts the channel down: from now on every put fails; blocked putters
    /// wake with their items handed back (unless a getter was already
    /// chosen for them); getters take what is left and then fail. Calling it
    /// again does nothing.
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// let putter = grove::spawn(move || c.put_timeout(1, std::time::Duration::MAX));
    /// grove::yield_now();
    /// chan.shutdown(); // the blocked putter gets its item back
    /// assert!(putter.join().unwrap().unwrap_err().is_shutdown());
    /// ```
    pub fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// ```
    /// let chan = grove::queue::Channel::<u8>::new();
    /// chan.shutdown();
    /// assert!(chan.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.0.state.borrow().shut_down
    }

    /// An iterator taking items by blocking get until the channel is shut
    /// down and drained. See [`Iter`].
    ///
    /// ```
    /// let chan = grove::queue::Channel::new();
    /// let c = chan.clone();
    /// grove::spawn(move || {
    ///     c.put("a");
    ///     c.put("b");
    ///     c.shutdown();
    /// });
    /// assert_eq!(chan.iter().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&*self.0)
    }

    /// Whether a `get_nowait` now would not fail with "no putter for now"
    /// (`grove::wait`'s readiness; takes nothing).
    pub(crate) fn get_ready(&self) -> bool {
        self.0.get_ready()
    }

    /// Registers a `grove::wait` watcher, fired whenever a get may have
    /// become possible; `None` (nothing registered) if one is possible now.
    pub(crate) fn watch(&self, watcher: Watcher) -> Option<usize> {
        self.0.watch(watcher)
    }

    /// Removes the watcher registered under `key`.
    pub(crate) fn unwatch(&self, key: usize) {
        self.0.unwatch(key);
    }
}

impl<T> Clone for Channel<T> {
    /// Another handle on the same channel.
    fn clone(&self) -> Self {
        Channel(self.0.clone())
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("len", &self.len())
            .field("getters_waiting", &self.getters_waiting())
            .field("putters_waiting", &self.putters_waiting())
            .field("shut_down", &self.is_shutdown())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a Channel<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
