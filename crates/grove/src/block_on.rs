//! Running a `Future` on the calling greenlet: the bridge from async Rust.
//!
//! [`block_on`] polls a future on the greenlet that calls it. Its `Waker` is
//! the greenlet's [`RemoteUnparker`] for the current park episode, so a wake
//! from any thread reaches the greenlet through its hub's
//! [`Handle`](crate::Handle) (a job on the hub's queue, or a plain local
//! unpark on the same hub) — the mechanism every cross-thread wake-up in
//! grove already uses. While the future is pending the greenlet parks and
//! the hub runs other greenlets; on a thread's own stack the park drives the
//! hub, as `join` does there.
//!
//! Invariants:
//!
//! * A waker names one park episode. A wake that arrives during `poll`
//!   marks the episode notified, so the following park returns at once; a
//!   wake that arrives late names an episode that has ended and is ignored.
//!   Spurious and duplicate wake-ups therefore cost one extra poll at most.
//! * The poll loop never parks after a poll during which the greenlet parked
//!   (a future that blocks inside `poll`, a nested `block_on`): the wakers it
//!   handed out name an episode that is over, so it polls again instead.
//! * A fresh waker is made for every poll and dropped before the park: the
//!   hub's "would block forever" check then sees exactly the wakers the
//!   future kept (each holds a `Handle`), so a future that can never be woken
//!   is reported on a thread's own stack instead of hanging it.
//!
//! Sockets polled inside `block_on` register their readiness straight with
//! the hub ([`register_io`]): the fd waits list the greenlet's unparker for
//! the episode, removed again when the park ends.
//!
//! Cost: one allocation (the waker) and one `Handle` clone per poll.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

// Wakers are std's `Arc`s in every build (`Waker::from` takes no other).
use crate::hub::{Hub, Primitive, RemoteUnparker, TimerAction, Unparker, WaitOn};
use std::sync::Arc;

/// What a greenlet parked in `block_on` waits on, for reports.
static WAITS_ON_FUTURE: Primitive = Primitive::new("a future (grove::block_on)");

/// Polls `future` to completion on the calling greenlet and returns its output.
///
/// While the future is pending, the greenlet parks and the hub runs the
/// other greenlets; a wake-up from any thread (a tokio task, a thread pool
/// job, a `grove::channel` sender on an OS thread) resumes it. On a thread's
/// own stack (outside any greenlet) the hub runs while it waits, exactly as
/// the same call in a greenlet of a fresh hub would.
///
/// Pure futures — those that need no particular runtime's reactor or timer
/// — run here directly: `futures` combinators, async channels, grove's
/// [`channel`](crate::channel) and grove sockets' `AsyncRead`/`AsyncWrite`.
/// A future that needs tokio's reactor (reqwest, sqlx, tonic) belongs on
/// `grove::tokio::run` (feature `tokio`).
///
/// A panic inside the future unwinds out of `block_on`, as any panic in the
/// greenlet would: `join` returns it as `GreenletError::Panicked` and the hub
/// carries on.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
///
/// /// Pending once, waking itself from another thread.
/// struct FromThread(bool);
///
/// impl Future for FromThread {
///     type Output = u32;
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
///         if self.0 {
///             return Poll::Ready(42);
///         }
///         self.0 = true;
///         let waker = cx.waker().clone();
///         std::thread::spawn(move || waker.wake());
///         Poll::Pending
///     }
/// }
///
/// let g = grove::spawn(|| grove::block_on(FromThread(false)));
/// assert_eq!(g.join().unwrap(), 42);
/// assert_eq!(grove::block_on(async { 6 * 7 }), 42); // on main's own stack
/// ```
///
/// # Kill and timeout safety
///
/// A kill or an expiring [`with_timeout`](crate::with_timeout) unwinds out
/// of the park, which drops the future (it is pinned on the greenlet's
/// stack): its destructors run, as for any value the greenlet owned. Wakers
/// it handed out stay harmless: they name an episode that is over.
///
/// # Panics
///
/// Inside a hub callback (a link, timer or `Handle::call` callback), where
/// nothing may block. A grove blocking call made while the thread is already
/// unwinding must not park: there the future is polled with a waker that
/// unparks the OS thread, blocking it (not the hub) until the future is done.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let hub = Hub::get();
    if hub.current().is_none() {
        in_hub_context();
    }
    if std::thread::panicking() {
        return block_thread(future);
    }
    let future = pin!(future);
    poll_until(hub, WaitOn::Primitive(&WAITS_ON_FUTURE), future, None)
        .unwrap_or_else(|| unreachable!("no deadline was given"))
}

