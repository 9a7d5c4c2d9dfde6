//! `Mutex<T>`: a cooperative mutex guarding data.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Duration;

use super::Permits;
use crate::hub::Primitive;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_MUTEX: Primitive = Primitive::new("Mutex::lock");

// ---- Mutex ----------------------------------------------------------------------

/// A cooperative mutex guarding a `T`: [`lock`](Mutex::lock) waits (in
/// line) for exclusive access and returns a guard that derefs to the data.
///
/// The guard may be held across blocking grove calls — that is what a
/// cooperative mutex is for; other greenlets that want the data wait, while
/// everything else keeps running. It is not re-entrant: a greenlet that
/// locks a mutex it already holds waits forever. There is no poisoning: a
/// greenlet that panics or is killed while holding the guard unlocks it as
/// it unwinds, leaving the data as it was at that point.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use grove::lock::Mutex;
///
/// let balance = Mutex::new(100);
/// let spenders: Vec<_> = (0..4)
///     .map(|_| {
///         let balance = balance.clone();
///         grove::spawn(move || {
///             let mut b = balance.lock();
///             let read = *b;
///             grove::sleep(Duration::from_millis(1)); // others wait, no lost update
///             *b = read - 10;
///         })
///     })
///     .collect();
/// grove::joinall(&spenders);
/// assert_eq!(*balance.lock(), 60);
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while waiting in [`lock`](Mutex::lock)
/// never gets the guard and never strands the mutex: it passes to the next
/// waiter or becomes free. A guard is released by the unwinding of a killed
/// holder. While the greenlet is unwinding (in a `Drop` during a panic or
/// kill), `lock` takes a free mutex and panics if it would have to wait;
/// `try_lock` and `lock_timeout` return `None` instead.
pub struct Mutex<T> {
    inner: Rc<MutexInner<T>>,
}

struct MutexInner<T> {
    permits: Permits,
    /// Only ever borrowed by a guard, which holds the permit: never contended.
    data: RefCell<T>,
}

impl<T> Clone for Mutex<T> {
    fn clone(&self) -> Self {
        Mutex {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("waiting", &self.inner.permits.waiters.len())
            .finish()
    }
}

/// Exclusive access to a [`Mutex`]'s data; unlocks when dropped.
///
/// ```
/// let cache = grove::lock::Mutex::new(Vec::new());
/// {
///     let mut entries = cache.lock(); // derefs to the Vec
///     entries.push("key");
/// }
/// assert_eq!(cache.lock().len(), 1);
/// ```
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    // Field order matters: the borrow ends before the permit is returned.
    data: RefMut<'a, T>,
    _unlock: Unlock<'a>,
}

struct Unlock<'a>(&'a Permits);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.data, f)
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T> Mutex<T> {
    /// A mutex guarding `value`, unlocked.
    ///
    /// ```
    /// let counter = grove::lock::Mutex::new(0u64);
    /// assert_eq!(*counter.lock(), 0);
    /// ```
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            inner: Rc::new(MutexInner {
                permits: Permits::new(1, &WAITS_ON_MUTEX),
                data: RefCell::new(value),
            }),
        }
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            data: self.inner.data.borrow_mut(),
            _unlock: Unlock(&self.inner.permits),
        }
    }

    /// Waits in line for the mutex and returns a guard to the data.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let balance = grove::lock::Mutex::new(100);
    /// let workers: Vec<_> = (0..4)
    ///     .map(|_| {
    ///         let balance = balance.clone();
    ///         grove::spawn(move || {
    ///             let mut b = balance.lock(); // held across the sleep below
    ///             let read = *b;
    ///             grove::sleep(Duration::from_millis(1));
    ///             *b = read - 10;
    ///         })
    ///     })
    ///     .collect();
    /// grove::joinall(&workers);
    /// assert_eq!(*balance.lock(), 60); // no lost update
    /// ```
    ///
    /// # Panics
    /// In hub context when it would have to wait; while the greenlet is
    /// unwinding when the mutex is held (it cannot wait then).
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.permits.hold("Mutex::lock");
        self.guard()
    }

    /// Like [`lock`](Mutex::lock), giving up after `timeout` (`None`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let m = grove::lock::Mutex::new(());
    /// let _held = m.lock();
    /// assert!(m.lock_timeout(Duration::from_millis(5)).is_none());
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.inner
            .permits
            .acquire_timeout(timeout)
            .then(|| self.guard())
    }

    /// The guard if the mutex is free and nobody waits for it, without waiting.
    ///
    /// ```
    /// let m = grove::lock::Mutex::new(1);
    /// let held = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert_eq!(m.try_lock().map(|g| *g), Some(1));
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.permits.try_acquire().then(|| self.guard())
    }

    /// Whether the mutex is held (or promised to a woken waiter).
    ///
    /// ```
    /// let m = grove::lock::Mutex::new("data");
    /// let guard = m.lock();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.inner.permits.available() == 0
    }
}
