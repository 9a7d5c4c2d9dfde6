//! The one park sequence of both wait-lists: register under the lock,
//! park until woken or the deadline (`Hub::park_until`, whose timer lives
//! exactly as long as the park), leave the line however the park ends.
//!
//! [`wait`] is generic over how the line is locked ([`Lock`]: the local
//! list's `RefCell`, the shared list's mutex beside the primitive's state)
//! and how its kind of waiter parks ([`Parks`]). Registering under the
//! lock that guards the checked state means no notification slips between
//! the check and the park; the node is removed by its own waiter, once,
//! and one it was served but can no longer act on (it is unwinding) goes
//! to the next waiter. Under `--cfg loom` a cross-thread waiter
//! (`RemoteUnparker`) parks in `crate::sync::model`'s hub instead, so the
//! loom models (`event.rs`) check this very sequence.

use std::rc::Rc;
use std::time::Instant;

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

/// A line of waiters behind its owner's lock.
pub(crate) trait Lock {
    type W: Parks;
    /// The locked line (and whatever else the lock guards).
    type Guard<'a>
    where
        Self: 'a;
    fn lock(&self) -> Self::Guard<'_>;
    fn line<'g>(guard: &'g mut Self::Guard<'_>) -> &'g mut Line<(), Self::W>;
}

/// A kind of waiter that parks: on its thread's hub (or loom's model).
pub(crate) trait Parks: Waiter {
    /// Whether other threads may serve this kind of waiter.
    const REMOTE: bool;
    /// The hub, fetched once per wait.
    type Hub;
    /// What the deadline's timer wakes.
    type Token;
    fn hub() -> Self::Hub;
    /// Whether `deadline` has passed already (then nobody parks).
    fn expired(hub: &Self::Hub, deadline: Option<Instant>) -> bool;
    /// The waiter handle for the current park episode, and the timer of
    /// `deadline` (a wait with none takes no second reference to the task).
    fn enter(hub: &Self::Hub, deadline: Option<Instant>) -> (Self, Option<(Instant, Self::Token)>);
    /// `Hub::park_until`: `false` without parking when unwinding.
    fn park_until(hub: &Self::Hub, on: WaitOn, timer: Option<(Instant, Self::Token)>) -> bool;
}

/// Wakes the oldest waiter of `line`; returns whether there was one.
#[inline(always)]
pub(crate) fn notify_one<W: Waiter>(line: &mut Line<(), W>) -> bool {
    let any = line.has_waiting();
    if any {
        line.serve_first(None);
    }
    any
}

/// Wakes every waiter of `line`, oldest first; returns how many. (The
/// lists' own `notify_all`s do this their way: the local one inline, the
/// shared one with the wake-ups after the unlock.)
#[cfg(test)]
pub(crate) fn notify_all<W: Waiter>(line: &mut Line<(), W>) -> usize {
    let mut woken = 0;
    while notify_one(line) {
        woken += 1;
    }
    woken
}

/// Registers the calling task in `list`'s line (locked as `locked`),
/// unlocks, parks until notified, `deadline` passes or it is cancelled,
/// then locks again and leaves the line. A deadline already past and a
/// caller that is unwinding return at once (`TimedOut`, `Unwinding`); a
/// cancellation unwinds out with the lock released and the waiter gone.
#[inline(always)]
pub(crate) fn wait<'a, L: Lock>(
    list: &'a L,
    mut locked: L::Guard<'a>,
    on: WaitOn,
    deadline: Option<Instant>,
) -> (Wait, L::Guard<'a>) {
    let hub = L::W::hub();
    if L::W::expired(&hub, deadline) {
        return (Wait::TimedOut, locked);
    }
    // A cross-thread waiter must not register while unwinding (another
    // thread could serve it before it leaves); a local one needs no check
    // here: nothing serves it before `park_until` says `false`.
    if L::W::REMOTE && std::thread::panicking() {
        return (Wait::Unwinding, locked);
    }
    let (waiter, timer) = L::W::enter(&hub, deadline);
    let key = L::line(&mut locked).push(waiter);
    drop(locked);
    let mut leaving = Leaving { list, key };
    let parked = L::W::park_until(&hub, on, timer);
    leaving.key = usize::MAX; // disarmed: leaving the normal way
    let mut relocked = list.lock();
    let (notified, _) = L::line(&mut relocked).remove(key);
    let wait = match (parked, notified) {
        (false, _) => Wait::Unwinding,
        (true, true) => Wait::Notified,
        (true, false) => Wait::TimedOut,
    };
    (wait, relocked)
}

