//! Waiting on many things at once (gevent's `wait` and `iwait`).
//!
//! # The idea
//!
//! [`iwait`] takes a slice of objects — greenlets, events, async results,
//! queues, in any mix — and returns an iterator that yields the *index* of
//! each object as it becomes ready, in the order they became ready, ending
//! when every object has been yielded or the timeout has passed. [`wait`]
//! collects the first `count` of them (all by default) into a `Vec`.
//! "Ready" is what a blocking call on the object would not wait for: a
//! [`Greenlet`] has finished, an [`Event`] has been set, an [`AsyncResult`]
//! has a value, a queue has an item for a newcomer's `get` (or was shut down
//! with nothing left for it). See [`Waitable`] for the exact list.
//!
//! Waiting *takes nothing*: a queue's item stays in the queue for the
//! caller (or any other greenlet) to get, an `AsyncResult`'s value stays
//! set, a greenlet's result stays for `join`. Under the hood no greenlet is
//! spawned per object: the call subscribes one *watcher* per object — a
//! non-consuming entry beside the object's real waiters, which it never
//! takes a notification from — and parks the caller once; the first object
//! to become ready records its index and wakes it. The watchers leave their
//! objects as soon as their object is yielded, when the iterator ends, or
//! when it is dropped, however that happens (a kill, a `with_timeout`).
//!
//! Heterogeneous objects go in as a slice of `&dyn Waitable`; a homogeneous
//! slice (a `Vec<Greenlet<T>>`, `[Event; 3]`) goes in as it is. Results are
//! indices into the slice, so they work the same for both.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use grove::event::Event;
//! use grove::queue::Queue;
//! use grove::Waitable;
//!
//! // Homogeneous: greenlets, yielded in the order they finish.
//! let sleepers: Vec<_> = [30u64, 10, 20]
//!     .into_iter()
//!     .map(|ms| grove::spawn(move || grove::sleep(Duration::from_millis(ms))))
//!     .collect();
//! let order: Vec<usize> = grove::iwait(&sleepers, None).collect();
//! assert_eq!(order, [1, 2, 0]);
//!
//! // Heterogeneous: whichever comes first of a worker, a stop signal and a job.
//! let stop = Event::new();
//! let jobs = Queue::new();
//! let worker = {
//!     let jobs = jobs.clone();
//!     grove::spawn(move || {
//!         grove::sleep(Duration::from_millis(10));
//!         jobs.put("job");
//!         grove::sleep(Duration::from_secs(3600));
//!     })
//! };
//! let objects: [&dyn Waitable; 3] = [&worker, &stop, &jobs];
//! let ready = grove::wait(&objects, Some(Duration::from_secs(5)), Some(1));
//! assert_eq!(ready, [2]);
//! assert_eq!(jobs.get_nowait(), Ok("job")); // waiting took nothing
//!
//! // A timeout ends the wait with whatever is ready by then.
//! assert_eq!(grove::wait(&objects, Some(Duration::from_millis(10)), None), []);
//! worker.kill();
//! ```
//!
//! # Choices worth knowing
//!
//! * **Indices, not objects.** gevent returns the objects; here a result
//!   is an index into the slice, which works for mixed types without
//!   downcasting: `objects[i]` gets the object back.
//! * **A mixed slice needs a binding**: `let objects: [&dyn Waitable; 2] =
//!   [&a, &b];` then `iwait(&objects, ..)`. A temporary array only lives
//!   for one statement (inside a `for` head it lives for the whole loop).
//! * **The timeout counts from the `iwait` call** (gevent: from the first
//!   `next`), since the watchers subscribe there.
//! * **Edges and levels.** A finished greenlet or a set `AsyncResult`
//!   stays ready. An `Event` counts as ready if it was set during the wait
//!   even if it was cleared before the waiter ran, as for [`Event::wait`].
//!   A queue is checked again before it is reported, so the caller is not
//!   told of an item another greenlet took first.
//! * **Cost**: one watcher per object (a node of its waiters' line; for a greenlet an
//!   entry in its joiner list), no greenlet and no allocation per object
//!   beyond that; each readiness is O(1). An object is unsubscribed as soon
//!   as it is yielded.
//! * **Across threads**: while the objects include an `AsyncResult` or a
//!   `RemoteGreenlet`, the hub cannot know that nothing will ever make one
//!   ready (another thread might), so a wait that can never end hangs
//!   instead of panicking with "would block forever", as
//!   [`AsyncResult::get`] does. Bound such waits with a timeout.
//! * A greenlet that passes its own handle never sees it ready: it cannot
//!   finish while it waits.
//!
//! [`AsyncResult`]: crate::event::AsyncResult
//! [`AsyncResult::get`]: crate::event::AsyncResult::get
//! [`Event`]: crate::event::Event
//! [`Event::wait`]: crate::event::Event::wait
//! [`Greenlet`]: crate::Greenlet

