//! Groups and pools: manage many greenlets as one.
//!
//! A [`Group`] tracks the greenlets spawned through it: [`join`](Group::join)
//! waits for all of them, [`kill`](Group::kill) kills all of them, and
//! [`map`](Group::map), [`imap`](Group::imap) and
//! [`imap_unordered`](Group::imap_unordered) run a function over many items,
//! one greenlet per item (gevent's `gevent.pool.Group`). A [`Pool`] is a
//! group with a size: it never runs more than `size` greenlets at once, and
//! its `spawn` waits while it is full — the tool for bounding concurrency
//! (connections served, requests in flight). A finished greenlet leaves its
//! group by itself, in a hub callback queued when it dies.
//!
//! ```
//! use std::time::Duration;
//! use grove::pool::{Group, Pool};
//!
//! let group = Group::new();
//! for i in 0..3 {
//!     group.spawn(move || grove::sleep(Duration::from_millis(10 * i)));
//! }
//! assert_eq!(group.len(), 3);
//! group.join();
//! assert!(group.is_empty());
//!
//! // At most two at a time; results come back in input order.
//! let pool = Pool::new(2);
//! let squares = pool.map(|n: u64| { grove::sleep(Duration::from_millis(5)); n * n }, 1..=5);
//! assert_eq!(squares, [1, 4, 9, 16, 25]);
//! ```
//!
//! # Fail-fast groups
//!
//! [`Group::fail_fast`] (and [`Pool::fail_fast`]) make a group that treats a
//! panic of one member as the failure of the whole: the first member that
//! panics kills every other member, greenlets spawned into the failed group
//! are killed before they start, and the panic reaches whoever joins the
//! group — [`join`](Group::join) resumes it at the caller (as
//! `std::thread::scope` does), [`join_result`](Group::join_result) returns
//! it as `Err(GreenletError::Panicked(payload))`. Reporting the failure
//! clears it: the group can be used again.
//!
//! ```
//! use std::time::Duration;
//! use grove::pool::Group;
//!
//! let group = Group::fail_fast();
//! let sibling = group.spawn(|| grove::sleep(Duration::from_secs(3600)));
//! group.spawn(|| panic!("disk full"));
//! let err = group.join_result().unwrap_err();
//! assert_eq!(err.to_string(), "greenlet panicked: disk full");
//! assert!(matches!(sibling.join(), Err(grove::GreenletError::Killed)));
//! ```
//!
//! Handles are cheap `Clone`s of one group and, like greenlets, not `Send`:
//!
//! ```compile_fail
//! let group = grove::pool::Group::new();
//! std::thread::spawn(move || group.join());
//! ```

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::cancel::is_cancellation;
use crate::cancel::Cancel;
use crate::greenlet::{Builder, Greenlet, GreenletError};
use crate::hub::{Hub, Primitive, Task, WaitOn};
use crate::panic::panic_message;
use crate::wait::list::{Wait, WaitList};

/// What a greenlet parked here waits on, for reports.
pub(crate) static WAITS_ON_GROUP_JOIN: Primitive = Primitive::new("Group::join");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_POOL_SLOT: Primitive = Primitive::new("a free slot in a Pool");

mod imap;

pub use imap::IMap;

/// The state shared by every handle of one group or pool.
struct Inner {
    /// `None` for a [`Group`].
    size: Option<usize>,
    fail_fast: bool,
    /// Members by id: ids grow within a hub, so this is spawn order.
    members: RefCell<BTreeMap<u64, Rc<Task>>>,
    /// Greenlets waiting for the group to become empty.
    joiners: WaitList,
    /// Greenlets waiting for a free slot of a pool.
    slots: WaitList,
    /// Greenlets inside a slot wait, whether still waiting or already
    /// notified and not yet resumed. Those notified hold a *reserved* slot
    /// (`slot_waiting - slots.len()`), so a newcomer cannot take the slot a
    /// woken waiter is about to use: slots go out in FIFO order.
    slot_waiting: Cell<usize>,
    /// `kill` calls in progress: greenlets spawned meanwhile are killed
    /// before they start.
    killing: Cell<usize>,
    /// The first panic of a fail-fast group, until a join reports it.
    failure: RefCell<Option<Box<dyn Any + Send>>>,
}

/// How a wait for an empty group or a free slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Ready,
    TimedOut,
    /// The caller is unwinding and could not wait.
    Unwinding,
}

