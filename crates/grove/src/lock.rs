//! Locks and semaphores for greenlets (gevent's `gevent.lock`).
//!
//! A [`Semaphore`] counts permits: [`acquire`](Semaphore::acquire) takes one,
//! waiting while there are none; [`release`](Semaphore::release) returns one.
//! [`BoundedSemaphore`] refuses to be released more often than acquired;
//! [`Lock`] is a bounded semaphore of one permit; [`RLock`] may be
//! re-acquired by the greenlet that holds it; [`Mutex<T>`] guards data and
//! hands out a guard that derefs to it. Each has RAII guards, so a greenlet
//! that is killed or timed out while holding one gives it back as it unwinds.
//!
//! All of them are cheap `Clone` handles of one thread's hub (not `Send`),
//! built on the hub-local wait-list. Waiters are served first come, first
//! served, with no barging: a release hands the permit to the longest
//! waiting greenlet, and a newcomer cannot take it in between. If that
//! waiter is killed or times out before it runs, the permit passes to the
//! next waiter, or becomes free if there is none: a permit is never lost or
//! duplicated.
//!
//! ```
//! use std::time::Duration;
//! use grove::lock::{BoundedSemaphore, Mutex};
//!
//! // At most two of the five workers are inside at once.
//! let sem = BoundedSemaphore::new(2);
//! let inside = Mutex::new(Vec::new());
//! let workers: Vec<_> = (0..5)
//!     .map(|i| {
//!         let (sem, inside) = (sem.clone(), inside.clone());
//!         grove::spawn(move || {
//!             let _permit = sem.acquire_guard();
//!             inside.lock().push(i);
//!             assert!(inside.lock().len() <= 2);
//!             grove::sleep(Duration::from_millis(5));
//!             inside.lock().retain(|&w| w != i);
//!         })
//!     })
//!     .collect();
//! grove::joinall(&workers);
//! assert_eq!(sem.available(), 2);
//! assert!(sem.release().is_err()); // never acquired: refused
//! ```
//!
//! Called in hub context (a link, timer or `Handle::call` callback), the
//! `try_` forms work, and a blocking form that would have to wait panics at
//! the caller: hub callbacks must not block.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::{Hub, Primitive, WaitOn};
use crate::waitlist::{Wait, WaitList};

// ---- errors -----------------------------------------------------------------

/// A release without a matching acquire: a [`BoundedSemaphore`] released
/// beyond its bound, or a [`Lock`] released while unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OverRelease;

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("released more times than acquired")
    }
}

impl std::error::Error for OverRelease {}

/// An [`RLock`] released by a greenlet that does not hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotOwner;

impl fmt::Display for NotOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot release an RLock that the current greenlet does not hold")
    }
}

impl std::error::Error for NotOwner {}

// ---- the permit counter under every type of this module -----------------------

/// Permits and their FIFO of waiters.
///
/// (Guards are built lazily, `ok.then(|| Guard { .. })`: a guard built and
/// dropped on failure would release a permit it never took.)
///
/// A release with waiters hands its permit to the first one (counted in
/// `permits` until that waiter runs and takes it); the permits *available* to
/// a newcomer exclude those promised ones, so nobody barges. A woken waiter
/// that dies before taking its permit passes the notification to the next
/// waiter (the wait-list's guarantee) or, if there is none, its promise
/// simply lapses and the permit is available again: `promised` is computed
/// from who is still inside `wait`, never stored.
struct Permits {
    /// Permits nobody holds: available ones plus promised ones.
    permits: Cell<usize>,
    /// Acquirers inside `WaitList::wait`: waiting, or woken and not yet back.
    in_wait: Cell<usize>,
    waiters: WaitList,
    on: Primitive,
}

impl Permits {
    fn new(permits: usize, on: Primitive) -> Permits {
        Permits {
            permits: Cell::new(permits),
            in_wait: Cell::new(0),
            waiters: WaitList::new(),
            on,
        }
    }

    /// Woken waiters that have not taken their permit yet.
    fn promised(&self) -> usize {
        self.in_wait.get() - self.waiters.len()
    }

    fn available(&self) -> usize {
        self.permits.get().saturating_sub(self.promised())
    }

    fn try_acquire(&self) -> bool {
        if self.available() == 0 {
            return false;
        }
        self.permits.set(self.permits.get() - 1);
        true
    }

    /// Takes a permit, waiting until `deadline`; false on timeout, or when
    /// the caller is unwinding and none is available.
    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        if self.try_acquire() {
            return true;
        }
        self.in_wait.set(self.in_wait.get() + 1);
        let _leave = InWait(self);
        match self.waiters.wait(WaitOn::Primitive(self.on), deadline) {
            Wait::Notified => {
                self.permits.set(self.permits.get() - 1);
                true
            }
            Wait::TimedOut | Wait::Unwinding => false,
        }
    }

    fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.try_acquire() || self.acquire_until(Hub::get().deadline_after(timeout))
    }

    /// Returns a permit, handing it to the first waiter if there is one.
    fn release(&self) {
        let permits = self.permits.get().checked_add(1);
        self.permits
            .set(permits.expect("grove::lock: permit count overflow"));
        self.waiters.notify_one();
    }

    /// `acquire` for the forms that must return a guard.
    #[track_caller]
    fn acquire_or_panic(&self, what: &str) {
        if !self.acquire_until(None) {
            cannot_wait_while_unwinding(what);
        }
    }
}