use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::mailbox::Mailbox;
use crate::hub::{Hub, Primitive, RemoteWatch, RemoteWatcher, Unparker, WaitOn, Watch, Watcher};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_ANY: Primitive = Primitive::new("grove::wait on several objects");

/// An object that [`wait`] and [`iwait`] can wait on.
///
/// Implemented by:
///
/// | type | ready when |
/// |---|---|
/// | [`Greenlet<T>`], [`RemoteGreenlet<T>`] | it has finished (returned, panicked or was killed) |
/// | [`Event`] | it is set — or was set while the wait ran, even if cleared again since (as [`Event::wait`] sees it) |
/// | [`AsyncResult<T>`] | a value is set (from any thread) |
/// | [`Queue<T>`], [`LifoQueue<T>`], [`PriorityQueue<T>`], [`JoinableQueue<T>`], [`Channel<T>`] | a `get_nowait` now would not fail with "empty for now": an item is there for a newcomer, or the queue is shut down and nothing is left for it |
///
/// and by `&W` for any `W: Waitable`, so that a slice of `&dyn Waitable`
/// mixes them. The trait is sealed: its machinery (the non-consuming
/// watchers) is grove's. To wait on something of your own, give it one of
/// these (an [`Event`] it sets, say) and wait on that.
///
/// A queue's readiness is checked again when the wait reports it: if
/// another greenlet got the item in between, the queue is not reported
/// (until it is ready again). Being reported does not reserve the item:
/// whoever runs first may still get it, so take it with `get_nowait`.
///
/// # Examples
///
/// ```
/// use grove::event::Event;
/// use grove::queue::Queue;
/// use grove::Waitable;
///
/// let event = Event::new();
/// let queue = Queue::new();
/// assert!(!event.is_ready() && !queue.is_ready());
/// event.set();
/// queue.put(1);
/// assert!(event.is_ready() && queue.is_ready());
/// ```
///
/// [`AsyncResult<T>`]: crate::event::AsyncResult
/// [`Channel<T>`]: crate::queue::Channel
/// [`Event`]: crate::event::Event
/// [`Event::wait`]: crate::event::Event::wait
/// [`Greenlet<T>`]: crate::Greenlet
/// [`JoinableQueue<T>`]: crate::queue::JoinableQueue
/// [`LifoQueue<T>`]: crate::queue::LifoQueue
/// [`PriorityQueue<T>`]: crate::queue::PriorityQueue
/// [`Queue<T>`]: crate::queue::Queue
/// [`RemoteGreenlet<T>`]: crate::RemoteGreenlet
pub trait Waitable: sealed::Sealed {
    /// Whether the object is ready now (see the table above); takes nothing.
    fn is_ready(&self) -> bool;
}

pub(crate) mod sealed {
    use super::Tracker;
    use std::rc::Rc;

    /// The subscription machinery of [`Waitable`](super::Waitable).
    pub trait Sealed {
        /// Subscribes a watcher for `slot` unless the object is ready now;
        /// returns the key that removes it, or `None` when ready now
        /// (nothing subscribed). The check and the subscription are one
        /// step: a readiness that comes after the check fires the watcher.
        fn watch(&self, slot: &Slot) -> Option<usize>;
        /// Removes the watcher subscribed for `slot` under `key`.
        fn unwatch(&self, slot: &Slot, key: usize);
        /// Whether an object whose watcher fired still counts as ready when
        /// the wait is about to report it. By default yes: a readiness seen
        /// happened (an `Event` set counts even if cleared since); a queue
        /// checks again, as another getter may have emptied it.
        fn confirm(&self) -> bool {
            true
        }
    }

    /// One object's place in one wait: where its watcher reports to.
    #[derive(Debug)]
    pub struct Slot {
        pub(super) tracker: Rc<Tracker>,
        pub(super) index: usize,
    }
}