impl Inner {
    fn new(size: Option<usize>, fail_fast: bool) -> Rc<Inner> {
        Rc::new(Inner {
            size,
            fail_fast,
            members: RefCell::new(BTreeMap::new()),
            joiners: WaitList::new(),
            slots: WaitList::new(),
            slot_waiting: Cell::new(0),
            killing: Cell::new(0),
            failure: RefCell::new(None),
        })
    }

    fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Slots promised to notified waiters that have not resumed yet.
    fn reserved(&self) -> usize {
        self.slot_waiting.get() - self.slots.len()
    }

    /// Slots a newcomer could take right now (`usize::MAX` for a group).
    fn free(&self) -> usize {
        match self.size {
            None => usize::MAX,
            Some(size) => size.saturating_sub(self.len() + self.reserved()),
        }
    }

    /// Whether a greenlet spawned now must be killed before it starts.
    fn doomed(&self) -> bool {
        self.killing.get() > 0 || self.failure.borrow().is_some()
    }

    /// Hands every free slot to a waiter, first come first served. Keeps
    /// the invariant: no greenlet waits for a slot while one is free.
    fn wake_slot_waiters(&self) {
        while self.free() > 0 && self.slots.notify_one() {}
    }

    /// Waits for a free slot (without taking it) until `deadline`.
    fn wait_slot(&self, deadline: Option<Instant>) -> Ended {
        loop {
            if self.free() > 0 {
                return Ended::Ready;
            }
            self.slot_waiting.set(self.slot_waiting.get() + 1);
            let mut guard = SlotWait {
                inner: self,
                unwound: true,
            };
            let wait = self
                .slots
                .wait(WaitOn::Primitive(&WAITS_ON_POOL_SLOT), deadline);
            // Normal exit: a notified waiter's reserved slot now shows as
            // free, and the caller takes it (or passes it on) before anything
            // else runs.
            guard.unwound = false;
            drop(guard);
            match wait {
                Wait::Notified => continue,
                Wait::TimedOut if self.free() > 0 => return Ended::Ready,
                Wait::TimedOut => return Ended::TimedOut,
                Wait::Unwinding => return Ended::Unwinding,
            }
        }
    }

    /// Waits until the group is empty or `deadline` passes.
    #[track_caller]
    fn wait_empty(&self, deadline: Option<Instant>) -> Ended {
        loop {
            if self.members.borrow().is_empty() {
                return Ended::Ready;
            }
            if std::thread::panicking() {
                return Ended::Unwinding;
            }
            if let Some(me) = crate::current_id() {
                if self.members.borrow().contains_key(&me) {
                    panic!(
                        "grove: greenlet #{me} waits for its own group to finish: \
                         it is a member, so it would wait for itself forever"
                    );
                }
            }
            match self
                .joiners
                .wait(WaitOn::Primitive(&WAITS_ON_GROUP_JOIN), deadline)
            {
                Wait::Notified => {}
                Wait::TimedOut if self.members.borrow().is_empty() => return Ended::Ready,
                Wait::TimedOut => return Ended::TimedOut,
                Wait::Unwinding => return Ended::Unwinding,
            }
        }
    }

