//! `Channel`: a rendezvous — a put waits until a getter takes its item.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::buffered::{Iter, Receive};
use super::side::Side;
use super::{Empty, Full};
use crate::hub::{Hub, Primitive, WaitOn, Watcher, Watchers};
use crate::waitlist::{Wait, WaitList};

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
pub struct Channel<T>(Rc<Inner<T>>);

/// An item offered by a putter.
struct Offer<T> {
    /// `Some` while the offer is in `Inner::offers`; taken by the getter (or
    /// by the putter once it has withdrawn the offer).
    item: RefCell<Option<T>>,
    /// The putter, waiting for a getter to take the item. One waiter at
    /// most, so the wait-list's hand-on of notifications never misfires.
    putter: WaitList,
}

struct Inner<T> {
    /// Offers in putter arrival order; the first `getters.chosen()` are
    /// promised to the getters chosen.
    offers: RefCell<VecDeque<Rc<Offer<T>>>>,
    getters: Side,
    /// Greenlets blocked in a put.
    putters: Cell<usize>,
    shut_down: Cell<bool>,
    /// `grove::wait`'s watchers, fired whenever a get becomes possible.
    watchers: Watchers,
}

impl<T> Inner<T> {
    /// Runs after every change of the offers or the getters but a
    /// withdrawal (see `settle`, `shutdown`), so it is also where
    /// `grove::wait`'s watchers learn that a get became possible.
    fn rebalance(&self) {
        let offered = self.offers.borrow().len();
        self.getters.rebalance(offered);
        self.fire_watchers_if_ready();
    }

    /// As `Core::get_ready`: whether `get_now` would not fail with "no
    /// putter for now". Takes nothing.
    fn get_ready(&self) -> bool {
        let offered = self.offers.borrow().len();
        (self.getters.is_idle() && offered > 0)
            || (self.shut_down.get() && offered <= self.getters.blocked())
    }

    #[inline]
    fn fire_watchers_if_ready(&self) {
        if !self.watchers.is_empty() && self.get_ready() {
            self.watchers.fire();
        }
    }

    fn take(&self) -> Option<T> {
        let offer = self.offers.borrow_mut().pop_front()?;
        let item = offer.item.borrow_mut().take();
        debug_assert!(item.is_some(), "an offer in the list holds its item");
        offer.putter.notify_one();
        self.rebalance();
        item
    }

    /// As `Core::get_now`: never overtakes a getter that waits or holds a
    /// promise; after a shutdown, fails for good once every offer left is
    /// claimed by earlier getters.
    fn get_now(&self) -> Result<T, Empty> {
        if self.getters.is_idle() {
            if let Some(item) = self.take() {
                return Ok(item);
            }
        }
        if self.shut_down.get() && self.offers.borrow().len() <= self.getters.blocked() {
            Err(Empty::SHUT_DOWN)
        } else {
            Err(Empty::NO_PUTTER)
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, Empty> {
        match self.get_now() {
            Err(err) if !err.is_shutdown() => {}
            done => return done,
        }
        loop {
            match self
                .getters
                .wait(Primitive::ChannelGet, deadline, &|| self.getter_cancelled())
            {
                Wait::Notified => {
                    if let Some(item) = self.take() {
                        return Ok(item);
                    }
                    if self.shut_down.get() {
                        return Err(Empty::SHUT_DOWN);
                    }
                    debug_assert!(false, "a chosen getter found no offer");
                }
                Wait::TimedOut | Wait::Unwinding => return self.get_now(),
            }
        }
    }

    /// Where `offer` is in the list, if it is.
    fn position(&self, offer: &Rc<Offer<T>>) -> Option<usize> {
        self.offers
            .borrow()
            .iter()
            .position(|o| Rc::ptr_eq(o, offer))
    }

    /// After a putter stopped waiting: `Ok` if its item was taken or a
    /// getter has been chosen to take it; otherwise withdraws the offer
    /// and returns the item.
    fn settle(&self, offer: &Rc<Offer<T>>) -> Result<(), T> {
        if offer.item.borrow().is_none() {
            return Ok(());
        }
        match self.position(offer) {
            Some(at) if at < self.getters.chosen() => Ok(()),
            Some(at) => {
                self.offers.borrow_mut().remove(at);
                // After a shutdown, fewer offers can mean "nothing left".
                self.fire_watchers_if_ready();
                Err(offer.item.borrow_mut().take().expect("checked above"))
            }
            None => Err(offer.item.borrow_mut().take().expect("checked above")),
        }
    }

    fn put_now(&self, item: T) -> Result<(), Full<T>> {
        if self.shut_down.get() {
            return Err(Full::shut_down(item));
        }
        // Only a getter with nothing promised to it can take a new item
        // (and while one waits, every earlier offer is promised already).
        if self.getters.unserved() == 0 {
            return Err(Full::no_getter(item));
        }
        self.offers.borrow_mut().push_back(Rc::new(Offer {
            item: RefCell::new(Some(item)),
            putter: WaitList::new(),
        }));
        self.rebalance();
        Ok(())
    }

    /// Offers `item` and waits until a getter takes it or `deadline`
    /// passes. If the caller is unwinding (so cannot wait), `leave` decides
    /// between leaving the item in the channel for a getter and taking it
    /// back.
    fn put_until(&self, item: T, deadline: Option<Instant>, leave: bool) -> Result<(), Full<T>> {
        if self.shut_down.get() {
            return Err(Full::shut_down(item));
        }
        let offer = Rc::new(Offer {
            item: RefCell::new(Some(item)),
            putter: WaitList::new(),
        });
        self.offers.borrow_mut().push_back(offer.clone());
        self.rebalance();
        self.putters.set(self.putters.get() + 1);
        let mut guard = Withdraw {
            inner: self,
            offer: &offer,
            armed: true,
        };
        // Only a take or a shutdown notifies the offer's putter.
        let on = WaitOn::Primitive(Primitive::ChannelPut);
        let unwinding = offer.putter.wait(on, deadline) == Wait::Unwinding;
        guard.armed = false;
        drop(guard);
        if unwinding && leave {
            return Ok(());
        }
        self.settle(&offer).map_err(|item| {
            if self.shut_down.get() {
                Full::shut_down(item)
            } else {
                Full::no_getter(item)
            }
        })
    }

    fn shutdown(&self) {
        if self.shut_down.replace(true) {
            return;
        }
        self.withdraw_unpromised();
        self.getters.wake_all();
        self.fire_watchers_if_ready();
    }

    /// After a shutdown: withdraws the offers whose putters still wait and
    /// no getter was chosen for; they wake and get their items back. Offers
    /// left by `put_nowait` stay for the getters to drain.
    fn withdraw_unpromised(&self) {
        let chosen = self.getters.chosen();
        let withdrawn: Vec<Rc<Offer<T>>> = {
            let mut offers = self.offers.borrow_mut();
            let from = chosen.min(offers.len());
            let tail: Vec<_> = offers.drain(from..).collect();
            let (waiting, left): (Vec<_>, Vec<_>) =
                tail.into_iter().partition(|o| !o.putter.is_empty());
            offers.extend(left);
            waiting
        };
        for offer in withdrawn {
            offer.putter.notify_one();
        }
    }

    /// A getter's wait ended by unwinding: its promise, if any, has passed
    /// on or lapsed.
    fn getter_cancelled(&self) {
        self.rebalance();
        if self.shut_down.get() {
            // A putter whose chosen getter is gone must not wait forever.
            self.withdraw_unpromised();
            self.fire_watchers_if_ready();
        }
    }
}

/// Withdraws a killed putter's offer, unless a getter was chosen for it.
struct Withdraw<'a, T> {
    inner: &'a Inner<T>,
    offer: &'a Rc<Offer<T>>,
    armed: bool,
}

impl<T> Drop for Withdraw<'_, T> {
    fn drop(&mut self) {
        self.inner.putters.set(self.inner.putters.get() - 1);
        if self.armed {
            // The put did not happen: the item is dropped here.
            drop(self.inner.settle(self.offer));
        }
    }
}

