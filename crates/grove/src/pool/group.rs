//! [`Group`]: a set of greenlets joined, killed and mapped over together.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::imap::map_methods;
use super::{Ended, IMap, Inner};
use crate::greenlet::{Greenlet, GreenletError};
use crate::hub::Hub;

/// A set of greenlets that can be joined, killed and mapped over together
/// (gevent's `Group`). See the [module docs](crate::pool).
///
/// Greenlets join the group through [`spawn`](Group::spawn) and leave it by
/// themselves when they finish: a hub callback queued when each dies (so a
/// dead greenlet counts in [`len`](Group::len) until that callback ran,
/// behind whatever was runnable when it died).
///
/// ```
/// use std::time::Duration;
/// use grove::pool::Group;
///
/// let group = Group::new();
/// let a = group.spawn(|| { grove::sleep(Duration::from_millis(10)); "a" });
/// let b = group.spawn(|| "b");
/// assert!(group.contains(&a) && group.len() == 2);
/// group.join(); // waits for both
/// assert!(group.is_empty());
/// assert_eq!((a.join().unwrap(), b.join().unwrap()), ("a", "b"));
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while blocked in [`join`](Group::join),
/// [`kill`](Group::kill) or an [`imap`](Group::imap) iterator just stops
/// waiting: the members are unaffected (a `kill` already asked them to die)
/// and the group stays usable. Joining from a `Drop` while unwinding cannot
/// wait: `join` then kills the members without waiting, as
/// [`Greenlet::join`] does.
#[derive(Clone, Default)]
pub struct Group {
    pub(super) inner: Rc<Inner>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.len())
            .field("fail_fast", &self.inner.fail_fast)
            .finish()
    }
}