    /// Starts `f` as a member (on a stack of `stack_size`, or the default
    /// size); the caller has made sure a slot is free.
    #[track_caller]
    fn start<T: 'static>(
        self: &Rc<Self>,
        stack_size: Option<usize>,
        f: impl FnOnce() -> T + 'static,
    ) -> Greenlet<T> {
        let mut builder = Builder::new();
        if let Some(size) = stack_size {
            builder = builder.stack_size(size);
        }
        let spawned = if self.fail_fast {
            builder.spawn(fail_fast_body(Rc::downgrade(self), f))
        } else {
            builder.spawn(f)
        };
        let g = match spawned {
            Ok(g) => g,
            Err(err) => {
                self.wake_slot_waiters();
                panic!("grove::pool: cannot spawn a greenlet: {err}");
            }
        };
        let id = g.id();
        self.members.borrow_mut().insert(id, g.task().clone());
        let weak = Rc::downgrade(self);
        g.link(move || {
            if let Some(inner) = weak.upgrade() {
                inner.leave(id);
            }
        });
        g
    }

    /// Spawns a greenlet that is killed before it starts (never runs).
    #[track_caller]
    fn stillborn<T: 'static>(f: impl FnOnce() -> T + 'static) -> Greenlet<T> {
        let g = Builder::new()
            .spawn(f)
            .unwrap_or_else(|err| panic!("grove::pool: cannot spawn a greenlet: {err}"));
        g.kill_nowait();
        g
    }

    /// Spawn that waits for a slot (`deadline`); gives `f` back on timeout.
    #[track_caller]
    fn spawn<T: 'static, F: FnOnce() -> T + 'static>(
        self: &Rc<Self>,
        deadline: Option<Instant>,
        give_back_when_unwinding: bool,
        stack_size: Option<usize>,
        f: F,
    ) -> Result<Greenlet<T>, F> {
        if self.doomed() {
            return Ok(Inner::stillborn(f));
        }
        match self.wait_slot(deadline) {
            // The group may have failed or begun a kill while we waited.
            Ended::Ready if self.doomed() => {
                self.wake_slot_waiters();
                Ok(Inner::stillborn(f))
            }
            Ended::Ready => Ok(self.start(stack_size, f)),
            Ended::TimedOut => Err(f),
            Ended::Unwinding if give_back_when_unwinding => Err(f),
            Ended::Unwinding => Ok(Inner::stillborn(f)),
        }
    }

    /// A member died (hub context): it leaves, freeing its slot.
    fn leave(&self, id: u64) {
        let removed = self.members.borrow_mut().remove(&id);
        drop(removed);
        if self.size.is_some() {
            self.wake_slot_waiters();
        }
        if self.members.borrow().is_empty() {
            self.joiners.notify_all();
        }
    }

    /// Records the first panic of a fail-fast group and kills the other
    /// members. Returns the payload the panicking member should end with.
    fn fail(&self, payload: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
        if self.failure.borrow().is_some() {
            return payload;
        }
        let copy = copy_payload(payload.as_ref());
        *self.failure.borrow_mut() = Some(payload);
        self.kill_members_nowait(crate::current_id());
        copy
    }

    /// Kills every member except `except`, without waiting.
    fn kill_members_nowait(&self, except: Option<u64>) {
        let members: Vec<Rc<Task>> = self.members.borrow().values().cloned().collect();
        let hub = Hub::get();
        for task in members.iter().filter(|t| Some(t.id) != except) {
            hub.kill_nowait(task);
        }
    }

    /// Kills every member and waits until they are gone or `deadline`.
    #[track_caller]
    fn kill(&self, deadline: Option<Instant>) -> bool {
        self.killing.set(self.killing.get() + 1);
        let _killing = Killing { inner: self };
        let me = crate::current_id();
        self.kill_members_nowait(me);
        let own = me.and_then(|id| self.members.borrow().get(&id).cloned());
        if let Some(own) = own {
            // A member killing its group dies last, right now.
            Hub::get().kill_nowait(&own);
            own.raise_if_cancelled();
            return false; // only reached while unwinding
        }
        self.wait_empty(deadline) == Ended::Ready
    }

    fn take_failure(&self) -> Option<Box<dyn Any + Send>> {
        self.failure.borrow_mut().take()
    }

    /// `join`'s ending: resumes a fail-fast failure at the caller.
    fn report_failure(&self) {
        if std::thread::panicking() {
            return; // a second panic would abort; the failure stays
        }
        if let Some(payload) = self.take_failure() {
            resume_unwind(payload);
        }
    }
}

/// Gives up a slot wait that unwound (kill or timeout of the waiter). The
/// wait-list already passed a notification it had received to the next
/// waiter; if there was none, the reserved slot becomes free again here.
struct SlotWait<'a> {
    inner: &'a Inner,
    unwound: bool,
}

impl Drop for SlotWait<'_> {
    fn drop(&mut self) {
        let inner = self.inner;
        inner.slot_waiting.set(inner.slot_waiting.get() - 1);
        if self.unwound {
            inner.wake_slot_waiters();
        }
    }
}

/// Ends a `kill` call however it ends.
struct Killing<'a> {
    inner: &'a Inner,
}

impl Drop for Killing<'_> {
    fn drop(&mut self) {
        self.inner.killing.set(self.inner.killing.get() - 1);
    }
}

/// Wraps a fail-fast member's body: a panic (not a kill or timeout) fails
/// the group before it unwinds on. The group keeps the original payload;
/// the member ends with a copy of its message.
fn fail_fast_body<T>(group: Weak<Inner>, f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            let killed = is_cancellation(payload.as_ref())
                || Hub::get()
                    .current()
                    .is_some_and(|t| t.cancel() == Cancel::Kill);
            match group.upgrade() {
                Some(group) if !killed => resume_unwind(group.fail(payload)),
                _ => resume_unwind(payload),
            }
        }
    }
}