impl<T> Receive<T> for Inner<T> {
    fn receive(&self) -> Option<T> {
        self.get_until(None).ok()
    }
}

impl<T> Channel<T> {
    /// Creates a channel.
    pub fn new() -> Self {
        Channel(Rc::new(Inner {
            offers: RefCell::new(VecDeque::new()),
            getters: Side::new(),
            putters: Cell::new(0),
            shut_down: Cell::new(false),
            watchers: Watchers::default(),
        }))
    }

    /// Offers `item` and waits until a getter has taken it. Putters are
    /// served in arrival order.
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
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        let deadline = Hub::get().deadline_after(timeout);
        self.0.put_until(item, deadline, false)
    }

    /// Hands `item` to a getter that is already waiting, without waiting;
    /// fails (handing the item back) if none is.
    ///
    /// On success the item is promised to the longest-waiting getter, which
    /// takes it when it next runs.
    pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        self.0.put_now(item)
    }

    /// Waits until a putter offers an item and takes it. Getters are served
    /// in arrival order.
    ///
    /// # Panics
    ///
    /// At the caller, if the channel is shut down and holds no item for
    /// this getter. Use [`get_timeout`](Self::get_timeout), `get_nowait` or
    /// iteration to see the shutdown as a value. Called while unwinding
    /// with no item there, it cannot wait and panics (which aborts): use
    /// `get_nowait` in destructors.
    #[track_caller]
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
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        let deadline = Hub::get().deadline_after(timeout);
        self.0.get_until(deadline)
    }

    /// Takes the item of a putter that is already waiting (and not promised
    /// to an earlier getter), without waiting.
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.0.get_now()
    }

    /// The number of items offered and not yet taken (by waiting putters,
    /// or left by `put_nowait` for a chosen getter).
    pub fn len(&self) -> usize {
        self.0.offers.borrow().len()
    }

    /// Whether no item is on offer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would have to wait: no getter is waiting with nothing
    /// promised to it (so `put_nowait` would fail).
    pub fn is_full(&self) -> bool {
        self.0.getters.unserved() == 0
    }

    /// Greenlets blocked in a get: waiting, or already given an item and
    /// about to run.
    pub fn getters_waiting(&self) -> usize {
        self.0.getters.blocked()
    }

    /// Greenlets blocked in a put, waiting for a getter to take their item.
    pub fn putters_waiting(&self) -> usize {
        self.0.putters.get()
    }

    /// Shuts the channel down: from now on every put fails; blocked putters
    /// wake with their items handed back (unless a getter was already
    /// chosen for them); getters take what is left and then fail. Calling it
    /// again does nothing.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.0.shut_down.get()
    }

    /// An iterator taking items by blocking get until the channel is shut
    /// down and drained. See [`Iter`].
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&*self.0)
    }

    /// Whether a `get_nowait` now would not fail with "no putter for now"
    /// (`grove::wait`'s readiness; takes nothing).
    pub(crate) fn get_ready(&self) -> bool {
        self.0.get_ready()
    }

    /// Registers a `grove::wait` watcher, fired whenever a get becomes
    /// possible; `None` (nothing registered) if one is possible now.
    pub(crate) fn watch(&self, watcher: Watcher) -> Option<usize> {
        (!self.0.get_ready()).then(|| self.0.watchers.add(watcher))
    }

    /// Removes the watcher registered under `key`.
    pub(crate) fn unwatch(&self, key: usize) {
        self.0.watchers.remove(key);
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
