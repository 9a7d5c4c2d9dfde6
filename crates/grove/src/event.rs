//! Events: wake greenlets when something has happened (gevent's `gevent.event`).
//!
//! An [`Event`] is a flag that greenlets wait for: [`set`](Event::set) wakes
//! every waiter, in the order they began waiting, and later waits return at
//! once until [`clear`](Event::clear). An [`AsyncResult`] carries a value
//! that is set once and read by any number of waiters — a one-shot future
//! for synchronous code. `Event` is hub-local (an `Rc` handle on the local
//! wait-list, no atomics); `AsyncResult` is `Send + Sync` and may be set from
//! any thread — even one with no hub — waking its waiters on their own hubs.
//!
//! ```
//! use std::time::Duration;
//! use grove::event::{AsyncResult, Event};
//!
//! let ready = Event::new();
//! let waiters: Vec<_> = (0..3)
//!     .map(|i| {
//!         let ready = ready.clone();
//!         grove::spawn(move || { ready.wait(); i })
//!     })
//!     .collect();
//! grove::sleep(Duration::from_millis(5)); // all three wait
//! ready.set();
//! let ids: Vec<_> = waiters.into_iter().map(|g| g.join().unwrap()).collect();
//! assert_eq!(ids, [0, 1, 2]);
//!
//! // A value computed on another OS thread, awaited by this thread's hub.
//! let answer = AsyncResult::new();
//! let setter = answer.clone();
//! std::thread::spawn(move || setter.set(6 * 7).unwrap());
//! assert_eq!(answer.get(), 42);
//! assert_eq!(answer.get_timeout(Duration::ZERO), Ok(42)); // stays set
//! ```

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::{Hub, Primitive, WaitOn};
use crate::sync::{Arc, OnceLock};
use crate::timeout::Timeout;
use crate::wait::list::{Wait, WaitList};
use crate::wait::shared::{SharedGuard, SharedWaitList};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_ASYNC_RESULT: Primitive = Primitive::new("AsyncResult::get");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_EVENT: Primitive = Primitive::new("Event::wait");

/// A flag greenlets can wait for (gevent's `Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiting greenlet, in
/// the order they began waiting; while the flag is up, [`wait`](Event::wait)
/// returns at once. [`clear`](Event::clear) lowers it again. A waiter that
/// was woken by a `set` returns even if the flag was cleared before it ran
/// (it saw the event happen).
///
/// `Event` is a cheap `Clone` handle (clones are the same event) and is not
/// `Send`: it belongs to one thread's hub. Use [`AsyncResult`] across threads.
///
/// ```compile_fail
/// let event = grove::event::Event::new();
/// std::thread::spawn(move || event.set());
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove::event::Event;
///
/// let event = Event::new();
/// assert!(!event.wait_timeout(Duration::from_millis(1)));
/// let setter = {
///     let event = event.clone();
///     grove::spawn(move || event.set())
/// };
/// event.wait(); // runs the hub until the setter has run
/// assert!(event.is_set());
/// # setter.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting leaves the event's wait-list
/// at once; the event and its other waiters are unaffected. Called while the
/// current greenlet is unwinding (in a `Drop` during a panic or kill), where
/// grove cannot park, `wait` returns at once and `wait_timeout` returns
/// whether the flag is set.
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    flag: Cell<bool>,
    /// Counts the `set`s that raised the flag. A waiter returns when it
    /// changed since it began waiting: a notification forwarded to it by a
    /// killed waiter of an earlier `set` (after a `clear`) is not an event.
    sets: Cell<u64>,
    /// Waiters, and `grove::wait`'s watchers, fired by each `set` that
    /// raises the flag.
    waiters: WaitList,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .field("waiting", &self.inner.waiters.len())
            .finish()
    }
}