#[cold]
#[track_caller]
fn cannot_wait_while_unwinding(what: &str) -> ! {
    panic!(
        "grove: {what} would have to wait while the greenlet is unwinding \
         (in a Drop during a panic or kill), where it cannot park; \
         use the try_ or _timeout form in destructors"
    )
}

/// Leaves `in_wait` however the wait ends (after the wait-list's own
/// cleanup, which may have passed a notification on).
struct InWait<'a>(&'a Permits);

impl Drop for InWait<'_> {
    fn drop(&mut self) {
        self.0.in_wait.set(self.0.in_wait.get() - 1);
    }
}

impl fmt::Debug for Permits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permits")
            .field("available", &self.available())
            .field("waiting", &self.waiters.len())
            .finish()
    }
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
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Rc::new(Permits::new(permits, Primitive::Semaphore)),
        }
    }

    /// Takes a permit, waiting in line while none is available. Returns
    /// `true`; `false` only when called while the greenlet is unwinding with
    /// no permit available (it cannot wait then).
    ///
    /// # Panics
    /// In hub context when it would have to wait.
    pub fn acquire(&self) -> bool {
        self.permits.acquire_until(None)
    }

    /// Like [`acquire`](Semaphore::acquire), giving up after `timeout`;
    /// returns whether a permit was taken.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.permits.acquire_timeout(timeout)
    }

    /// Takes a permit if one is available now (never behind earlier waiters).
    pub fn try_acquire(&self) -> bool {
        self.permits.try_acquire()
    }

    /// Returns a permit: the first waiter gets it, or it becomes available.
    /// Never blocks.
    ///
    /// # Panics
    /// If the count would overflow `usize`.
    pub fn release(&self) {
        self.permits.release();
    }

    /// Takes a permit, waiting as [`acquire`](Semaphore::acquire) does, and
    /// returns a guard that releases it when dropped.
    ///
    /// # Panics
    /// In hub context when it would have to wait; while the greenlet is
    /// unwinding when no permit is available.
    #[track_caller]
    pub fn acquire_guard(&self) -> SemaphoreGuard<'_> {
        self.permits.acquire_or_panic("Semaphore::acquire_guard");
        SemaphoreGuard {
            permits: &self.permits,
        }
    }

    /// [`acquire_timeout`](Semaphore::acquire_timeout) with a guard.
    pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.permits
            .acquire_timeout(timeout)
            .then(|| SemaphoreGuard {
                permits: &self.permits,
            })
    }

    /// [`try_acquire`](Semaphore::try_acquire) with a guard.
    pub fn try_acquire_guard(&self) -> Option<SemaphoreGuard<'_>> {
        self.permits.try_acquire().then(|| SemaphoreGuard {
            permits: &self.permits,
        })
    }

    /// Permits an `acquire` could take now without waiting.
    pub fn available(&self) -> usize {
        self.permits.available()
    }

    /// Whether an `acquire` would have to wait (no permit available).
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
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Rc::new(Permits::new(permits, Primitive::Semaphore)),
            bound: permits,
        }
    }

    /// As [`Semaphore::acquire`].
    ///
    /// # Panics
    /// In hub context when it would have to wait.
    pub fn acquire(&self) -> bool {
        self.permits.acquire_until(None)
    }

    /// As [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.permits.acquire_timeout(timeout)
    }

    /// As [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> bool {
        self.permits.try_acquire()
    }

    /// Returns a permit: the first waiter gets it, or it becomes available.
    ///
    /// # Errors
    /// [`OverRelease`] if no permit is held (every permit is already
    /// available or promised to a waiter); nothing changes then.
    pub fn release(&self) -> Result<(), OverRelease> {
        if self.permits.permits.get() >= self.bound {
            return Err(OverRelease);
        }
        self.permits.release();
        Ok(())
    }

    /// As [`Semaphore::acquire_guard`].
    ///
    /// # Panics
    /// As [`Semaphore::acquire_guard`].
    #[track_caller]
    pub fn acquire_guard(&self) -> SemaphoreGuard<'_> {
        self.permits
            .acquire_or_panic("BoundedSemaphore::acquire_guard");
        SemaphoreGuard {
            permits: &self.permits,
        }
    }

    /// As [`Semaphore::acquire_guard_timeout`].
    pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.permits
            .acquire_timeout(timeout)
            .then(|| SemaphoreGuard {
                permits: &self.permits,
            })
    }

    /// As [`Semaphore::try_acquire_guard`].
    pub fn try_acquire_guard(&self) -> Option<SemaphoreGuard<'_>> {
        self.permits.try_acquire().then(|| SemaphoreGuard {
            permits: &self.permits,
        })
    }

    /// Permits an `acquire` could take now without waiting.
    pub fn available(&self) -> usize {
        self.permits.available()
    }

    /// The bound given to [`new`](BoundedSemaphore::new).
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Whether an `acquire` would have to wait.
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
/// take again, use [`RLock`]; to guard data, [`Mutex`].
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
    pub fn new() -> Lock {
        Lock {
            permits: Rc::new(Permits::new(1, Primitive::Lock)),
        }
    }

    /// Locks, waiting in line while it is locked. Returns `true`; `false`
    /// only when called while the greenlet is unwinding and the lock is held
    /// (it cannot wait then).
    ///
    /// # Panics
    /// In hub context when it would have to wait.
    pub fn acquire(&self) -> bool {
        self.permits.acquire_until(None)
    }

    /// Like [`acquire`](Lock::acquire), giving up after `timeout`; returns
    /// whether the lock was taken.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.permits.acquire_timeout(timeout)
    }

    /// Locks if it is unlocked and nobody waits for it.
    pub fn try_acquire(&self) -> bool {
        self.permits.try_acquire()
    }

    /// Unlocks; the first waiter gets the lock.
    ///
    /// # Errors
    /// [`OverRelease`] if the lock is not locked; nothing changes then.
    pub fn release(&self) -> Result<(), OverRelease> {
        if self.permits.permits.get() >= 1 {
            return Err(OverRelease);
        }
        self.permits.release();
        Ok(())
    }

    /// Locks as [`acquire`](Lock::acquire) does and returns a guard that
    /// unlocks when dropped.
    ///
    /// # Panics
    /// In hub context when it would have to wait; while the greenlet is
    /// unwinding when the lock is held.
    #[track_caller]
    pub fn acquire_guard(&self) -> LockGuard<'_> {
        self.permits.acquire_or_panic("Lock::acquire_guard");
        LockGuard {
            permits: &self.permits,
        }
    }

    /// [`acquire_timeout`](Lock::acquire_timeout) with a guard.
    pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<LockGuard<'_>> {
        self.permits.acquire_timeout(timeout).then(|| LockGuard {
            permits: &self.permits,
        })
    }

    /// [`try_acquire`](Lock::try_acquire) with a guard.
    pub fn try_acquire_guard(&self) -> Option<LockGuard<'_>> {
        self.permits.try_acquire().then(|| LockGuard {
            permits: &self.permits,
        })
    }

    /// Whether the lock is held (or promised to a woken waiter).
    pub fn locked(&self) -> bool {
        self.permits.available() == 0
    }
}

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
/// As for [`Lock`]. A greenlet killed while holding it through
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
    pub fn new() -> RLock {
        RLock {
            inner: Rc::new(RLockInner {
                permits: Permits::new(1, Primitive::RLock),
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
    /// # Panics
    /// In hub context when it would have to wait.
    pub fn acquire(&self) -> bool {
        self.acquire_until(Some(None))
    }

    /// Like [`acquire`](RLock::acquire), giving up after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Some(Hub::get().deadline_after(timeout)))
    }

    /// Locks if it is free or already held by the current greenlet.
    pub fn try_acquire(&self) -> bool {
        self.acquire_until(None)
    }

    /// Releases one level; the last one unlocks and hands the lock to the
    /// first waiter.
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
    pub fn acquire_guard_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.acquire_timeout(timeout)
            .then(|| RLockGuard { lock: self })
    }

    /// [`try_acquire`](RLock::try_acquire) with a guard.
    pub fn try_acquire_guard(&self) -> Option<RLockGuard<'_>> {
        self.try_acquire().then(|| RLockGuard { lock: self })
    }

    /// Whether some greenlet holds the lock.
    pub fn locked(&self) -> bool {
        self.inner.permits.available() == 0
    }

    /// Whether the current greenlet (or thread stack) holds the lock.
    pub fn is_owned(&self) -> bool {
        self.inner.owner.get() == Some(current_owner())
    }
}

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
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            inner: Rc::new(MutexInner {
                permits: Permits::new(1, Primitive::Mutex),
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
    /// # Panics
    /// In hub context when it would have to wait; while the greenlet is
    /// unwinding when the mutex is held (it cannot wait then).
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.permits.acquire_or_panic("Mutex::lock");
        self.guard()
    }

    /// Like [`lock`](Mutex::lock), giving up after `timeout` (`None`).
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.inner
            .permits
            .acquire_timeout(timeout)
            .then(|| self.guard())
    }

    /// The guard if the mutex is free and nobody waits for it, without waiting.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.permits.try_acquire().then(|| self.guard())
    }

    /// Whether the mutex is held (or promised to a woken waiter).
    pub fn is_locked(&self) -> bool {
        self.inner.permits.available() == 0
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