/// Polls `future` on the calling greenlet (or thread stack, driving its hub)
/// until it is ready or `deadline` passes (`None`: the future is *not*
/// dropped, so the caller can settle it). Used by the blocking forms of
/// grove's channel, whose timed-out sends must hand their value back.
///
/// # Panics
/// In hub context.
#[track_caller]
pub(crate) fn block_on_until<F: Future>(
    on: WaitOn,
    future: Pin<&mut F>,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    let hub = Hub::get();
    if hub.current().is_none() {
        in_hub_context();
    }
    poll_until(hub, on, future, deadline)
}

/// The poll loop of [`block_on`]; see the module docs for its invariants.
fn poll_until<F: Future>(
    hub: &'static Hub,
    on: WaitOn,
    mut future: Pin<&mut F>,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    loop {
        let unparker = hub.current_unparker();
        let io = IoWaits::default();
        let waker = Waker::from(Arc::new(GreenletWaker(RemoteUnparker::from_local(
            &unparker,
        ))));
        let poll = {
            let scope = Scope::new(&waker, &unparker, &io);
            let _entered = scope.enter();
            future.as_mut().poll(&mut Context::from_waker(&waker))
        };
        if let Poll::Ready(output) = poll {
            return Some(output);
        }
        drop(waker);
        if deadline.is_some_and(|d| d <= hub.deadline_base()) {
            return None;
        }
        // A park inside `poll` ended the episode the waker named: poll again.
        if unparker.task.seq.get() != unparker.seq {
            continue;
        }
        let timer = deadline.map(|d| hub.add_timer(d, TimerAction::unpark(unparker.clone())));
        let parked = hub.park(on);
        if let Some(timer) = timer {
            hub.cancel_timer(timer);
        }
        drop(io);
        if !parked {
            // The greenlet started unwinding (a destructor blocking on a
            // future): finish on the thread instead of spinning here.
            return Some(block_thread(future));
        }
    }
}

#[cold]
#[track_caller]
fn in_hub_context() -> ! {
    panic!(
        "grove: block_on (or a blocking grove::channel call) inside a hub callback \
         (a link, timer or Handle::call callback); hub callbacks must not block: \
         spawn a greenlet from the callback and block there"
    )
}

/// The waker of one park episode of a greenlet (or thread stack).
struct GreenletWaker(RemoteUnparker);

impl Wake for GreenletWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

// ---- blocking an OS thread ---------------------------------------------------

/// Unparks one OS thread: the waker of a thread that blocks without a hub.
pub(crate) struct ThreadWaker(std::thread::Thread);

impl ThreadWaker {
    /// A waker that unparks the calling thread.
    pub(crate) fn current() -> Waker {
        Waker::from(Arc::new(ThreadWaker(std::thread::current())))
    }
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion, blocking the OS thread between polls.
pub(crate) fn block_thread<F: Future>(future: F) -> F::Output {
    let future = pin!(future);
    block_thread_until(future, None).unwrap_or_else(|| unreachable!("no deadline was given"))
}

/// Polls `future` until it is ready or `deadline` passes, blocking the OS
/// thread between polls (`std::thread::park`, which tolerates spurious
/// returns: every return just polls again).
pub(crate) fn block_thread_until<F: Future>(
    mut future: Pin<&mut F>,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    let waker = ThreadWaker::current();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if deadline <= now {
                    return None;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}

// ---- the poll scope: registering fd readiness directly -----------------------

/// Fd waits registered during one poll, removed when the park ends.
#[derive(Default)]
struct IoWaits {
    undo: RefCell<Vec<Box<dyn FnOnce()>>>,
}

impl Drop for IoWaits {
    fn drop(&mut self) {
        for undo in self.undo.take() {
            undo();
        }
    }
}

/// What `block_on` is polling right now on this thread: its waker, the
/// episode, and where fd waits go. Set only for the duration of one `poll`.
struct Scope {
    waker: *const Waker,
    unparker: *const Unparker,
    io: *const IoWaits,
    previous: *const Scope,
}

thread_local! {
    static SCOPE: Cell<*const Scope> = const { Cell::new(std::ptr::null()) };
}

/// Restores the enclosing scope when a poll returns or unwinds.
struct Entered<'a>(&'a Scope);

impl Scope {
    fn new(waker: &Waker, unparker: &Unparker, io: &IoWaits) -> Scope {
        Scope {
            waker,
            unparker,
            io,
            previous: SCOPE.with(Cell::get),
        }
    }