use sealed::{Sealed, Slot};

impl Slot {
    /// A hub-local watcher for this slot.
    pub(crate) fn local(&self) -> Watcher {
        Watcher::new(self.tracker.clone(), self.index)
    }

    /// A cross-thread watcher for this slot.
    pub(crate) fn remote(&self) -> RemoteWatcher {
        RemoteWatcher::new(self.tracker.mailbox(), self.index)
    }
}

/// Waits until `count` of `objects` are ready (all of them if `None`; at
/// most `objects.len()`), or until `timeout` passes; returns the indices of
/// the objects found ready, in the order they became ready.
///
/// Objects already ready when the call starts come first, in slice order.
/// When the timeout passes first, the result holds the objects ready by
/// then (perhaps none): check its length. `timeout = None` waits without
/// limit; `Some(Duration::ZERO)` waits not at all and reports what is ready
/// now. `count = Some(0)` and an empty slice return an empty `Vec` at once.
/// Nothing is taken from any object (see [`Waitable`]).
///
/// This is `iwait(objects, timeout).take(count).collect()`.
///
/// On a thread's own stack this runs the hub; if nothing could ever make
/// an object ready it panics with a "would block forever" report naming
/// `grove::wait` instead of hanging (as any blocking call there).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove::event::{AsyncResult, Event};
/// use grove::Waitable;
///
/// let ticket = AsyncResult::new();
/// let cancel = Event::new();
/// {
///     let ticket = ticket.clone();
///     std::thread::spawn(move || ticket.set(42).unwrap()); // another OS thread
/// }
/// let objects: [&dyn Waitable; 2] = [&ticket, &cancel];
/// assert_eq!(grove::wait(&objects, Some(Duration::from_secs(10)), Some(1)), [0]);
/// assert_eq!(ticket.get(), 42);
/// ```
///
/// # Panics
///
/// In hub context (a link, timer or `Handle::call` callback) when it would
/// have to wait: hub callbacks must not block.
///
/// # Kill and timeout safety
///
/// A kill or `with_timeout` expiry of the caller while it waits unwinds
/// out of `wait`; every watcher leaves its object on the way, and no
/// object has been changed (a queue keeps its items, its real getters are
/// served as before). Called while the current greenlet is unwinding (in a
/// `Drop` during a panic or kill), where grove cannot park, it does not
/// wait and returns the objects ready now.
pub fn wait<W: Waitable>(
    objects: &[W],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Vec<usize> {
    let count = count.map_or(objects.len(), |count| count.min(objects.len()));
    if count == 0 {
        return Vec::new();
    }
    iwait(objects, timeout).take(count).collect()
}

/// Returns an iterator over the indices of `objects`, each yielded once as
/// its object becomes ready, in the order they became ready; it ends when
/// every object has been yielded or `timeout` (counted from this call) has
/// passed.
///
/// The watchers are subscribed here, so readiness is recorded from this
/// call on, even while the caller is busy elsewhere between two `next`s;
/// `next` itself waits only when nothing ready is left to yield. Objects
/// already ready now come first, in slice order. After the timeout, `next`
/// still yields objects that were recorded ready, then ends (and stays
/// ended). `timeout = None` waits without limit. Nothing is taken from any
/// object (see [`Waitable`]); for gevent's `count`, use
/// [`take`](Iterator::take) or [`wait`].
///
/// # Examples
///
/// The caller handles each greenlet's result as soon as it is there:
///
/// ```
/// use std::time::Duration;
///
/// let fetches: Vec<_> = [30u64, 10, 20]
///     .into_iter()
///     .map(|ms| grove::spawn(move || { grove::sleep(Duration::from_millis(ms)); ms }))
///     .collect();
/// let mut done = Vec::new();
/// for i in grove::iwait(&fetches, None) {
///     done.push(fetches[i].clone().join().unwrap());
/// }
/// assert_eq!(done, [10, 20, 30]);
/// ```
///
/// # Panics
///
/// `next` panics in hub context (a link, timer or `Handle::call` callback)
/// when it would have to wait: hub callbacks must not block.
///
/// # Kill and timeout safety
///
/// See [`IWait`].
pub fn iwait<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> IWait<'_, W> {
    let deadline = timeout.and_then(|timeout| Hub::get().deadline_after(timeout));
    let tracker = Rc::new(Tracker::new(objects.len()));
    let mut iwait = IWait {
        objects,
        tracker,
        keys: Vec::with_capacity(objects.len()),
        deadline,
        left: objects.len(),
    };
    for (index, object) in objects.iter().enumerate() {
        // Pushed one by one: if a subscription panicked, `Drop` removes
        // those made so far.
        let key = object.watch(&iwait.slot(index));
        iwait.keys.push(key);
        if key.is_none() {
            iwait.tracker.record(index);
        }
    }
    iwait
}