/// A copy of a panic payload: the same `&'static str` or `String`, or its
/// message as a `String`.
fn copy_payload(payload: &(dyn Any + Send)) -> Box<dyn Any + Send> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Box::new(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Box::new(s.clone())
    } else {
        Box::new(String::from(panic_message(payload)))
    }
}

/// A set of greenlets that can be joined, killed and mapped over together
/// (gevent's `Group`). See the [module docs](self).
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
#[derive(Clone)]
pub struct Group {
    inner: Rc<Inner>,
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
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
        Group {
            inner: Inner::new(None, false),
        }
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
        match self.inner.spawn(None, false, stack_size, f) {
            Ok(g) => g,
            // A group has no slot limit, and a pool's untimed slot wait
            // does not time out.
            Err(_) => unreachable!("an untimed spawn neither times out nor runs out of slots"),
        }
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
        match self.inner.take_failure() {
            Some(payload) => Err(GreenletError::Panicked(payload)),
            None => Ok(()),
        }
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
    #[track_caller]
    pub fn map<I, R, F>(&self, f: F, items: I) -> Vec<R>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        IMap::new(self.inner.clone(), f, items.into_iter(), true, "map").collect()
    }

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
    pub fn imap<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        IMap::new(self.inner.clone(), f, items.into_iter(), true, "imap")
    }

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
    pub fn imap_unordered<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        IMap::new(
            self.inner.clone(),
            f,
            items.into_iter(),
            false,
            "imap_unordered",
        )
    }
}

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
    group: Group,
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
        self.spawn_sized(None, f)
    }

    /// [`spawn`](Pool::spawn) on a stack of `stack_size` bytes (the
    /// servers' handlers).
    #[track_caller]
    pub(crate) fn spawn_sized<T: 'static>(
        &self,
        stack_size: Option<usize>,
        f: impl FnOnce() -> T + 'static,
    ) -> Greenlet<T> {
        self.group.spawn_sized(stack_size, f)
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
        let ended = inner.wait_slot(deadline);
        // Not taking the slot: the next waiter may.
        inner.wake_slot_waiters();
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

    /// See [`Group::map`]; at most `size` items run at once.
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(2);
    /// assert_eq!(pool.map(|n: i32| n + 1, vec![1, 2, 3]), [2, 3, 4]);
    /// ```
    #[track_caller]
    pub fn map<I, R, F>(&self, f: F, items: I) -> Vec<R>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        self.group.map(f, items)
    }

    /// See [`Group::imap`]; at most `size` items run at once.
    ///
    /// ```
    /// let pool = grove::pool::Pool::new(2);
    /// let total: i32 = pool.imap(|n: i32| n * n, 1..=4).sum();
    /// assert_eq!(total, 30);
    /// ```
    pub fn imap<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        self.group.imap(f, items)
    }

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
    pub fn imap_unordered<I, R, F>(&self, f: F, items: I) -> IMap<R, F, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        self.group.imap_unordered(f, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_slots_block_newcomers() {
        let pool = Pool::new(1);
        let first = pool.spawn(|| crate::sleep(Duration::from_millis(20)));
        // A waiter queues for the slot...
        let p = pool.clone();
        let waiter = crate::spawn(move || p.spawn(|| "second").join().unwrap());
        crate::yield_now();
        assert_eq!(pool.inner_slots_waiting(), 1);
        first.join().unwrap();
        // ...and once the slot is freed it is reserved for the waiter.
        crate::yield_now();
        assert_eq!(waiter.join().unwrap(), "second");
        assert_eq!(pool.free_count(), 1);
    }

    impl Pool {
        fn inner_slots_waiting(&self) -> usize {
            self.group.inner.slot_waiting.get()
        }
    }

    #[test]
    fn copy_payload_keeps_string_types() {
        let s: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(
            copy_payload(s.as_ref()).downcast_ref::<&str>(),
            Some(&"static")
        );
        let s: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(
            copy_payload(s.as_ref()).downcast_ref::<String>().unwrap(),
            "owned"
        );
        let s: Box<dyn Any + Send> = Box::new(42u8);
        assert!(copy_payload(s.as_ref()).downcast_ref::<String>().is_some());
    }
}
