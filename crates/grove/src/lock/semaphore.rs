//! The ownerless permit counters: `Semaphore`, `BoundedSemaphore` and `Lock`.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{OverRelease, Permits};
use crate::hub::Primitive;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_LOCK: Primitive = Primitive::new("Lock::acquire");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_SEMAPHORE: Primitive = Primitive::new("Semaphore::acquire");

/// The methods the three permit counters share, each with the docs its type
/// gives: the bodies over [`Permits`] are written here once. The guard type
/// and the name a panic of `acquire_guard` gives come first; `release`,
/// which differs, is passed through in its place.
macro_rules! permit_methods {
    (
        $guard:ident, $name:literal;
        $(#[$acquire:meta])* acquire;
        $(#[$timeout:meta])* acquire_timeout;
        $(#[$try_acquire:meta])* try_acquire;
        $release:item
        $(#[$guard_acquire:meta])* acquire_guard;
        $(#[$guard_timeout:meta])* acquire_guard_timeout;
        $(#[$guard_try:meta])* try_acquire_guard;
    ) => {
        $(#[$acquire])*
        pub fn acquire(&self) -> bool {
            self.permits.acquire_until(None)
        }
        $(#[$timeout])*
        pub fn acquire_timeout(&self, timeout: Duration) -> bool {
            self.permits.acquire_timeout(timeout)
        }
        $(#[$try_acquire])*
        pub fn try_acquire(&self) -> bool {
            self.permits.try_acquire()
        }
        $release
        $(#[$guard_acquire])*
        #[track_caller]
        pub fn acquire_guard(&self) -> $guard<'_> {
            $guard { permits: self.permits.hold($name) }
        }
        $(#[$guard_timeout])*
        pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<$guard<'_>> {
            let held = self.permits.hold_timeout(timeout);
            held.map(|permits| $guard { permits })
        }
        $(#[$guard_try])*
        pub fn try_acquire_guard(&self) -> Option<$guard<'_>> {
            self.permits.try_hold().map(|permits| $guard { permits })
        }
    };
}

// ---- Semaphore ------------------------------------------------------------------

/// A counter of permits that greenlets acquire and release (gevent's
/// `Semaphore`).
///
/// [`acquire`](Semaphore::acquire) takes a permit, waiting while there are
/// none; [`release`](Semaphore::release) adds one, even beyond the initial
/// count (use [`BoundedSemaphore`] to refuse that). Waiters are served in
/// arrival order, and a released permit goes to the first of them (no
/// barging). `Semaphore::new(0)` starts with no permits: a signal to wait for.
///
/// ```compile_fail
/// let sem = grove::lock::Semaphore::new(1);
/// std::thread::spawn(move || sem.release());
/// ```
///
/// # Examples
///
/// ```
/// use grove::lock::Semaphore;
///
/// let done = Semaphore::new(0);
/// let worker = {
///     let done = done.clone();
///     grove::spawn(move || done.release())
/// };
/// done.acquire(); // waits for the worker's release
/// assert_eq!(done.available(), 0);
/// # worker.join().unwrap();
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting leaves the queue and never
/// takes a permit; if a release had already handed it one, that permit goes
/// to the next waiter or becomes available. A permit taken with
/// [`acquire`](Semaphore::acquire) is the caller's to release: a greenlet
/// killed while holding it keeps it forever (as in gevent), so prefer
/// [`acquire_guard`](Semaphore::acquire_guard), whose guard releases it
/// during the unwinding. While the calling greenlet is unwinding (in a `Drop`
/// during a panic or kill), grove cannot park: the acquire forms take a free
/// permit or return `false`/`None` at once, and `acquire_guard` panics if it
/// would have to wait.
#[derive(Clone)]
pub struct Semaphore {
    permits: Rc<Permits>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.permits.available())
            .field("waiting", &self.permits.waiters.len())
            .finish()
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`], released when dropped.
///
/// ```
/// let sem = grove::lock::Semaphore::new(1);
/// {
///     let _permit = sem.acquire_guard();
///     assert_eq!(sem.available(), 0);
/// } // dropped: released
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "the permit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    permits: &'a Permits,
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.permits.release();
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits (0 is allowed).
    ///
    /// ```
    /// let sem = grove::lock::Semaphore::new(3);
    /// assert_eq!(sem.available(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Rc::new(Permits::new(permits, &WAITS_ON_SEMAPHORE)),
        }
    }

    permit_methods! {
        SemaphoreGuard, "Semaphore::acquire_guard";
        /// Takes a permit, waiting in line while none is available. Returns
        /// `true`; `false` only when called while the greenlet is unwinding with
        /// no permit available (it cannot wait then).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let sem = grove::lock::Semaphore::new(1);
        /// assert!(sem.acquire());
        /// let s = sem.clone();
        /// grove::spawn(move || { grove::sleep(Duration::from_millis(5)); s.release() });
        /// assert!(sem.acquire()); // waits until the greenlet releases
        /// ```
        ///
        /// # Panics
        /// In hub context when it would have to wait.
        acquire;
        /// Like [`acquire`](Semaphore::acquire), giving up after `timeout`;
        /// returns whether a permit was taken.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let sem = grove::lock::Semaphore::new(0);
        /// assert!(!sem.acquire_timeout(Duration::from_millis(5)));
        /// sem.release();
        /// assert!(sem.acquire_timeout(Duration::from_millis(5)));
        /// ```
        acquire_timeout;
        /// Takes a permit if one is available now (never behind earlier waiters).
        ///
        /// ```
        /// let sem = grove::lock::Semaphore::new(1);
        /// assert!(sem.try_acquire());
        /// assert!(!sem.try_acquire());
        /// ```
        try_acquire;
        /// Returns a permit: the first waiter gets it, or it becomes available.
        /// Never blocks.
        ///
        /// ```
        /// let sem = grove::lock::Semaphore::new(0);
        /// sem.release(); // an unbounded semaphore just counts up
        /// sem.release();
        /// assert_eq!(sem.available(), 2);
        /// ```
        ///
        /// # Panics
        /// If the count would overflow `usize`.
        pub fn release(&self) {
            self.permits.release();
        }
        /// Takes a permit, waiting as [`acquire`](Semaphore::acquire) does, and
        /// returns a guard that releases it when dropped.
        ///
        /// ```
        /// let limit = grove::lock::Semaphore::new(2);
        /// let _a = limit.acquire_guard();
        /// let _b = limit.acquire_guard();
        /// assert!(limit.locked());
        /// ```
        ///
        /// # Panics
        /// In hub context when it would have to wait; while the greenlet is
        /// unwinding when no permit is available.
        acquire_guard;
        /// [`acquire_timeout`](Semaphore::acquire_timeout) with a guard.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let sem = grove::lock::Semaphore::new(1);
        /// let held = sem.acquire_guard();
        /// assert!(sem.acquire_guard_timeout(Duration::from_millis(5)).is_none());
        /// drop(held);
        /// assert!(sem.acquire_guard_timeout(Duration::from_millis(5)).is_some());
        /// ```
        acquire_guard_timeout;
        /// [`try_acquire`](Semaphore::try_acquire) with a guard.
        ///
        /// ```
        /// let sem = grove::lock::Semaphore::new(1);
        /// let first = sem.try_acquire_guard();
        /// assert!(first.is_some());
        /// assert!(sem.try_acquire_guard().is_none());
        /// ```
        try_acquire_guard;
    }

    /// Permits an `acquire` could take now without waiting.
    ///
    /// ```
    /// let sem = grove::lock::Semaphore::new(2);
    /// sem.acquire();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn available(&self) -> usize {
        self.permits.available()
    }

    /// Whether an `acquire` would have to wait (no permit available).
    ///
    /// ```
    /// let sem = grove::lock::Semaphore::new(1);
    /// assert!(!sem.locked());
    /// sem.acquire();
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.permits.available() == 0
    }
}

// ---- BoundedSemaphore -------------------------------------------------------

/// A [`Semaphore`] that refuses to be released more often than acquired
/// (gevent's `BoundedSemaphore`).
///
/// [`release`](BoundedSemaphore::release) beyond the initial count returns
/// `Err(OverRelease)` and changes nothing — a bug made visible, never
/// silently absorbed. Everything else is as for [`Semaphore`].
///
/// # Examples
///
/// ```
/// use grove::lock::{BoundedSemaphore, OverRelease};
///
/// let sem = BoundedSemaphore::new(1);
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// assert_eq!(sem.release(), Ok(()));
/// assert_eq!(sem.release(), Err(OverRelease));
/// ```
///
/// # Kill and timeout safety
///
/// As for [`Semaphore`].
#[derive(Clone)]
pub struct BoundedSemaphore {
    permits: Rc<Permits>,
    bound: usize,
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.permits.available())
            .field("bound", &self.bound)
            .field("waiting", &self.permits.waiters.len())
            .finish()
    }
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, which is also its bound (a bound
    /// of 0 is allowed: nothing can ever be acquired or released).
    ///
    /// ```
    /// let sem = grove::lock::BoundedSemaphore::new(2);
    /// assert_eq!((sem.available(), sem.bound()), (2, 2));
    /// ```
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Rc::new(Permits::new(permits, &WAITS_ON_SEMAPHORE)),
            bound: permits,
        }
    }

    permit_methods! {
        SemaphoreGuard, "BoundedSemaphore::acquire_guard";
        /// As [`Semaphore::acquire`].
        ///
        /// ```
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// assert!(sem.acquire());
        /// assert_eq!(sem.available(), 0);
        /// ```
        ///
        /// # Panics
        /// In hub context when it would have to wait.
        acquire;
        /// As [`Semaphore::acquire_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// assert!(sem.acquire_timeout(Duration::from_millis(5)));
        /// assert!(!sem.acquire_timeout(Duration::from_millis(5)));
        /// ```
        acquire_timeout;
        /// As [`Semaphore::try_acquire`].
        ///
        /// ```
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// assert!(sem.try_acquire());
        /// assert!(!sem.try_acquire());
        /// ```
        try_acquire;
        /// Returns a permit: the first waiter gets it, or it becomes available.
        ///
        /// ```
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// sem.acquire();
        /// assert_eq!(sem.release(), Ok(()));
        /// assert_eq!(sem.release(), Err(grove::lock::OverRelease)); // beyond the bound
        /// ```
        ///
        /// # Errors
        /// [`OverRelease`] if no permit is held (every permit is already
        /// available or promised to a waiter); nothing changes then.
        pub fn release(&self) -> Result<(), OverRelease> {
            self.permits.release_within(self.bound)
        }
        /// As [`Semaphore::acquire_guard`].
        ///
        /// ```
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// drop(sem.acquire_guard());
        /// assert_eq!(sem.available(), 1);
        /// ```
        ///
        /// # Panics
        /// As [`Semaphore::acquire_guard`].
        acquire_guard;
        /// As [`Semaphore::acquire_guard_timeout`].
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// let _held = sem.acquire_guard();
        /// assert!(sem.acquire_guard_timeout(Duration::from_millis(5)).is_none());
        /// ```
        acquire_guard_timeout;
        /// As [`Semaphore::try_acquire_guard`].
        ///
        /// ```
        /// let sem = grove::lock::BoundedSemaphore::new(1);
        /// let _held = sem.try_acquire_guard().unwrap();
        /// assert!(sem.try_acquire_guard().is_none());
        /// ```
        try_acquire_guard;
    }

    /// Permits an `acquire` could take now without waiting.
    ///
    /// ```
    /// let sem = grove::lock::BoundedSemaphore::new(3);
    /// sem.acquire();
    /// assert_eq!(sem.available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.permits.available()
    }

    /// The bound given to [`new`](BoundedSemaphore::new).
    ///
    /// ```
    /// let sem = grove::lock::BoundedSemaphore::new(4);
    /// sem.acquire();
    /// assert_eq!(sem.bound(), 4); // fixed, whatever is held
    /// ```
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Whether an `acquire` would have to wait.
    ///
    /// ```
    /// let sem = grove::lock::BoundedSemaphore::new(1);
    /// sem.acquire();
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.permits.available() == 0
    }
}