impl Group {
    /// An empty group.
    ///
    /// ```
    /// let group = grove::pool::Group::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> Group {
        Group::default()
    }

    /// An empty fail-fast group: the first member that panics kills the
    /// others, and [`join`](Group::join) resumes its panic at the caller
    /// (see the [module docs](self#fail-fast-groups)).
    ///
    /// A member that panics keeps a copy of the panic message as its own
    /// result (`&'static str` and `String` payloads keep their type; others
    /// become their message as a `String`); the original payload goes to
    /// the group's joiner. Kills and timeouts are not failures.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::fail_fast();
    /// let worker = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// group.spawn(|| panic!("bad input"));
    /// let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| group.join()));
    /// assert!(joined.is_err()); // the panic reached the joiner
    /// assert!(matches!(worker.join(), Err(grove::GreenletError::Killed)));
    /// ```
    pub fn fail_fast() -> Group {
        Group {
            inner: Inner::new(None, true),
        }
    }

    /// Starts `f` as a greenlet in the group (it runs from the hub's next
    /// turn, like [`grove::spawn`](crate::spawn)). Never waits.
    ///
    /// While a [`kill`](Group::kill) of the group is in progress, or a
    /// fail-fast group has a failure nobody joined yet, the greenlet is
    /// killed before it starts: it never runs and is not a member.
    ///
    /// ```
    /// let group = grove::pool::Group::new();
    /// let g = group.spawn(|| 6 * 7);
    /// assert_eq!(g.join().unwrap(), 42);
    /// ```
    ///
    /// # Panics
    ///
    /// If no stack can be had, as [`grove::spawn`](crate::spawn).
    #[track_caller]
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Greenlet<T> {
        self.spawn_sized(None, f)
    }

    /// [`spawn`](Group::spawn) on a stack of `stack_size` bytes (the
    /// servers' handlers).
    #[track_caller]
    pub(crate) fn spawn_sized<T: 'static>(
        &self,
        stack_size: Option<usize>,
        f: impl FnOnce() -> T + 'static,
    ) -> Greenlet<T> {
        // A group has no slot limit, and a pool's untimed slot wait does not
        // time out.
        let spawned = self.inner.spawn(None, false, stack_size, f);
        spawned.unwrap_or_else(|_| {
            unreachable!("an untimed spawn neither times out nor runs out of slots")
        })
    }

    /// Greenlets in the group: spawned through it and not yet gone.
    ///
    /// ```
    /// let group = grove::pool::Group::new();
    /// group.spawn(|| ());
    /// group.spawn(|| ());
    /// assert_eq!(group.len(), 2);
    /// group.join();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the group has no greenlets.
    ///
    /// ```
    /// let group = grove::pool::Group::new();
    /// assert!(group.is_empty());
    /// group.spawn(|| ());
    /// assert!(!group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `greenlet` is a member of this group.
    ///
    /// ```
    /// let group = grove::pool::Group::new();
    /// let inside = group.spawn(|| ());
    /// let outside = grove::spawn(|| ());
    /// assert!(group.contains(&inside));
    /// assert!(!group.contains(&outside));
    /// ```
    pub fn contains<T>(&self, greenlet: &Greenlet<T>) -> bool {
        self.inner.members.borrow().contains_key(&greenlet.id())
    }

    /// Waits until the group is empty: every member finished (greenlets
    /// spawned meanwhile are waited for too). Results stay in the members'
    /// handles.
    ///
    /// In a fail-fast group whose member panicked, `join` waits for the
    /// killed siblings to be gone, then resumes the panic (its original
    /// payload) at the caller; [`join_result`](Group::join_result) returns
    /// it instead.
    ///
    /// Called while the current greenlet is unwinding, `join` cannot wait:
    /// it kills the members without waiting and returns.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// let group = grove::pool::Group::new();
    /// let done = Rc::new(Cell::new(0));
    /// for ms in [30, 10, 20] {
    ///     let done = done.clone();
    ///     group.spawn(move || {
    ///         grove::sleep(Duration::from_millis(ms));
    ///         done.set(done.get() + 1);
    ///     });
    /// }
    /// group.join();
    /// assert_eq!(done.get(), 3);
    /// ```
    ///
    /// # Panics
    ///
    /// If the calling greenlet is a member (it would wait for itself), in
    /// hub context, and with a fail-fast failure as above.
    #[track_caller]
    pub fn join(&self) {
        if self.inner.wait_empty(None) == Ended::Unwinding {
            self.inner.kill_members_nowait(None);
            return;
        }
        self.inner.report_failure();
    }

    /// Like [`join`](Group::join), but gives up after `timeout`; returns
    /// whether the group is empty. Unwinding, it returns at once (`false`
    /// unless the group is empty) without killing anything.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::new();
    /// group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(!group.join_timeout(Duration::from_millis(10))); // still running
    /// group.kill();
    /// assert!(group.join_timeout(Duration::from_millis(10)));
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let deadline = Hub::get().deadline_after(timeout);
        match self.inner.wait_empty(deadline) {
            Ended::Ready => {
                self.inner.report_failure();
                true
            }
            Ended::TimedOut | Ended::Unwinding => false,
        }
    }

    /// Like [`join`](Group::join), but a fail-fast failure comes back as
    /// `Err(GreenletError::Panicked(payload))` instead of a panic. Called
    /// while unwinding, it kills the members without waiting and returns
    /// `Err(GreenletError::Killed)` if there were any.
    ///
    /// ```
    /// let group = grove::pool::Group::fail_fast();
    /// group.spawn(|| ());
    /// assert!(group.join_result().is_ok());
    ///
    /// group.spawn(|| panic!("boom"));
    /// let err = group.join_result().unwrap_err();
    /// assert_eq!(err.to_string(), "greenlet panicked: boom");
    /// ```
    #[track_caller]
    pub fn join_result(&self) -> Result<(), GreenletError> {
        if self.inner.wait_empty(None) == Ended::Unwinding {
            self.inner.kill_members_nowait(None);
            return Err(GreenletError::Killed);
        }
        let failure = self.inner.take_failure();
        failure.map_or(Ok(()), |payload| Err(GreenletError::Panicked(payload)))
    }

    /// Kills every member and waits until they are gone. Greenlets spawned
    /// into the group until then are killed before they start.
    ///
    /// A member that kills its own group kills the others, then itself
    /// (it unwinds at once, without waiting). A fail-fast failure is kept
    /// for the next `join`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::new();
    /// let g = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// group.kill(); // returns once every member is gone
    /// assert!(group.is_empty());
    /// assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
    /// ```
    #[track_caller]
    pub fn kill(&self) {
        self.inner.kill(None);
    }

    /// Like [`kill`](Group::kill), waiting at most `timeout` for the members
    /// to die; returns whether the group is empty.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::new();
    /// group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// assert!(group.kill_timeout(Duration::from_secs(1)));
    /// assert!(group.is_empty());
    /// ```
    #[track_caller]
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.inner.kill(Hub::get().deadline_after(timeout))
    }

    /// Asks every member to die, without waiting (gevent's
    /// `kill(block=False)`); usable in hub callbacks. Greenlets spawned
    /// afterwards run normally. A member calling it is not killed.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let group = grove::pool::Group::new();
    /// let g = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
    /// group.kill_nowait(); // only asks
    /// assert!(matches!(g.join(), Err(grove::GreenletError::Killed)));
    /// ```
    pub fn kill_nowait(&self) {
        self.inner.kill_members_nowait(crate::current_id());
    }

    map_methods! {
        inner: inner;
        /// Runs `f` over `items`, one greenlet per item, and returns the results
        /// in input order (gevent's `Group.map`).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let group = grove::pool::Group::new();
        /// let lengths = group.map(
        ///     |word: &str| {
        ///         grove::sleep(Duration::from_millis(word.len() as u64)); // all at once
        ///         word.len()
        ///     },
        ///     ["greenlet", "hub", "pool"],
        /// );
        /// assert_eq!(lengths, [8, 3, 4]); // input order
        /// ```
        ///
        /// # Panics
        ///
        /// If `f` panics for an item, with its payload, once that item's turn
        /// comes; if an item's greenlet is killed (say by a
        /// [`kill`](Group::kill) of the group), with a message naming it.
        map;
        /// A lazy [`map`](Group::map): an iterator of the results in input
        /// order. See [`IMap`] for when items start and for the
        /// [`maxsize`](IMap::maxsize) bound on results waiting to be read.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let group = grove::pool::Group::new();
        /// let mut doubled = group.imap(
        ///     |ms: u64| { grove::sleep(Duration::from_millis(ms)); ms * 2 },
        ///     [30, 10, 20],
        /// );
        /// assert_eq!(doubled.next(), Some(60)); // input order, whatever finished first
        /// assert_eq!(doubled.collect::<Vec<_>>(), [20, 40]);
        /// ```
        imap;
        /// Like [`imap`](Group::imap), but yields each result as soon as it is
        /// ready: in completion order.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let group = grove::pool::Group::new();
        /// let finished: Vec<u64> = group
        ///     .imap_unordered(|ms: u64| { grove::sleep(Duration::from_millis(ms)); ms }, [60, 5, 30])
        ///     .collect();
        /// assert_eq!(finished, [5, 30, 60]); // completion order
        /// ```
        imap_unordered;
    }
}
