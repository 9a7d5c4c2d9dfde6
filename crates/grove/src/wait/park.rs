//! The one park sequence of a wait-list: register, arm the deadline, park,
//! and leave the line however the park ends.
//!
//! Both wait-lists run it — the hub-local `WaitList` (its line in a
//! `RefCell`) and the `SharedWaitList` (its line behind a mutex, beside the
//! primitive's state) — through [`wait`], generic over how the line is
//! locked ([`Lock`]) and how its kind of waiter parks ([`Parks`]). A waiter
//! of another thread's primitive is a `RemoteUnparker`, and under
//! `--cfg loom` it parks in `crate::sync::model`'s model of a hub instead
//! of a real one, so the loom models (`wait/shared.rs`, `event.rs`) check
//! this very sequence.
//!
//! The sequence keeps the wait-lists' guarantees: the waiter registers
//! under the lock that guards the state it checked (no notification slips
//! between the check and the park); the deadline's timer lives exactly as
//! long as the park (`Hub::park_until`); and the node is removed by its
//! own waiter, once, however the wait ends — a notification it received but
//! can no longer act on (it is unwinding) goes to the next waiter.

use std::time::Instant;

use std::rc::Rc;

use crate::hub::{Hub, RemoteUnparker, Task, Unparker, WaitOn};
use crate::wait::line::{Line, Waiter};

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A `notify_one`/`notify_all` reached this waiter.
    Notified,
    /// The deadline passed first.
    TimedOut,
    /// The caller is unwinding, so it could not park at all.
    Unwinding,
}

/// A line of waiters behind its owner's lock (a `RefCell` or a mutex).
pub(crate) trait Lock {
    /// The kind of waiter in the line.
    type W: Parks;
    /// The locked line (and whatever else the lock guards).
    type Guard<'a>
    where
        Self: 'a;

    /// Locks the line.
    fn lock(&self) -> Self::Guard<'_>;

    /// The line inside a locked guard.
    fn line<'g>(guard: &'g mut Self::Guard<'_>) -> &'g mut Line<(), Self::W>;
}

/// A kind of waiter that can park: names the [`Parker`] it parks with.
pub(crate) trait Parks: Waiter {
    /// Its thread's hub (or a model of it).
    type Parker: Parker<Self>;
}

/// The parking side of one waiter kind: the current task's hub.
pub(crate) trait Parker<W>: Sized {
    /// What wakes the park episode when its deadline passes.
    type Token;
    /// The parker of the calling task.
    fn current() -> Self;
    /// Whether `deadline` has passed already (then nobody parks).
    fn expired(&self, deadline: Option<Instant>) -> bool;
    /// The waiter handle for the current park episode, and its timer's
    /// token.
    fn waiter(&self) -> (W, Self::Token);
    /// Parks until woken, the deadline passes or a cancellation unwinds
    /// out; `false` without parking when the caller is unwinding.
    fn park_until(&self, on: WaitOn, timer: Option<(Instant, Self::Token)>) -> bool;
}

/// Wakes the oldest waiter of `line`; returns whether there was one.
#[inline(always)]
pub(crate) fn notify_one<W: Waiter>(line: &mut Line<(), W>) -> bool {
    if !line.has_waiting() {
        return false;
    }
    line.serve_first(None);
    true
}

/// Registers the calling task in `list`'s line (locked as `locked`),
/// unlocks, parks until notified, `deadline` passes or it is cancelled,
/// then locks again and leaves the line. See the module docs.
///
/// A deadline already in the past returns `TimedOut`, and a caller that is
/// unwinding gets `Unwinding`, both without parking. A cancellation
/// unwinds out of here with the lock released, the waiter removed and any
/// notification it had received passed on.
#[inline(always)]
pub(crate) fn wait<'a, L: Lock>(
    list: &'a L,
    mut locked: L::Guard<'a>,
    on: WaitOn,
    deadline: Option<Instant>,
) -> (Wait, L::Guard<'a>) {
    let parker = <<L::W as Parks>::Parker as Parker<L::W>>::current();
    if parker.expired(deadline) {
        return (Wait::TimedOut, locked);
    }
    if std::thread::panicking() {
        return (Wait::Unwinding, locked);
    }
    let (waiter, token) = parker.waiter();
    let key = L::line(&mut locked).push(waiter);
    drop(locked);
    let mut leaving = Leaving {
        list,
        key,
        done: false,
    };
    let parked = parker.park_until(on, deadline.map(|d| (d, token)));
    leaving.done = true;
    let mut relocked = list.lock();
    let (notified, _) = L::line(&mut relocked).remove(key);
    let wait = match (parked, notified) {
        (false, _) => Wait::Unwinding,
        (true, true) => Wait::Notified,
        (true, false) => Wait::TimedOut,
    };
    (wait, relocked)
}