/// Removes a waiter that unwinds out of its park (kill or timeout).
struct Leaving<'a, L: Lock> {
    list: &'a L,
    /// `usize::MAX` once disarmed.
    key: usize,
}

impl<L: Lock> Drop for Leaving<'_, L> {
    fn drop(&mut self) {
        if self.key == usize::MAX {
            return;
        }
        let mut locked = self.list.lock();
        let line = L::line(&mut locked);
        if line.remove(self.key).0 {
            notify_one(line); // served, and can no longer act on it
        }
    }
}

/// A waiter handle for one park episode of the running task.
pub(crate) trait OfEpisode {
    /// Whether other threads may serve it.
    const REMOTE: bool;
    fn of(unparker: Unparker) -> Self;
}

impl OfEpisode for Rc<Task> {
    const REMOTE: bool = false;
    #[inline(always)]
    fn of(unparker: Unparker) -> Self {
        unparker.task
    }
}

#[cfg(not(all(test, loom)))]
impl OfEpisode for RemoteUnparker {
    const REMOTE: bool = true;
    fn of(unparker: Unparker) -> Self {
        RemoteUnparker::from_local(&unparker)
    }
}

impl<W: Waiter + OfEpisode> Parks for W {
    const REMOTE: bool = W::REMOTE;
    type Hub = &'static Hub;
    type Token = Unparker;

    #[inline(always)]
    fn hub() -> &'static Hub {
        Hub::get()
    }

    #[inline(always)]
    fn expired(hub: &&'static Hub, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| d <= hub.deadline_base())
    }

    #[inline(always)]
    fn enter(hub: &&'static Hub, deadline: Option<Instant>) -> (W, Option<(Instant, Unparker)>) {
        let unparker = hub.current_unparker();
        match deadline {
            None => (W::of(unparker), None),
            Some(d) => (W::of(unparker.clone()), Some((d, unparker))),
        }
    }

    #[inline(always)]
    fn park_until(hub: &&'static Hub, on: WaitOn, timer: Option<(Instant, Unparker)>) -> bool {
        hub.park_until(on, timer)
    }
}

/// Under `--cfg loom`: the loom thread's model hub (`model::enter_hub`),
/// whose deadlines only the models' `Clock` ends.
#[cfg(all(test, loom))]
impl Parks for RemoteUnparker {
    const REMOTE: bool = true;
    type Hub = ();
    type Token = ();

    fn hub() {}

    fn expired((): &(), _deadline: Option<Instant>) -> bool {
        false
    }

    fn enter((): &(), deadline: Option<Instant>) -> (RemoteUnparker, Option<(Instant, ())>) {
        (RemoteUnparker::model_current(), deadline.map(|d| (d, ())))
    }

    fn park_until((): &(), _on: WaitOn, timer: Option<(Instant, ())>) -> bool {
        use crate::sync::model;
        struct Disarm;
        impl Drop for Disarm {
            fn drop(&mut self) {
                model::cancel_timer();
            }
        }
        let _disarm = timer.map(|_| {
            model::add_timer();
            Disarm
        });
        model::park()
    }
}

