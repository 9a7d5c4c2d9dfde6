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

mod mutex;
mod rlock;
mod semaphore;

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use crate::hub::{Hub, Primitive, WaitOn};
use crate::wait::list::{Wait, WaitList};

pub use mutex::{Mutex, MutexGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Lock, LockGuard, Semaphore, SemaphoreGuard};

// ---- errors -----------------------------------------------------------------

/// A release without a matching acquire: a [`BoundedSemaphore`] released
/// beyond its bound, or a [`Lock`] released while unlocked.
///
/// ```
/// let sem = grove::lock::BoundedSemaphore::new(1);
/// let err = sem.release().unwrap_err(); // nothing was acquired
/// assert_eq!(err.to_string(), "released more times than acquired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OverRelease;

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("released more times than acquired")
    }
}

impl std::error::Error for OverRelease {}

/// An [`RLock`] released by a greenlet that does not hold it.
///
/// ```
/// let lock = grove::lock::RLock::new();
/// lock.acquire();
/// let other = lock.clone();
/// let err = grove::spawn(move || other.release()).join().unwrap().unwrap_err();
/// assert_eq!(err, grove::lock::NotOwner);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotOwner;

impl fmt::Display for NotOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot release an RLock that the current greenlet does not hold")
    }
}

impl std::error::Error for NotOwner {}

// ---- the permit counter under every type of this module -----------------------

/// Permits and their FIFO of waiters (also a `Pool`'s free slots).
///
/// (Guards are built only once a permit is taken, `held.map(|permits| Guard
/// { permits })`: a guard built and dropped on failure would release a
/// permit it never took.)
///
/// A release with waiters hands its permit to the first one (counted in
/// `permits` until that waiter runs and takes it); the permits *available* to
/// a newcomer exclude those promised ones, so nobody barges. A woken waiter
/// that dies before taking its permit passes the notification to the next
/// waiter (the wait-list's guarantee) or, if there is none, its promise
/// simply lapses and the permit is available again: `promised` is computed
/// from who is still inside `wait`, never stored.
pub(crate) struct Permits {
    /// Permits nobody holds: available ones plus promised ones.
    permits: Cell<usize>,
    /// Acquirers inside `WaitList::wait`: waiting, or woken and not yet back.
    in_wait: Cell<usize>,
    waiters: WaitList,
    on: &'static Primitive,
}

impl Permits {
    pub(crate) fn new(permits: usize, on: &'static Primitive) -> Permits {
        Permits {
            permits: Cell::new(permits),
            in_wait: Cell::new(0),
            waiters: WaitList::new(),
            on,
        }
    }

    /// Acquirers inside `acquire_until`: waiting, or woken and not yet back.
    #[cfg(test)]
    pub(crate) fn in_wait(&self) -> usize {
        self.in_wait.get()
    }

    /// Woken waiters that have not taken their permit yet.
    fn promised(&self) -> usize {
        self.in_wait.get() - self.waiters.len()
    }

    /// Permits a newcomer could take now (promised ones excluded).
    pub(crate) fn available(&self) -> usize {
        self.permits.get().saturating_sub(self.promised())
    }

    pub(crate) fn try_acquire(&self) -> bool {
        if self.available() == 0 {
            return false;
        }
        self.permits.set(self.permits.get() - 1);
        true
    }

    /// Takes a permit, waiting until `deadline`; false on timeout, or when
    /// the caller is unwinding and none is available.
    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> bool {
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
    pub(crate) fn release(&self) {
        let permits = self.permits.get().checked_add(1);
        self.permits
            .set(permits.expect("grove::lock: permit count overflow"));
        self.waiters.notify_one();
    }

    /// Returns a permit unless `bound` permits are already unheld (a
    /// bounded semaphore's or a lock's release); nothing changes then.
    fn release_within(&self, bound: usize) -> Result<(), OverRelease> {
        if self.permits.get() >= bound {
            return Err(OverRelease);
        }
        self.release();
        Ok(())
    }

    /// `acquire` for the forms that must return a guard: `what` names the
    /// caller in the panic of a wait while unwinding.
    #[track_caller]
    fn hold(&self, what: &str) -> &Permits {
        if !self.acquire_until(None) {
            cannot_wait_while_unwinding(what);
        }
        self
    }

    /// `acquire_timeout` for the guard forms: the permits to hold, if taken.
    fn hold_timeout(&self, timeout: Duration) -> Option<&Permits> {
        self.acquire_timeout(timeout).then_some(self)
    }

    /// `try_acquire` for the guard forms: the permits to hold, if taken.
    fn try_hold(&self) -> Option<&Permits> {
        self.try_acquire().then_some(self)
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