impl Event {
    /// A new event, not set.
    ///
    /// ```
    /// let event = grove::event::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Raises the flag and wakes every waiting greenlet, in the order they
    /// began waiting (they run from the hub's next turn). Setting a set
    /// event does nothing. Never blocks: usable in hub callbacks.
    ///
    /// ```
    /// let event = grove::event::Event::new();
    /// let e = event.clone();
    /// let waiter = grove::spawn(move || { e.wait(); "woken" });
    /// event.set();
    /// assert_eq!(waiter.join().unwrap(), "woken");
    /// ```
    pub fn set(&self) {
        let inner = &*self.inner;
        if inner.flag.replace(true) {
            return;
        }
        inner.sets.set(inner.sets.get() + 1);
        inner.waiters.notify_all();
        inner.waiters.fire_watchers();
    }

    /// Lowers the flag: later waits block until the next [`set`](Event::set).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = grove::event::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.wait_timeout(Duration::from_millis(5))); // waits again
    /// ```
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// Whether the flag is up (gevent's `is_set`/`ready`).
    ///
    /// ```
    /// let event = grove::event::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Waits until the flag is set (returns at once if it is).
    ///
    /// On a thread's own stack this runs the hub; if nothing could ever set
    /// the event, it panics with a "would block forever" report instead.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = grove::event::Event::new();
    /// let e = event.clone();
    /// grove::spawn(move || { grove::sleep(Duration::from_millis(5)); e.set() });
    /// event.wait(); // runs the hub until the greenlet sets it
    /// assert!(event.is_set());
    /// ```
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) when the
    /// event is not set: hub callbacks must not block.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the event was set (or had
    /// been set while this call waited).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = grove::event::Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(5)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::from_millis(5)));
    /// ```
    ///
    /// # Panics
    /// As [`wait`](Event::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        self.wait_until(Hub::get().deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let inner = &*self.inner;
        if inner.flag.get() {
            return true;
        }
        let seen = inner.sets.get();
        loop {
            match inner
                .waiters
                .wait(WaitOn::Primitive(&WAITS_ON_EVENT), deadline)
            {
                Wait::Notified if inner.sets.get() != seen => return true,
                // A stale notification passed on by a killed waiter.
                Wait::Notified => continue,
                Wait::TimedOut => return inner.sets.get() != seen,
                Wait::Unwinding => return inner.flag.get(),
            }
        }
    }
}

/// A value that is set once and read by any number of waiters (gevent's
/// `AsyncResult`), from any thread.
///
/// [`set`](AsyncResult::set) stores the value and wakes every waiter, in
/// the order they began waiting; [`get`](AsyncResult::get) waits for it and
/// returns a clone. A second `set` is refused: it hands its value back as
/// `Err`, like [`OnceLock::set`] (gevent would overwrite; a value that
/// changes under its readers is rarely what a "result" means). To carry a
/// failure, as gevent's `set_exception` does, use `AsyncResult<Result<T, E>>`.
///
/// `AsyncResult<T>` is a cheap `Clone` handle and is `Send + Sync` when `T`
/// is (as `OnceLock<T>`). It may be set from any thread, including one that
/// never used grove: each waiter is woken on its own hub, through that hub's
/// [`Handle`](crate::Handle). While a greenlet waits on an `AsyncResult`, its
/// hub cannot know that nobody will ever set it (another thread might), so a
/// forgotten `set` makes the wait hang rather than panic with "would block
/// forever": prefer [`get_timeout`](AsyncResult::get_timeout) where that
/// can happen.
///
/// # Examples
///
/// gevent's tutorial, ported: a setter wakes a waiter after a while.
///
/// ```
/// use std::time::Duration;
/// use grove::event::AsyncResult;
///
/// let result = AsyncResult::new();
/// let setter = {
///     let result = result.clone();
///     grove::spawn(move || {
///         grove::sleep(Duration::from_millis(10));
///         result.set("Hello!").unwrap();
///     })
/// };
/// let waiter = {
///     let result = result.clone();
///     grove::spawn(move || result.get())
/// };
/// assert_eq!(waiter.join().unwrap(), "Hello!");
/// assert_eq!(result.set("again"), Err("again")); // set once
/// # setter.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting leaves the wait-list (under
/// its mutex) however the wait ends; the value and the other waiters are
/// unaffected, and a set racing with the kill is never lost to the others.
/// Called while the current greenlet is unwinding (in a `Drop` during a
/// panic or kill), where grove cannot park: `get_timeout` returns
/// `Err(Timeout)` and `wait_timeout` false if no value is there yet, `wait`
/// returns at once, and `get` panics (see its docs).
pub struct AsyncResult<T> {
    inner: Arc<AsyncInner<T>>,
}

