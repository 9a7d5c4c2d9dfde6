//! [`Pool`]: a [`Group`] with a size, whose `spawn` waits while it is full.

use std::fmt;
use std::time::{Duration, Instant};

use super::imap::map_methods;
use super::{Ended, Group, IMap, Inner};
use crate::greenlet::{Greenlet, GreenletError};
use crate::hub::Hub;

/// A [`Group`] that never runs more than `size` greenlets at once (gevent's
/// `Pool`); [`spawn`](Pool::spawn) waits while it is full.
///
/// Slots are handed out in the order the spawners began waiting: a slot
/// freed while greenlets wait goes to the longest-waiting one, and a
/// newcomer cannot take it first. A pool has every [`Group`] method (joins,
/// kills, maps, fail-fast) with the same meaning.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let pool = grove::pool::Pool::new(3);
/// let running = Rc::new(Cell::new(0));
/// let peak = Rc::new(Cell::new(0));
/// for _ in 0..10 {
///     let (running, peak) = (running.clone(), peak.clone());
///     pool.spawn(move || {          // waits while 3 are running
///         running.set(running.get() + 1);
///         peak.set(peak.get().max(running.get()));
///         grove::sleep(Duration::from_millis(5));
///         running.set(running.get() - 1);
///     });
/// }
/// pool.join();
/// assert_eq!(peak.get(), 3);
/// assert_eq!(pool.free_count(), 3);
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting in
/// [`spawn`](Pool::spawn), [`spawn_timeout`](Pool::spawn_timeout) or
/// [`wait_available`](Pool::wait_available) leaves the queue of waiters; a
/// slot that had just been handed to it goes to the next waiter (or back
/// to the pool), so no slot is ever lost. The closure it was spawning is
/// dropped without running. Everything said for [`Group`] holds as well.
#[derive(Clone)]
pub struct Pool {
    pub(super) group: Group,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("len", &self.len())
            .field("fail_fast", &self.group.inner.fail_fast)
            .finish()
    }
}

impl Pool {
    /// A pool that runs at most `size` greenlets at once.
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(10);
    /// assert_eq!((pool.size(), pool.free_count()), (10, 10));
    /// ```
    ///
    /// # Panics
    ///
    /// If `size` is 0: such a pool could never run anything (gevent raises
    /// `ValueError`). Use a [`Group`] for no limit.
    #[track_caller]
    pub fn new(size: usize) -> Pool {
        Pool::with(size, false)
    }

    /// A fail-fast pool of `size` (see [`Group::fail_fast`]).
    ///
    /// ```
    /// let pool = grove::pool::Pool::fail_fast(4);
    /// for i in 0..8 {
    ///     pool.spawn(move || assert!(i != 5, "item {i} is bad"));
    /// }
    /// let err = pool.join_result().unwrap_err();
    /// assert_eq!(err.to_string(), "greenlet panicked: item 5 is bad");
    /// ```
    ///
    /// # Panics
    ///
    /// If `size` is 0, as [`Pool::new`].
    #[track_caller]
    pub fn fail_fast(size: usize) -> Pool {
        Pool::with(size, true)
    }

    #[track_caller]
    fn with(size: usize, fail_fast: bool) -> Pool {
        assert!(
            size > 0,
            "grove::pool::Pool::new(0): a pool of size 0 could never run a greenlet; \
             give a size of at least 1, or use a Group for no limit"
        );
        Pool {
            group: Group {
                inner: Inner::new(Some(size), fail_fast),
            },
        }
    }

    /// The most greenlets the pool runs at once.
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(3);
    /// assert_eq!(pool.size(), 3);
    /// ```
    pub fn size(&self) -> usize {
        self.group.inner.size.expect("a pool has a size")
    }

    /// Slots a [`spawn`](Pool::spawn) could take right now without
    /// waiting: `size - len`, less the slots already handed to woken
    /// waiters that have not used them yet.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(3);
    /// pool.spawn(|| grove::sleep(Duration::from_millis(10)));
    /// assert_eq!(pool.free_count(), 2);
    /// pool.join();
    /// assert_eq!(pool.free_count(), 3);
    /// ```
    pub fn free_count(&self) -> usize {
        self.group.inner.free()
    }