    /// Makes this the scope `register_io` sees until the guard drops (the
    /// guard borrows the scope, so it cannot outlive it).
    fn enter(&self) -> Entered<'_> {
        SCOPE.with(|s| s.set(self));
        Entered(self)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        SCOPE.with(|s| s.set(self.0.previous));
    }
}

/// Called by a socket's `poll_read`/`poll_write` on `WouldBlock`. If the
/// poll comes straight from [`block_on`] on this greenlet (the context's
/// waker is `block_on`'s own), `register(unparker)` adds the episode's
/// unparker to the fd's waiters and returns the closure that removes it;
/// that closure runs when the park ends. Returns `false` (and calls
/// nothing) for any other waker, which the caller must wake by other means.
pub(crate) fn register_io(
    waker: &Waker,
    register: impl FnOnce(&Unparker) -> Box<dyn FnOnce()>,
) -> bool {
    let scope = SCOPE.with(Cell::get);
    if scope.is_null() {
        return false;
    }
    // SAFETY: a non-null `SCOPE` points at the `Scope` of a poll that is
    // still running further up this thread's stack: its `Entered` guard
    // borrows it and resets `SCOPE` before it and the values it points at
    // (the waker, unparker and fd-wait list of that poll) are dropped.
    let (own_waker, unparker, io) = unsafe {
        let scope = &*scope;
        (&*scope.waker, &*scope.unparker, &*scope.io)
    };
    // The scope's own waker, and still its greenlet in the same episode (a
    // greenlet that parks inside `poll` lets others run under this scope).
    let same_episode = Hub::get()
        .current()
        .is_some_and(|task| std::ptr::eq(task, &*unparker.task) && task.seq.get() == unparker.seq);
    if !same_episode || !waker.will_wake(own_waker) {
        return false;
    }
    let undo = register(unparker);
    io.undo.borrow_mut().push(undo);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Poll;

    #[test]
    fn a_ready_future_never_parks() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    #[test]
    fn a_wake_during_poll_is_not_lost() {
        let mut polls = 0;
        let out = block_on(std::future::poll_fn(|cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        }));
        assert_eq!(out, 3);
    }

    #[test]
    fn the_thread_path_polls_until_ready() {
        let mut polls = 0;
        let out = block_thread(std::future::poll_fn(|cx| {
            polls += 1;
            if polls < 2 {
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake());
                Poll::Pending
            } else {
                Poll::Ready("done")
            }
        }));
        assert_eq!(out, "done");
    }

    #[test]
    fn register_io_takes_only_block_ons_own_waker() {
        use std::rc::Rc;
        let undone = Rc::new(Cell::new(0));
        let u = undone.clone();
        let mut direct = None;
        let direct = block_on(std::future::poll_fn(move |cx| {
            if let Some(direct) = direct {
                return Poll::Ready(direct);
            }
            let u = u.clone();
            let ours = register_io(cx.waker(), move |_| Box::new(move || u.set(u.get() + 1)));
            let other = register_io(Waker::noop(), |_| unreachable!("not block_on's waker"));
            assert!(!other);
            direct = Some(ours);
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        assert!(direct, "a poll straight from block_on registers directly");
        assert_eq!(
            undone.get(),
            1,
            "the registration is undone when the park ends"
        );
        assert!(!register_io(Waker::noop(), |_| unreachable!(
            "outside block_on"
        )));
    }

    #[test]
    fn a_deadline_leaves_the_future_alive() {
        let mut future = pin!(std::future::pending::<()>());
        let deadline = Instant::now() + std::time::Duration::from_millis(5);
        let on = WaitOn::Primitive(&WAITS_ON_FUTURE);
        assert!(block_on_until(on, future.as_mut(), Some(deadline)).is_none());
        assert!(block_thread_until(future, Some(Instant::now())).is_none());
    }
}