struct AsyncInner<T> {
    /// Written once, then only read: readers clone without any lock.
    value: OnceLock<T>,
    /// The waiters; a setter notifies them after storing the value, and a
    /// waiter checks the value under this lock before registering, so a
    /// `set` can never slip between a waiter's check and its park.
    waiters: SharedWaitList<()>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for AsyncResult<T> {
    fn default() -> Self {
        AsyncResult {
            inner: Arc::new(AsyncInner {
                value: OnceLock::new(),
                waiters: SharedWaitList::new(()),
            }),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("value", &self.inner.value.get())
            .field("waiting", &self.inner.waiters.lock().len())
            .finish()
    }
}

impl<T> AsyncResult<T> {
    /// A new result, not set yet.
    ///
    /// ```
    /// let result = grove::event::AsyncResult::<String>::new();
    /// assert!(!result.is_ready());
    /// ```
    pub fn new() -> AsyncResult<T> {
        AsyncResult::default()
    }

    /// Stores `value` and wakes every waiter, on whatever thread or hub they
    /// wait, in the order they began waiting. Never blocks: usable from any
    /// thread, from hub callbacks, and from threads without a hub (it never
    /// creates one).
    ///
    /// ```
    /// let result = grove::event::AsyncResult::new();
    /// assert_eq!(result.set("first"), Ok(()));
    /// assert_eq!(result.set("second"), Err("second")); // set once
    /// assert_eq!(result.get(), "first");
    /// ```
    ///
    /// # Errors
    /// If a value was already set, `value` is handed back as `Err(value)`
    /// and the stored value is unchanged.
    pub fn set(&self, value: T) -> Result<(), T> {
        self.inner.value.set(value)?;
        let mut waiters = self.inner.waiters.lock();
        waiters.notify_all();
        waiters.fire_watchers();
        Ok(())
    }

    /// Whether a waiter's node is left in the wait-list (the models check
    /// that every finished wait removed its own).
    #[cfg(all(test, loom))]
    pub(crate) fn has_waiter_nodes(&self) -> bool {
        self.inner.waiters.lock().has_nodes()
    }

    /// Whether a value has been set (gevent's `ready`).
    ///
    /// ```
    /// let result = grove::event::AsyncResult::new();
    /// assert!(!result.is_ready());
    /// result.set(1).unwrap();
    /// assert!(result.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.inner.value.get().is_some()
    }

    /// Waits until a value is set, without reading it.
    ///
    /// ```
    /// let result = grove::event::AsyncResult::new();
    /// let r = result.clone();
    /// grove::spawn(move || r.set(vec![1, 2, 3]).unwrap());
    /// result.wait();
    /// assert!(result.is_ready());
    /// ```
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) when no
    /// value is set: hub callbacks must not block.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether a value is set.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let result = grove::event::AsyncResult::<u8>::new();
    /// assert!(!result.wait_timeout(Duration::from_millis(5)));
    /// ```
    ///
    /// # Panics
    /// As [`wait`](AsyncResult::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        self.wait_until(Hub::get().deadline_after(timeout))
    }

    /// Waits until set, `deadline` passes, or the caller cannot park; returns
    /// whether a value is set.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.is_ready() {
            return true;
        }
        let mut locked: SharedGuard<'_, ()> = self.inner.waiters.lock();
        while !self.is_ready() {
            let (wait, relocked) = locked.wait(WaitOn::Primitive(&WAITS_ON_ASYNC_RESULT), deadline);
            locked = relocked;
            if wait != Wait::Notified {
                break;
            }
        }
        self.is_ready()
    }
}