/// Both wait-lists hold the same guarantees; each test runs on each.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::list::WaitList;
    use crate::wait::shared::SharedWaitList;
    use std::cell::RefCell;
    use std::time::Duration;

    /// A wait-list as the tests drive it: through the one sequence.
    trait List: Lock + Sized + 'static {
        fn fresh() -> Self;
        fn wait(&self, deadline: Option<Instant>) -> Wait {
            wait(self, self.lock(), WaitOn::Sleep, deadline).0
        }
        fn notify_one(&self) -> bool {
            notify_one(Self::line(&mut self.lock()))
        }
        fn notify_all(&self) -> usize {
            notify_all(Self::line(&mut self.lock()))
        }
        fn len(&self) -> usize {
            Self::line(&mut self.lock()).waiting()
        }
        /// No node left, served or not.
        fn idle(&self) -> bool {
            Self::line(&mut self.lock()).is_idle()
        }
    }

    impl List for WaitList {
        fn fresh() -> Self {
            WaitList::new()
        }
    }

    impl List for SharedWaitList<()> {
        fn fresh() -> Self {
            SharedWaitList::new(())
        }
    }

    fn notifies_in_fifo_order<L: List>() {
        let list = Rc::new(L::fresh());
        let log = Rc::new(RefCell::new(Vec::new()));
        let gs: Vec<_> = (0..3)
            .map(|i| {
                let (list, log) = (list.clone(), log.clone());
                crate::spawn(move || {
                    assert_eq!(list.wait(None), Wait::Notified);
                    log.borrow_mut().push(i);
                })
            })
            .collect();
        crate::yield_now();
        assert_eq!(list.len(), 3);
        assert!(list.notify_one());
        crate::yield_now();
        assert_eq!(*log.borrow(), [0]);
        assert_eq!(list.notify_all(), 2);
        crate::joinall(&gs);
        assert_eq!(*log.borrow(), [0, 1, 2]);
        assert!(!list.notify_one());
    }

    fn deadline_ends_the_wait_and_leaves_the_list<L: List>() {
        let list = L::fresh();
        let deadline = Instant::now() + Duration::from_millis(10);
        assert_eq!(list.wait(Some(deadline)), Wait::TimedOut);
        assert_eq!(list.len(), 0);
        assert!(list.idle());
        assert_eq!(list.wait(Some(Instant::now())), Wait::TimedOut);
    }

    fn a_notification_to_a_killed_waiter_passes_on<L: List>() {
        let list = Rc::new(L::fresh());
        let got = Rc::new(RefCell::new(Vec::new()));
        let gs: Vec<_> = (0..2)
            .map(|i| {
                let (list, got) = (list.clone(), got.clone());
                crate::spawn(move || {
                    list.wait(None);
                    got.borrow_mut().push(i);
                })
            })
            .collect();
        crate::yield_now();
        // Notify the first waiter, then kill it before it runs.
        assert!(list.notify_one());
        gs[0].kill();
        crate::joinall(&gs[1..]);
        assert_eq!(*got.borrow(), [1], "the second waiter got the notification");
        assert_eq!(list.len(), 0);
        assert!(list.idle());
    }

    fn a_waiter_timed_out_in_the_middle_is_unlinked<L: List>() {
        let list = Rc::new(L::fresh());
        let order = Rc::new(RefCell::new(Vec::new()));
        let gs: Vec<_> = [None, Some(5u64), None]
            .into_iter()
            .enumerate()
            .map(|(i, ms)| {
                let (list, order) = (list.clone(), order.clone());
                crate::spawn(move || {
                    let deadline = ms.map(|ms| Instant::now() + Duration::from_millis(ms));
                    let r = list.wait(deadline);
                    order.borrow_mut().push((i, r));
                })
            })
            .collect();
        crate::sleep(Duration::from_millis(20));
        assert_eq!(list.len(), 2);
        list.notify_all();
        crate::joinall(&gs);
        let expected = [
            (1, Wait::TimedOut),
            (0, Wait::Notified),
            (2, Wait::Notified),
        ];
        assert_eq!(*order.borrow(), expected);
    }

    macro_rules! on_both_lists {
        ($($name:ident),*) => {
            mod local {
                $(#[test]
                fn $name() {
                    super::$name::<super::WaitList>();
                })*
            }
            mod shared {
                $(#[test]
                fn $name() {
                    super::$name::<super::SharedWaitList<()>>();
                })*
            }
        };
    }

    on_both_lists!(
        notifies_in_fifo_order,
        deadline_ends_the_wait_and_leaves_the_list,
        a_notification_to_a_killed_waiter_passes_on,
        a_waiter_timed_out_in_the_middle_is_unlinked
    );
}