    /// Whether a `spawn` would wait.
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(1);
    /// assert!(!pool.is_full());
    /// pool.spawn(|| ());
    /// assert!(pool.is_full()); // the next spawn would wait
    /// ```
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Starts `f` in the pool, first waiting for a free slot if the pool is
    /// full. Spawners waiting for slots are served in arrival order.
    ///
    /// As with [`Group::spawn`], during a kill of the pool or with a pending
    /// fail-fast failure the greenlet is killed before it starts (without
    /// waiting for a slot). Called while the current greenlet is unwinding
    /// on a full pool, `spawn` cannot wait: the greenlet is likewise killed
    /// before it starts.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// let start = Instant::now();
    /// for _ in 0..4 {
    ///     pool.spawn(|| grove::sleep(Duration::from_millis(20))); // the 3rd waits
    /// }
    /// pool.join();
    /// assert!(start.elapsed() >= Duration::from_millis(40)); // two rounds of two
    /// ```
    ///
    /// # Panics
    ///
    /// In hub context when the pool is full (hub callbacks must not block),
    /// and if no stack can be had.
    #[track_caller]
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Greenlet<T> {
        self.group.spawn(f)
    }

    /// Like [`spawn`](Pool::spawn), but waits at most `timeout` for a slot;
    /// gives `f` back if none came free (or if the caller is unwinding).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(1);
    /// pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// let refused = pool.spawn_timeout(Duration::from_millis(10), || "late");
    /// assert!(refused.is_err()); // no slot came free; the closure comes back
    /// pool.kill();
    /// let g = pool.spawn_timeout(Duration::from_millis(10), || "on time").ok().unwrap();
    /// assert_eq!(g.join().unwrap(), "on time");
    /// ```
    #[track_caller]
    pub fn spawn_timeout<T: 'static, F: FnOnce() -> T + 'static>(
        &self,
        timeout: Duration,
        f: F,
    ) -> Result<Greenlet<T>, F> {
        let deadline = Hub::get().deadline_after(timeout);
        self.group.inner.spawn(deadline, true, None, f)
    }

    /// Starts `f` only if a slot is free now; gives `f` back otherwise.
    /// During a kill of the pool or with a pending fail-fast failure, the
    /// greenlet is killed before it starts, as with [`spawn`](Pool::spawn).
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(1);
    /// assert!(pool.try_spawn(|| 1).is_ok());
    /// let f = match pool.try_spawn(|| 2) {
    ///     Ok(_) => unreachable!("the pool is full"),
    ///     Err(f) => f,
    /// };
    /// assert_eq!(f(), 2); // the closure came back unrun
    /// ```
    #[track_caller]
    pub fn try_spawn<T: 'static, F: FnOnce() -> T + 'static>(
        &self,
        f: F,
    ) -> Result<Greenlet<T>, F> {
        let inner = &self.group.inner;
        if inner.free() == 0 && !inner.doomed() {
            return Err(f);
        }
        inner.spawn(None, true, None, f)
    }

    /// Waits until a slot is free (without taking it; gevent's
    /// `wait_available`). Returns at once while unwinding.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(1);
    /// pool.spawn(|| grove::sleep(Duration::from_millis(10)));
    /// assert!(pool.is_full());
    /// pool.wait_available(); // wait for room without taking it
    /// assert_eq!(pool.free_count(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// In hub context when the pool is full.
    #[track_caller]
    pub fn wait_available(&self) {
        self.wait_available_until(None);
    }

    /// Like [`wait_available`](Pool::wait_available), but waits at most
    /// `timeout`; returns whether a slot is free.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(1);
    /// pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(!pool.wait_available_timeout(Duration::from_millis(10)));
    /// pool.kill();
    /// assert!(pool.wait_available_timeout(Duration::from_millis(10)));
    /// ```
    #[track_caller]
    pub fn wait_available_timeout(&self, timeout: Duration) -> bool {
        self.wait_available_until(Hub::get().deadline_after(timeout))
    }