impl<T: Clone> AsyncResult<T> {
    /// Waits until a value is set and returns a clone of it.
    ///
    /// On a thread's own stack this runs the hub until the value arrives.
    ///
    /// ```
    /// let result = grove::event::AsyncResult::new();
    /// let r = result.clone();
    /// let worker = std::thread::spawn(move || r.set(String::from("from a thread")).unwrap());
    /// assert_eq!(result.get(), "from a thread"); // the hub runs while it waits
    /// worker.join().unwrap();
    /// ```
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback) when no
    /// value is set, since hub callbacks must not block; and when called
    /// while the current greenlet is unwinding (from a `Drop` during a panic
    /// or kill) with no value set: it cannot wait then and has no value to
    /// return (use [`get_timeout`](AsyncResult::get_timeout) or
    /// [`try_get`](AsyncResult::try_get) in destructors).
    #[track_caller]
    pub fn get(&self) -> T {
        if let Some(value) = self.try_get() {
            return value;
        }
        self.wait_until(None);
        match self.try_get() {
            Some(value) => value,
            None => panic!(
                "grove: AsyncResult::get called while the greenlet is unwinding \
                 (in a Drop during a panic or kill), with no value set: it cannot wait \
                 now; use get_timeout or try_get in destructors"
            ),
        }
    }

    /// Waits at most `timeout` for a value and returns a clone of it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let result = grove::event::AsyncResult::new();
    /// assert_eq!(result.get_timeout(Duration::from_millis(5)), Err(grove::Timeout));
    /// result.set(7).unwrap();
    /// assert_eq!(result.get_timeout(Duration::from_millis(5)), Ok(7));
    /// ```
    ///
    /// # Errors
    /// `Err(Timeout)` if no value was set in time.
    ///
    /// # Panics
    /// In hub context when no value is set and `timeout` is not zero.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Timeout> {
        if let Some(value) = self.try_get() {
            return Ok(value);
        }
        self.wait_until(Hub::get().deadline_after(timeout));
        self.try_get().ok_or(Timeout)
    }

    /// A clone of the value if it is set, without waiting (gevent's
    /// `get_nowait`, with `None` for its `Timeout`).
    ///
    /// ```
    /// let result = grove::event::AsyncResult::new();
    /// assert_eq!(result.try_get(), None);
    /// result.set('x').unwrap();
    /// assert_eq!(result.try_get(), Some('x'));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        self.inner.value.get().cloned()
    }
}

// ---- waiting on it with `grove::wait` ------------------------------------------

impl crate::wait::Sealed for Event {
    /// A watcher fired by the next `set` that raises the flag; `None`
    /// (nothing registered) if the flag is up now.
    fn watch(&self, slot: &crate::wait::Slot) -> Option<usize> {
        (!self.is_set()).then(|| self.inner.waiters.watch(slot.local()))
    }
    fn unwatch(&self, _slot: &crate::wait::Slot, key: usize) {
        self.inner.waiters.unwatch(key);
    }
}

impl crate::Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
}

impl<T> crate::wait::Sealed for AsyncResult<T> {
    /// A watcher fired (on the setter's thread) by the `set`; `None`
    /// (nothing registered) if a value is set already. Checked under the
    /// wait-list's lock, so a racing `set` is never missed.
    fn watch(&self, slot: &crate::wait::Slot) -> Option<usize> {
        let mut locked = self.inner.waiters.lock();
        (!self.is_ready()).then(|| locked.watch(slot.remote()))
    }
    fn unwatch(&self, _slot: &crate::wait::Slot, key: usize) {
        self.inner.waiters.lock().unwatch(key);
    }
}