/// The iterator of [`iwait`]: yields the index of each object as it becomes
/// ready.
///
/// It borrows the slice of objects; each object's watcher stays subscribed
/// until that object is yielded, the iterator ends, or it is dropped.
///
/// ```
/// use std::time::Duration;
///
/// let greenlets: Vec<_> = [30u64, 10, 20]
///     .into_iter()
///     .map(|ms| grove::spawn(move || grove::sleep(Duration::from_millis(ms))))
///     .collect();
/// let order: Vec<usize> = grove::iwait(&greenlets, None).collect();
/// assert_eq!(order, [1, 2, 0]); // indices, in the order they finished
/// ```
///
/// # Kill and timeout safety
///
/// A kill or `with_timeout` expiry of the caller while `next` waits unwinds
/// out of `next`; dropping the iterator (which the unwinding does, or any
/// early `break`) removes every watcher it still has. No object is changed
/// by being waited on: a queue keeps its items and its real getters are
/// served as before, an event's or a result's other waiters see nothing,
/// so a cancelled wait leaves nothing to repair. Called while the current
/// greenlet is unwinding (in a `Drop` during a panic or kill), where grove
/// cannot park, `next` yields what is ready and then ends instead of
/// waiting.
pub struct IWait<'a, W: Waitable> {
    objects: &'a [W],
    tracker: Rc<Tracker>,
    /// Each object's watcher key; `None` once not (or never) subscribed.
    keys: Vec<Option<usize>>,
    /// `None`: no limit.
    deadline: Option<Instant>,
    /// Objects not yet yielded; 0 once ended.
    left: usize,
}

impl<W: Waitable> fmt::Debug for IWait<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IWait")
            .field("objects", &self.objects.len())
            .field("left", &self.left)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// How one park of [`IWait::park`] ended.
enum Parked {
    /// Woken (by a watcher, the deadline timer, or a stale wake-up): look again.
    Woken,
    /// The deadline has passed.
    TimedOut,
    /// The caller is unwinding and cannot park.
    Unwinding,
}

impl<W: Waitable> IWait<'_, W> {
    fn slot(&self, index: usize) -> Slot {
        Slot {
            tracker: self.tracker.clone(),
            index,
        }
    }

    /// Removes object `index`'s watcher, if it has one.
    fn unwatch(&mut self, index: usize) {
        if let Some(key) = self.keys[index].take() {
            self.objects[index].unwatch(&self.slot(index), key);
        }
    }

    /// Ends the iteration: removes every watcher left.
    fn end(&mut self) {
        self.left = 0;
        for index in 0..self.keys.len() {
            self.unwatch(index);
        }
    }

    /// Takes the next recorded object that is still ready.
    fn take_ready(&mut self) -> Option<usize> {
        while let Some(index) = self.tracker.pop() {
            if !self.still_ready(index) {
                continue;
            }
            self.unwatch(index);
            self.left -= 1;
            return Some(index);
        }
        None
    }

    /// Whether recorded object `index` is still ready. If not (another
    /// greenlet got the queue's item), it is watched on: its next readiness
    /// records it again.
    fn still_ready(&mut self, index: usize) -> bool {
        let object = &self.objects[index];
        if object.confirm() {
            return true;
        }
        if self.keys[index].is_none() {
            // Ready when the iteration began, so not subscribed yet.
            match object.watch(&self.slot(index)) {
                Some(key) => self.keys[index] = Some(key),
                None => return true,
            }
        }
        self.tracker.forget(index);
        false
    }

    /// Parks the caller until a watcher fires or the deadline passes.
    fn park(&self) -> Parked {
        let hub = Hub::get();
        if self.deadline.is_some_and(|d| d <= hub.deadline_base()) {
            return Parked::TimedOut;
        }
        if std::thread::panicking() {
            return Parked::Unwinding;
        }
        let unparker = hub.current_unparker();
        if !self.tracker.arm(&unparker) {
            return Parked::Woken;
        }
        let _armed = Armed(&self.tracker);
        let timer = self.deadline.map(|d| (d, unparker));
        if hub.park_until(WaitOn::Primitive(&WAITS_ON_ANY), timer) {
            Parked::Woken
        } else {
            Parked::Unwinding
        }
    }
}