/// Removes a waiter that unwinds out of its park (kill or timeout); the
/// node lives in the line's arena, never on the parked greenlet's stack.
struct Leaving<'a, L: Lock> {
    list: &'a L,
    key: usize,
    done: bool,
}

impl<L: Lock> Drop for Leaving<'_, L> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut locked = self.list.lock();
        let line = L::line(&mut locked);
        // A notification this waiter received but can no longer act on
        // goes to the next one.
        if line.remove(self.key).0 {
            notify_one(line);
        }
    }
}

/// A waiter handle made for one park episode of the running task.
pub(crate) trait OfEpisode {
    fn of(unparker: &Unparker) -> Self;
}

impl OfEpisode for Rc<Task> {
    #[inline(always)]
    fn of(unparker: &Unparker) -> Self {
        unparker.task.clone()
    }
}

impl OfEpisode for RemoteUnparker {
    #[inline(always)]
    fn of(unparker: &Unparker) -> Self {
        RemoteUnparker::from_local(unparker)
    }
}

/// The current task's hub.
pub(crate) struct HubParker {
    hub: &'static Hub,
}

impl<W: OfEpisode> Parker<W> for HubParker {
    type Token = Unparker;

    #[inline(always)]
    fn current() -> Self {
        HubParker { hub: Hub::get() }
    }

    #[inline(always)]
    fn expired(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| d <= self.hub.deadline_base())
    }

    #[inline(always)]
    fn waiter(&self) -> (W, Unparker) {
        let unparker = self.hub.current_unparker();
        (W::of(&unparker), unparker)
    }

    #[inline(always)]
    fn park_until(&self, on: WaitOn, timer: Option<(Instant, Unparker)>) -> bool {
        self.hub.park_until(on, timer)
    }
}

impl Parks for Rc<Task> {
    type Parker = HubParker;
}

#[cfg(not(all(test, loom)))]
impl Parks for RemoteUnparker {
    type Parker = HubParker;
}

/// Under `--cfg loom`: the calling loom thread's model hub
/// (`crate::sync::model::enter_hub`), which loom can run (a real hub
/// switches stacks and polls epoll).
#[cfg(all(test, loom))]
mod model_parker {
    use std::time::Instant;

    use super::{Parker, Parks};
    use crate::hub::{RemoteUnparker, WaitOn};
    use crate::sync::model;

    pub(crate) struct ModelParker;

    impl Parks for RemoteUnparker {
        type Parker = ModelParker;
    }

    impl Parker<RemoteUnparker> for ModelParker {
        type Token = ();

        fn current() -> Self {
            ModelParker
        }

        /// Models pass deadlines that only their `model::Clock` ends.
        fn expired(&self, _deadline: Option<Instant>) -> bool {
            false
        }

        fn waiter(&self) -> (RemoteUnparker, ()) {
            (RemoteUnparker::model_current(), ())
        }

        /// `Hub::park_until`: the timer armed for the park only.
        fn park_until(&self, _on: WaitOn, timer: Option<(Instant, ())>) -> bool {
            struct Disarm(bool);
            impl Drop for Disarm {
                fn drop(&mut self) {
                    if self.0 {
                        model::cancel_timer();
                    }
                }
            }
            let _disarm = Disarm(timer.is_some());
            if timer.is_some() {
                model::add_timer();
            }
            model::park()
        }
    }
}