// ---- Lock -------------------------------------------------------------------------

/// A mutual-exclusion lock without data (gevent's `Lock`): a bounded
/// semaphore of one permit.
///
/// Any greenlet may release it (it has no owner, like `threading.Lock`);
/// releasing it while unlocked is an error. For a lock that its holder may
/// take again, use [`RLock`](super::RLock); to guard data, [`Mutex`](super::Mutex).
///
/// # Examples
///
/// ```
/// use grove::lock::{Lock, OverRelease};
///
/// let lock = Lock::new();
/// {
///     let _held = lock.acquire_guard();
///     assert!(lock.locked());
///     assert!(!lock.try_acquire());
/// }
/// assert!(!lock.locked());
/// assert_eq!(lock.release(), Err(OverRelease));
/// ```
///
/// # Kill and timeout safety
///
/// As for [`Semaphore`]: a killed or timed-out waiter never takes the lock
/// and never strands it; a greenlet killed while holding it through
/// [`acquire`](Lock::acquire) leaves it locked, through
/// [`acquire_guard`](Lock::acquire_guard) unlocks it as it unwinds.
#[derive(Clone)]
pub struct Lock {
    permits: Rc<Permits>,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("waiting", &self.permits.waiters.len())
            .finish()
    }
}

/// A held [`Lock`], unlocked when dropped.
///
/// ```
/// let lock = grove::lock::Lock::new();
/// {
///     let _held = lock.acquire_guard();
///     assert!(lock.locked());
/// }
/// assert!(!lock.locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    permits: &'a Permits,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.permits.release();
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock.
    ///
    /// ```
    /// let lock = grove::lock::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            permits: Rc::new(Permits::new(1, &WAITS_ON_LOCK)),
        }
    }

    permit_methods! {
        LockGuard, "Lock::acquire_guard";
        /// Locks, waiting in line while it is locked. Returns `true`; `false`
        /// only when called while the greenlet is unwinding and the lock is held
        /// (it cannot wait then).
        ///
        /// ```
        /// use std::{cell::RefCell, rc::Rc, time::Duration};
        ///
        /// let lock = grove::lock::Lock::new();
        /// let log = Rc::new(RefCell::new(Vec::new()));
        /// let writers: Vec<_> = ["a", "b"]
        ///     .into_iter()
        ///     .map(|name| {
        ///         let (lock, log) = (lock.clone(), log.clone());
        ///         grove::spawn(move || {
        ///             lock.acquire(); // one writer at a time, across the sleep
        ///             log.borrow_mut().push(format!("{name} start"));
        ///             grove::sleep(Duration::from_millis(5));
        ///             log.borrow_mut().push(format!("{name} end"));
        ///             lock.release().unwrap();
        ///         })
        ///     })
        ///     .collect();
        /// grove::joinall(&writers);
        /// assert_eq!(*log.borrow(), ["a start", "a end", "b start", "b end"]);
        /// ```
        ///
        /// # Panics
        /// In hub context when it would have to wait.
        acquire;
        /// Like [`acquire`](Lock::acquire), giving up after `timeout`; returns
        /// whether the lock was taken.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let lock = grove::lock::Lock::new();
        /// lock.acquire();
        /// assert!(!lock.acquire_timeout(Duration::from_millis(5)));
        /// ```
        acquire_timeout;
        /// Locks if it is unlocked and nobody waits for it.
        ///
        /// ```
        /// let lock = grove::lock::Lock::new();
        /// assert!(lock.try_acquire());
        /// assert!(!lock.try_acquire()); // not reentrant: see `RLock`
        /// ```
        try_acquire;
        /// Unlocks; the first waiter gets the lock.
        ///
        /// ```
        /// let lock = grove::lock::Lock::new();
        /// lock.acquire();
        /// assert_eq!(lock.release(), Ok(()));
        /// assert_eq!(lock.release(), Err(grove::lock::OverRelease));
        /// ```
        ///
        /// # Errors
        /// [`OverRelease`] if the lock is not locked; nothing changes then.
        pub fn release(&self) -> Result<(), OverRelease> {
            self.permits.release_within(1)
        }
        /// Locks as [`acquire`](Lock::acquire) does and returns a guard that
        /// unlocks when dropped.
        ///
        /// ```
        /// let lock = grove::lock::Lock::new();
        /// let guard = lock.acquire_guard();
        /// assert!(lock.locked());
        /// drop(guard);
        /// assert!(!lock.locked());
        /// ```
        ///
        /// # Panics
        /// In hub context when it would have to wait; while the greenlet is
        /// unwinding when the lock is held.
        acquire_guard;
        /// [`acquire_timeout`](Lock::acquire_timeout) with a guard.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let lock = grove::lock::Lock::new();
        /// let _held = lock.acquire_guard();
        /// assert!(lock.acquire_guard_timeout(Duration::from_millis(5)).is_none());
        /// ```
        acquire_guard_timeout;
        /// [`try_acquire`](Lock::try_acquire) with a guard.
        ///
        /// ```
        /// let lock = grove::lock::Lock::new();
        /// let _held = lock.try_acquire_guard().unwrap();
        /// assert!(lock.try_acquire_guard().is_none());
        /// ```
        try_acquire_guard;
    }

    /// Whether the lock is held (or promised to a woken waiter).
    ///
    /// ```
    /// let lock = grove::lock::Lock::new();
    /// lock.acquire();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.permits.available() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_woken_waiter_killed_with_nobody_behind_frees_its_permit() {
        let sem = Semaphore::new(0);
        let waiter = {
            let sem = sem.clone();
            crate::spawn(move || sem.acquire())
        };
        crate::yield_now();
        assert_eq!(sem.permits.in_wait.get(), 1);
        sem.release(); // promised to the waiter
        assert_eq!(sem.available(), 0, "no barging past the woken waiter");
        assert!(!sem.try_acquire());
        waiter.kill();
        assert_eq!(sem.available(), 1, "the promise lapsed: the permit is free");
        assert_eq!(sem.permits.in_wait.get(), 0);
        assert!(sem.try_acquire());
    }

    #[test]
    fn a_woken_waiter_killed_passes_its_permit_on() {
        let sem = Semaphore::new(0);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                crate::spawn(move || sem.acquire())
            })
            .collect();
        crate::yield_now();
        sem.release();
        waiters[0].kill();
        assert!(waiters[1].clone().join().unwrap());
        assert_eq!(sem.available(), 0);
        assert_eq!(sem.permits.permits.get(), 0);
    }
}