impl<W: Waitable> Iterator for IWait<'_, W> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.left > 0 {
            if let Some(index) = self.take_ready() {
                if self.left == 0 {
                    self.end();
                }
                return Some(index);
            }
            match self.park() {
                Parked::Woken => {}
                Parked::TimedOut | Parked::Unwinding => self.end(),
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

impl<W: Waitable> FusedIterator for IWait<'_, W> {}

impl<W: Waitable> Drop for IWait<'_, W> {
    fn drop(&mut self) {
        self.end();
    }
}

/// Disarms the tracker however a park ends.
struct Armed<'a>(&'a Tracker);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.disarm();
    }
}

// ---- the record a wait's watchers report to ---------------------------------

/// What one `iwait` knows: which objects were recorded ready, in order, and
/// whom to wake. Hub-local; objects on other threads report through its
/// [`Mailbox`].
struct Tracker {
    state: RefCell<Track>,
    /// Made on the first cross-thread subscription (`AsyncResult`).
    mailbox: OnceCell<Arc<Mailbox>>,
}

#[derive(Default)]
struct Track {
    /// Per object: recorded (pending in `ready`, or already yielded).
    seen: Vec<bool>,
    /// Recorded and not yet yielded, in the order they became ready.
    ready: VecDeque<usize>,
    /// The park episode to wake; set only while the waiter is parked here.
    waiter: Option<Unparker>,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Tracker")
            .field("ready", &state.ready)
            .field("parked", &state.waiter.is_some())
            .finish_non_exhaustive()
    }
}

impl Tracker {
    fn new(objects: usize) -> Self {
        Tracker {
            state: RefCell::new(Track {
                seen: vec![false; objects],
                ..Track::default()
            }),
            mailbox: OnceCell::new(),
        }
    }

    fn mailbox(&self) -> Arc<dyn RemoteWatch> {
        self.mailbox
            .get_or_init(|| Arc::new(Mailbox::new()))
            .clone()
    }

    /// Records object `index` as ready (once) and wakes the waiter.
    fn record(&self, index: usize) {
        let waiter = {
            let mut state = self.state.borrow_mut();
            if state.seen[index] {
                return;
            }
            state.seen[index] = true;
            state.ready.push_back(index);
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }

    /// Records what objects on other threads reported, in their order.
    fn collect_mail(&self) {
        if let Some(mailbox) = self.mailbox.get() {
            for index in mailbox.take() {
                self.record(index);
            }
        }
    }

    /// The next recorded object.
    fn pop(&self) -> Option<usize> {
        self.collect_mail();
        self.state.borrow_mut().ready.pop_front()
    }

    /// Object `index` turned out not ready: a later readiness records it again.
    fn forget(&self, index: usize) {
        self.state.borrow_mut().seen[index] = false;
    }

    /// Makes `unparker` the one to wake, just before parking. Returns
    /// `false` (and arms nothing) if mail arrived since the last look: the
    /// caller must look again instead of parking.
    fn arm(&self, unparker: &Unparker) -> bool {
        if let Some(mailbox) = self.mailbox.get() {
            if !mailbox.arm(unparker) {
                return false;
            }
        }
        self.state.borrow_mut().waiter = Some(unparker.clone());
        true
    }

    /// Forgets the waiter after a park, so that no later readiness wakes
    /// the caller while it waits on something else.
    fn disarm(&self) {
        self.state.borrow_mut().waiter = None;
        if let Some(mailbox) = self.mailbox.get() {
            mailbox.disarm();
        }
    }
}

impl Watch for Tracker {
    fn ready(&self, index: usize) {
        // Mail first: a remote readiness seen before this one came first.
        self.collect_mail();
        self.record(index);
    }
}

// ---- references ----------------------------------------------------------------

impl<W: Sealed + ?Sized> Sealed for &W {
    fn watch(&self, slot: &Slot) -> Option<usize> {
        (**self).watch(slot)
    }
    fn unwatch(&self, slot: &Slot, key: usize) {
        (**self).unwatch(slot, key)
    }
    fn confirm(&self) -> bool {
        (**self).confirm()
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AsyncResult, Event};
    use crate::queue::{Channel, Queue};
    use crate::Greenlet;
    use std::cell::RefCell;

