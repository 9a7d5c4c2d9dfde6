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

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Instant;

use crate::cancel::is_cancellation;
use crate::cancel::Cancel;
use crate::greenlet::{Builder, Greenlet};
use crate::hub::{Hub, Primitive, Task, WaitOn};
use crate::lock::Permits;
use crate::panic::panic_message;
use crate::wait::list::{Wait, WaitList};

/// What a greenlet parked here waits on, for reports.
pub(crate) static WAITS_ON_GROUP_JOIN: Primitive = Primitive::new("Group::join");
/// What a greenlet parked here waits on, for reports.
static WAITS_ON_POOL_SLOT: Primitive = Primitive::new("a free slot in a Pool");

mod group;
mod imap;
mod sized;

pub use group::Group;
pub use imap::IMap;
pub use sized::Pool;

/// The state shared by every handle of one group or pool.
#[derive(Default)]
struct Inner {
    /// `None` for a [`Group`].
    size: Option<usize>,
    fail_fast: bool,
    /// Members by id: ids grow within a hub, so this is spawn order.
    members: RefCell<BTreeMap<u64, Rc<Task>>>,
    /// Greenlets waiting for the group to become empty.
    joiners: WaitList,
    /// A pool's free slots (`None` for a group), on the locks' permit
    /// counter: a member holds one permit from its spawn until it leaves.
    /// Spawners wait for one in FIFO order, and a slot freed while they
    /// wait is promised to the first, so a newcomer cannot take it.
    slots: Option<Permits>,
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
            slots: size.map(|size| Permits::new(size, &WAITS_ON_POOL_SLOT)),
            ..Inner::default()
        })
    }

    fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Slots a newcomer could take right now (`usize::MAX` for a group).
    fn free(&self) -> usize {
        self.slots.as_ref().map_or(usize::MAX, Permits::available)
    }

    /// Whether a greenlet spawned now must be killed before it starts.
    fn doomed(&self) -> bool {
        self.killing.get() > 0 || self.failure.borrow().is_some()
    }

    /// Takes a free slot, waiting for one until `deadline`.
    fn take_slot(&self, deadline: Option<Instant>) -> Ended {
        let Some(slots) = &self.slots else {
            return Ended::Ready;
        };
        if slots.acquire_until(deadline) || slots.try_acquire() {
            Ended::Ready
        } else if std::thread::panicking() {
            Ended::Unwinding
        } else {
            Ended::TimedOut
        }
    }

    /// Gives back a slot taken and not used (to the first waiter, if any).
    fn give_slot(&self) {
        if let Some(slots) = &self.slots {
            slots.release();
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
    /// size) in the slot the caller took.
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
                self.give_slot();
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
        match self.take_slot(deadline) {
            Ended::Ready => Ok(self.start_in_slot(stack_size, f)),
            Ended::TimedOut => Err(f),
            Ended::Unwinding if give_back_when_unwinding => Err(f),
            Ended::Unwinding => Ok(Inner::stillborn(f)),
        }
    }

    /// Starts `f` in the slot the caller took, unless the group failed or
    /// began a kill meanwhile (then the slot goes back).
    #[track_caller]
    fn start_in_slot<T: 'static>(
        self: &Rc<Self>,
        stack_size: Option<usize>,
        f: impl FnOnce() -> T + 'static,
    ) -> Greenlet<T> {
        if self.doomed() {
            self.give_slot();
            return Inner::stillborn(f);
        }
        self.start(stack_size, f)
    }

    /// A member died (hub context): it leaves, freeing its slot.
    fn leave(&self, id: u64) {
        let removed = self.members.borrow_mut().remove(&id);
        if removed.is_some() {
            self.give_slot();
        }
        drop(removed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            let slots = self.group.inner.slots.as_ref().expect("a pool");
            slots.in_wait()
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
