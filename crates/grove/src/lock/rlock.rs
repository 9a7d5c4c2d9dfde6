//! `RLock`: a lock its holder may take again.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{cannot_wait_while_unwinding, NotOwner, Permits};
use crate::hub::{Hub, Primitive};

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_R_LOCK: Primitive = Primitive::new("RLock::acquire");

// ---- RLock ------------------------------------------------------------------------

/// A re-entrant lock (gevent's `RLock`): the greenlet that holds it may
/// acquire it again, and must release it as many times.
///
/// The owner is the current greenlet (or the thread's own stack). Only the
/// owner may release: a release by anyone else returns `Err(NotOwner)`.
///
/// # Examples
///
/// ```
/// use grove::lock::{NotOwner, RLock};
///
/// let lock = RLock::new();
/// let outer = lock.acquire_guard();
/// let inner = lock.acquire_guard(); // the same owner: no deadlock
/// drop(inner);
/// assert!(lock.is_owned());
///
/// let other = {
///     let lock = lock.clone();
///     grove::spawn(move || (lock.try_acquire(), lock.release()))
/// };
/// assert_eq!(other.join().unwrap(), (false, Err(NotOwner)));
/// drop(outer);
/// assert!(!lock.locked());
/// ```
///
/// # Kill and timeout safety
///
/// As for [`Lock`](super::Lock). A greenlet killed while holding it through
/// [`acquire`](RLock::acquire) leaves it locked by a dead owner forever;
/// guards release their level as they unwind.
#[derive(Clone)]
pub struct RLock {
    inner: Rc<RLockInner>,
}

struct RLockInner {
    permits: Permits,
    /// Task id of the holder (0: hub context).
    owner: Cell<Option<u64>>,
    depth: Cell<usize>,
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.inner.owner.get())
            .field("depth", &self.inner.depth.get())
            .field("waiting", &self.inner.permits.waiters.len())
            .finish()
    }
}

/// One level of a held [`RLock`], released when dropped.
///
/// ```
/// let lock = grove::lock::RLock::new();
/// let outer = lock.acquire_guard();
/// let inner = lock.acquire_guard(); // the same greenlet may re-enter
/// drop(inner);
/// assert!(lock.locked());
/// drop(outer);
/// assert!(!lock.locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release_level();
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

/// Who is running: the task id, or 0 in hub context.
fn current_owner() -> u64 {
    Hub::get().current().map_or(0, |task| task.id)
}

impl RLock {
    /// An unlocked re-entrant lock.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> RLock {
        RLock {
            inner: Rc::new(RLockInner {
                permits: Permits::new(1, &WAITS_ON_R_LOCK),
                owner: Cell::new(None),
                depth: Cell::new(0),
            }),
        }
    }

    fn acquire_until(&self, deadline: Option<Option<Instant>>) -> bool {
        let inner = &*self.inner;
        let me = current_owner();
        if inner.owner.get() == Some(me) {
            inner.depth.set(inner.depth.get() + 1);
            return true;
        }
        let acquired = match deadline {
            None => inner.permits.try_acquire(),
            Some(deadline) => inner.permits.acquire_until(deadline),
        };
        if acquired {
            inner.owner.set(Some(me));
            inner.depth.set(1);
        }
        acquired
    }

    /// Locks (again, if the current greenlet holds it), waiting in line
    /// while another greenlet holds it. Returns `true`; `false` only when
    /// called while the greenlet is unwinding and another holds the lock.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// assert!(lock.acquire());
    /// assert!(lock.acquire()); // re-entered, not deadlocked
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// assert!(!lock.locked());
    /// ```
    ///
    /// # Panics
    /// In hub context when it would have to wait.
    pub fn acquire(&self) -> bool {
        self.acquire_until(Some(None))
    }

    /// Like [`acquire`](RLock::acquire), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = grove::lock::RLock::new();
    /// lock.acquire();
    /// let other = lock.clone();
    /// let g = grove::spawn(move || other.acquire_timeout(Duration::from_millis(5)));
    /// assert!(!g.join().unwrap()); // another greenlet holds it
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Some(Hub::get().deadline_after(timeout)))
    }

    /// Locks if it is free or already held by the current greenlet.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// assert!(lock.try_acquire());
    /// let other = lock.clone();
    /// assert!(!grove::spawn(move || other.try_acquire()).join().unwrap());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.acquire_until(None)
    }

    /// Releases one level; the last one unlocks and hands the lock to the
    /// first waiter.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// assert_eq!(lock.release(), Err(grove::lock::NotOwner)); // not held
    /// lock.acquire();
    /// assert_eq!(lock.release(), Ok(()));
    /// ```
    ///
    /// # Errors
    /// [`NotOwner`] if the current greenlet does not hold the lock
    /// (including when it is unlocked); nothing changes then.
    pub fn release(&self) -> Result<(), NotOwner> {
        if self.inner.owner.get() != Some(current_owner()) {
            return Err(NotOwner);
        }
        self.release_level();
        Ok(())
    }

    fn release_level(&self) {
        let inner = &*self.inner;
        let depth = inner.depth.get() - 1;
        inner.depth.set(depth);
        if depth == 0 {
            inner.owner.set(None);
            inner.permits.release();
        }
    }

    /// Locks as [`acquire`](RLock::acquire) does and returns a guard that
    /// releases this level when dropped.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// let _guard = lock.acquire_guard();
    /// assert!(lock.is_owned());
    /// ```
    ///
    /// # Panics
    /// In hub context when it would have to wait; while the greenlet is
    /// unwinding when another greenlet holds the lock.
    #[track_caller]
    pub fn acquire_guard(&self) -> RLockGuard<'_> {
        if !self.acquire() {
            cannot_wait_while_unwinding("RLock::acquire_guard");
        }
        RLockGuard { lock: self }
    }

    /// [`acquire_timeout`](RLock::acquire_timeout) with a guard.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = grove::lock::RLock::new();
    /// let guard = lock.acquire_guard_timeout(Duration::from_millis(5));
    /// assert!(guard.is_some());
    /// ```
    pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.acquire_timeout(timeout)
            .then(|| RLockGuard { lock: self })
    }

    /// [`try_acquire`](RLock::try_acquire) with a guard.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// let a = lock.try_acquire_guard();
    /// let b = lock.try_acquire_guard(); // re-entered
    /// assert!(a.is_some() && b.is_some());
    /// ```
    pub fn try_acquire_guard(&self) -> Option<RLockGuard<'_>> {
        self.try_acquire().then(|| RLockGuard { lock: self })
    }

    /// Whether some greenlet holds the lock.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// lock.acquire();
    /// let other = lock.clone();
    /// assert!(grove::spawn(move || other.locked()).join().unwrap());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.permits.available() == 0
    }

    /// Whether the current greenlet (or thread stack) holds the lock.
    ///
    /// ```
    /// let lock = grove::lock::RLock::new();
    /// lock.acquire();
    /// assert!(lock.is_owned());
    /// let other = lock.clone();
    /// assert!(!grove::spawn(move || other.is_owned()).join().unwrap());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.inner.owner.get() == Some(current_owner())
    }
}