    /// Watchers alive for `tracker`: local ones hold an `Rc` of it, remote
    /// ones an `Arc` of its mailbox (`held` is the count of holders that
    /// are not watchers).
    fn watchers(tracker: &Rc<Tracker>, held: usize) -> (usize, usize) {
        let remote = tracker
            .mailbox
            .get()
            .map_or(0, |mailbox| Arc::strong_count(mailbox) - 1);
        (Rc::strong_count(tracker) - held, remote)
    }

    struct Objects {
        greenlet: Greenlet<()>,
        event: Event,
        result: AsyncResult<u8>,
        queue: Queue<u8>,
        channel: Channel<u8>,
    }

    impl Objects {
        fn new() -> Self {
            Objects {
                greenlet: crate::spawn(|| crate::sleep(Duration::from_secs(60))),
                event: Event::new(),
                result: AsyncResult::new(),
                queue: Queue::new(),
                channel: Channel::new(),
            }
        }

        fn all(&self) -> [&dyn Waitable; 5] {
            [
                &self.greenlet,
                &self.event,
                &self.result,
                &self.queue,
                &self.channel,
            ]
        }
    }

    #[test]
    fn every_watcher_leaves_when_the_iteration_ends_or_is_dropped() {
        let objects = Objects::new();
        let all = objects.all();
        let mut it = iwait(&all, Some(Duration::from_millis(20)));
        let tracker = it.tracker.clone();
        assert_eq!(watchers(&tracker, 2), (4, 1));
        objects.event.set();
        assert_eq!(it.next(), Some(1));
        assert_eq!(
            watchers(&tracker, 2),
            (3, 1),
            "a yielded object's watcher left"
        );
        assert_eq!(it.next(), None); // the timeout
        assert_eq!(
            watchers(&tracker, 2),
            (0, 0),
            "the end removed every watcher"
        );
        drop(it);
        assert_eq!(Rc::strong_count(&tracker), 1);

        let mut it = iwait(&all, None);
        let tracker = it.tracker.clone();
        assert_eq!(it.next(), Some(1)); // ready at the start: no watcher
        assert_eq!(watchers(&tracker, 2), (3, 1));
        drop(it);
        assert_eq!(watchers(&tracker, 1), (0, 0));
        objects.greenlet.kill();
    }

    #[test]
    fn a_killed_or_timed_out_waiter_leaves_no_watcher() {
        let objects = Rc::new(Objects::new());
        let seen: Rc<RefCell<Vec<Rc<Tracker>>>> = Rc::default();
        let waiter = {
            let (objects, seen) = (objects.clone(), seen.clone());
            crate::spawn(move || {
                let all = objects.all();
                let mut it = iwait(&all, None);
                seen.borrow_mut().push(it.tracker.clone());
                it.next()
            })
        };
        crate::yield_now();
        assert_eq!(watchers(&seen.borrow()[0], 2), (4, 1));
        waiter.kill();
        assert_eq!(watchers(&seen.borrow()[0], 1), (0, 0));

        let r = crate::with_timeout(Duration::from_millis(10), || {
            let all = objects.all();
            let mut it = iwait(&all, None);
            seen.borrow_mut().push(it.tracker.clone());
            it.next()
        });
        assert_eq!(r, Err(crate::Timeout));
        assert_eq!(watchers(&seen.borrow()[1], 1), (0, 0));
        objects.greenlet.kill();
    }

    #[test]
    fn the_waiter_is_armed_only_while_parked() {
        let event = Event::new();
        let result: AsyncResult<()> = AsyncResult::new();
        let all: [&dyn Waitable; 2] = [&event, &result];
        let mut it = iwait(&all, None);
        let tracker = it.tracker.clone();
        let setter = {
            let event = event.clone();
            crate::spawn(move || event.set())
        };
        assert_eq!(it.next(), Some(0));
        assert!(tracker.state.borrow().waiter.is_none());
        assert!(tracker.mailbox.get().unwrap().lock().waker.is_none());
        result.set(()).unwrap();
        assert_eq!(it.next(), Some(1));
        setter.join().unwrap();
    }
}
