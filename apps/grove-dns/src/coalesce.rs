//! In-flight coalescing: concurrent identical misses share one upstream
//! query (the `Event` trick of the gevent original, with grove's
//! [`AsyncResult`]).
//!
//! The first greenlet to miss on a key becomes its *leader*: it registers
//! an `AsyncResult` under the key, asks upstream, and sets the result.
//! Greenlets that miss on the same key meanwhile find the registration and
//! wait on it, each then writing the shared answer under its own client's
//! id. The map is per hub thread (greenlets never leave their thread), so
//! it needs no lock.
//!
//! ```
//! use std::time::Duration;
//! use grove_dns::coalesce::Coalescer;
//!
//! let coalescer = Coalescer::<u32>::new();
//! let calls = std::rc::Rc::new(std::cell::Cell::new(0));
//! let waiters: Vec<_> = (0..10)
//!     .map(|_| {
//!         let (coalescer, calls) = (coalescer.clone(), calls.clone());
//!         grove::spawn(move || {
//!             coalescer.run(b"key", Duration::from_secs(5), || {
//!                 calls.set(calls.get() + 1);
//!                 grove::sleep(Duration::from_millis(20)); // the upstream round trip
//!                 Some(42)
//!             })
//!         })
//!     })
//!     .collect();
//! let results: Vec<_> = waiters.into_iter().map(|g| g.join().unwrap()).collect();
//! assert_eq!(calls.get(), 1);
//! assert!(results.iter().all(|r| r.0 == Some(42)));
//! assert_eq!(results.iter().filter(|r| r.1).count(), 9); // nine joined the leader
//! ```
//!
//! # Kill and timeout safety
//!
//! A waiter killed while waiting unwinds and leaves nothing behind. A
//! leader killed (or panicking) while asking upstream unregisters the key
//! and wakes its waiters with `None` in its drop guard, so nobody waits
//! past its own timeout for an answer that cannot come.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use grove::event::AsyncResult;

/// Queries in flight by key, each with the result its waiters wait on.
type InFlight<T> = RefCell<HashMap<Box<[u8]>, AsyncResult<Option<T>>>>;

/// The map of queries in flight on this thread, by key. A cheap `Clone`
/// handle.
pub struct Coalescer<T: Clone + 'static> {
    inflight: Rc<InFlight<T>>,
}

impl<T: Clone + 'static> Clone for Coalescer<T> {
    fn clone(&self) -> Self {
        Coalescer {
            inflight: self.inflight.clone(),
        }
    }
}

impl<T: Clone + 'static> fmt::Debug for Coalescer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescer")
            .field("inflight", &self.len())
            .finish()
    }
}

impl<T: Clone + 'static> Default for Coalescer<T> {
    fn default() -> Self {
        Coalescer::new()
    }
}

/// Unregisters the leader's key and releases its waiters, however the
/// leader ends.
struct Leader<'a, T: Clone + 'static> {
    map: &'a InFlight<T>,
    key: &'a [u8],
    result: AsyncResult<Option<T>>,
}

impl<T: Clone + 'static> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        self.map.borrow_mut().remove(self.key);
        if !self.result.is_ready() {
            let _ = self.result.set(None);
        }
    }
}

impl<T: Clone + 'static> Coalescer<T> {
    /// An empty map.
    pub fn new() -> Coalescer<T> {
        Coalescer {
            inflight: Rc::new(RefCell::new(HashMap::new())),
        }
    }

    /// Keys in flight now.
    pub fn len(&self) -> usize {
        self.inflight.borrow().len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `fetch` for `key` unless a fetch for it is already in flight,
    /// in which case waits (at most `timeout`) for that one's result.
    /// Returns the result and whether it came from another greenlet's
    /// fetch (`None`: the fetch failed, or the wait timed out).
    pub fn run(
        &self,
        key: &[u8],
        timeout: Duration,
        fetch: impl FnOnce() -> Option<T>,
    ) -> (Option<T>, bool) {
        let existing = self.inflight.borrow().get(key).cloned();
        if let Some(result) = existing {
            return (result.get_timeout(timeout).ok().flatten(), true);
        }
        let result = AsyncResult::new();
        self.inflight
            .borrow_mut()
            .insert(key.into(), result.clone());
        let leader = Leader {
            map: &self.inflight,
            key,
            result,
        };
        let value = fetch();
        let _ = leader.result.set(value.clone());
        drop(leader);
        (value, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_leader_releases_waiters() {
        let coalescer = Coalescer::<u8>::new();
        let leader = {
            let c = coalescer.clone();
            grove::spawn(move || {
                c.run(b"k", Duration::from_secs(60), || {
                    grove::sleep(Duration::from_secs(60));
                    Some(1)
                })
            })
        };
        grove::sleep(Duration::from_millis(10));
        let waiter = {
            let c = coalescer.clone();
            grove::spawn(move || c.run(b"k", Duration::from_secs(60), || Some(2)))
        };
        grove::sleep(Duration::from_millis(10));
        leader.kill();
        assert_eq!(waiter.join().unwrap(), (None, true));
        assert!(coalescer.is_empty());
        // The key is free again: the next miss leads.
        assert_eq!(
            coalescer.run(b"k", Duration::from_secs(1), || Some(3)),
            (Some(3), false)
        );
    }

    #[test]
    fn waiter_times_out() {
        let coalescer = Coalescer::<u8>::new();
        let c = coalescer.clone();
        let _leader = grove::spawn(move || {
            c.run(b"k", Duration::from_secs(60), || {
                grove::sleep(Duration::from_millis(500));
                Some(1)
            })
        });
        grove::sleep(Duration::from_millis(10));
        assert_eq!(
            coalescer.run(b"k", Duration::from_millis(20), || Some(2)),
            (None, true)
        );
    }
}