    #[track_caller]
    fn wait_available_until(&self, deadline: Option<Instant>) -> bool {
        let inner = &self.group.inner;
        let ended = inner.take_slot(deadline);
        if ended == Ended::Ready {
            // Not using the slot: the next waiter may.
            inner.give_slot();
        }
        ended == Ended::Ready
    }

    /// The pool as a [`Group`] (the same set of greenlets, same limit).
    ///
    /// ```
    /// fn wait_all(group: &grove::pool::Group) {
    ///     group.join();
    /// }
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// pool.spawn(|| ());
    /// wait_all(pool.as_group());
    /// assert!(pool.is_empty());
    /// ```
    pub fn as_group(&self) -> &Group {
        &self.group
    }

    /// See [`Group::len`].
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(5);
    /// pool.spawn(|| ());
    /// assert_eq!(pool.len(), 1);
    /// pool.join();
    /// assert_eq!(pool.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// See [`Group::is_empty`].
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(5);
    /// assert!(pool.is_empty());
    /// pool.spawn(|| ());
    /// assert!(!pool.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// See [`Group::contains`].
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(5);
    /// let g = pool.spawn(|| ());
    /// assert!(pool.contains(&g));
    /// ```
    pub fn contains<T>(&self, greenlet: &Greenlet<T>) -> bool {
        self.group.contains(greenlet)
    }

    /// See [`Group::join`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// let handles: Vec<_> = (0..4u64)
    ///     .map(|i| pool.spawn(move || { grove::sleep(Duration::from_millis(5)); i }))
    ///     .collect();
    /// pool.join();
    /// assert!(handles.iter().all(|g| g.is_dead()));
    /// ```
    #[track_caller]
    pub fn join(&self) {
        self.group.join();
    }

    /// See [`Group::join_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(!pool.join_timeout(Duration::from_millis(10)));
    /// pool.kill();
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.group.join_timeout(timeout)
    }

    /// See [`Group::join_result`].
    ///
    /// ```
    /// let pool = grove::pool::Pool::fail_fast(2);
    /// pool.spawn(|| panic!("boom"));
    /// assert!(pool.join_result().is_err());
    /// assert!(pool.join_result().is_ok()); // reporting the failure cleared it
    /// ```
    #[track_caller]
    pub fn join_result(&self) -> Result<(), GreenletError> {
        self.group.join_result()
    }

    /// See [`Group::kill`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// pool.kill();
    /// assert_eq!(pool.free_count(), 2);
    /// ```
    #[track_caller]
    pub fn kill(&self) {
        self.group.kill();
    }

    /// See [`Group::kill_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(pool.kill_timeout(Duration::from_secs(1)));
    /// ```
    #[track_caller]
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.group.kill_timeout(timeout)
    }

    /// See [`Group::kill_nowait`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::pool::Pool::new(2);
    /// let g = pool.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// pool.kill_nowait();
    /// assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
    /// ```
    pub fn kill_nowait(&self) {
        self.group.kill_nowait();
    }

    map_methods! {
        inner: group.inner;
        /// See [`Group::map`]; at most `size` items run at once.
        ///
        /// ```
        /// let pool = grove::pool::Pool::new(2);
        /// assert_eq!(pool.map(|n: i32| n + 1, vec![1, 2, 3]), [2, 3, 4]);
        /// ```
        map;
        /// See [`Group::imap`]; at most `size` items run at once.
        ///
        /// ```
        /// let pool = grove::pool::Pool::new(2);
        /// let total: i32 = pool.imap(|n: i32| n * n, 1..=4).sum();
        /// assert_eq!(total, 30);
        /// ```
        imap;
        /// See [`Group::imap_unordered`]; at most `size` items run at once.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let pool = grove::pool::Pool::new(3);
        /// let first = pool
        ///     .imap_unordered(|ms: u64| { grove::sleep(Duration::from_millis(ms)); ms }, [50, 1, 50])
        ///     .next();
        /// assert_eq!(first, Some(1));
        /// ```
        imap_unordered;
    }
}