impl<T> crate::Waitable for AsyncResult<T> {
    fn is_ready(&self) -> bool {
        AsyncResult::is_ready(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn async_result_is_send_and_sync_like_oncelock() {
        assert_send_sync::<AsyncResult<String>>();
        assert_send_sync::<AsyncResult<Arc<Vec<u8>>>>();
    }

    #[test]
    fn a_forwarded_stale_notification_does_not_end_a_later_wait() {
        // A notified waiter that is killed passes its notification on; after
        // a clear, the waiter that receives it must keep waiting.
        let event = Event::new();
        let early = {
            let event = event.clone();
            crate::spawn(move || event.wait())
        };
        crate::yield_now();
        event.set(); // notifies `early`, which is now runnable
        event.clear();
        early.kill_nowait();
        // This thread's stack waits before `early` runs: when `early` dies it
        // passes its notification on to this waiter.
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(25));
        assert!(early.is_dead());
        assert_eq!(event.inner.waiters.len(), 0);
    }
}

/// Models of `AsyncResult` set from another thread (`scripts/loom.sh`): the
/// waiter is the model's main thread, parked on its model hub
/// (`crate::sync::model`), woken by the real `RemoteUnparker` job.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::model::on_hub;
    use crate::sync::thread;

    fn no_waiter_left<T>(result: &AsyncResult<T>) {
        assert!(!result.has_waiter_nodes(), "a waiter was left in the list");
    }

    /// A set on a thread without a hub against `get`: the waiter either sees
    /// the value before it registers or is woken after; never misses it.
    #[test]
    fn loom_get_against_a_set_from_another_thread() {
        loom::model(|| {
            on_hub(|_| {
                let result = AsyncResult::new();
                let setter = result.clone();
                let t = thread::spawn(move || setter.set(42).expect("set once"));
                assert_eq!(result.get(), 42);
                t.join().unwrap();
                no_waiter_left(&result);
            });
        });
    }

    /// A timed wait against a set and its deadline passing at once: it ends
    /// set, or timed out with the clock fired; it leaves the list either way,
    /// and a value set before the deadline is never missed.
    #[test]
    fn loom_timed_wait_against_a_set_and_the_deadline() {
        loom::model(|| {
            on_hub(|clock| {
                let result = AsyncResult::new();
                let setter = result.clone();
                let set = thread::spawn(move || setter.set(7).expect("set once"));
                let timer = clock.clone();
                let tick = thread::spawn(move || timer.fire());
                let far = Instant::now() + Duration::from_secs(3600);
                let ready = result.wait_until(Some(far));
                let fired = clock.has_fired();
                assert!(
                    ready || fired,
                    "the wait ended with neither value nor deadline"
                );
                no_waiter_left(&result);
                set.join().unwrap();
                tick.join().unwrap();
                assert_eq!(result.try_get(), Some(7));
            });
        });
    }

    /// Waiters on two hubs (two threads) and a setter on a third: each is
    /// woken on its own hub, through its own handle.
    #[test]
    fn loom_waiters_on_two_hubs() {
        loom::model(|| {
            let result = AsyncResult::new();
            let other = result.clone();
            let second_hub = thread::spawn(move || on_hub(|_| other.get()));
            let setter = result.clone();
            let set = thread::spawn(move || setter.set(3).expect("set once"));
            assert_eq!(on_hub(|_| result.get()), 3);
            assert_eq!(second_hub.join().unwrap(), 3);
            set.join().unwrap();
            no_waiter_left(&result);
        });
    }

    /// Two setters race: exactly one wins, and the waiter gets its value.
    #[test]
    fn loom_set_twice_one_wins() {
        loom::model(|| {
            on_hub(|_| {
                let result = AsyncResult::new();
                let setters: Vec<_> = [1, 2]
                    .into_iter()
                    .map(|v| {
                        let setter = result.clone();
                        thread::spawn(move || setter.set(v).is_ok().then_some(v))
                    })
                    .collect();
                let got = result.get();
                let winners: Vec<i32> = setters
                    .into_iter()
                    .filter_map(|t| t.join().unwrap())
                    .collect();
                assert_eq!(winners, [got]);
                no_waiter_left(&result);
            });
        });
    }
}
