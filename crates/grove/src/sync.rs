//! The synchronisation types of grove's cross-thread edges, swappable for
//! [loom](https://docs.rs/loom)'s (tokio's `loom` module, in small).
//!
//! Almost all of grove is single-threaded: a hub and its greenlets share
//! `Cell`s and `RefCell`s. Four edges cross OS threads, and only those
//! import their atomics, locks and threads from here:
//!
//! * a hub's [`Handle`](crate::Handle): the job queue and its "already rung"
//!   flag in `hub/handle.rs`, which other threads push to and the hub drains
//!   after its poller reports the wake-up;
//! * the shared wait-list (`wait/shared.rs`) behind
//!   [`AsyncResult`](crate::event::AsyncResult), set from any thread, and
//!   the mailbox through which such objects tell a `grove::wait` on
//!   another thread that they became ready (`wait/mailbox.rs`);
//! * the [`ThreadPool`](crate::threadpool::ThreadPool): job queue, worker
//!   threads, result hand-back, shutdown;
//! * [`grove::channel`](crate::channel): its buffer, endpoint counts and
//!   waker lists under one mutex (`channel/core.rs`).
//!
//! In a normal build everything here is `std`'s (a re-export: no cost). Built
//! with `--cfg loom` (unit tests only), it is loom's, and the `loom_tests` modules next to that
//! code run the real code paths under loom's model checker, which explores
//! the thread interleavings and the weak-memory outcomes of the atomics.
//! What loom cannot run is replaced by a seam with the same protocol
//! (`model`): the eventfd write of the hub's waker becomes a pending-edge
//! counter, and parking a greenlet on its hub becomes a small model of the
//! hub loop (sleep until the waker rings or a timer fires, drain the job
//! queue, run the jobs).
//!
//! The models (`loom_tests` in `hub/handle.rs`, `event.rs`, `wait/mailbox.rs`,
//! `threadpool/mod.rs`, `channel/core.rs`):
//!
//! * pushes from two threads against the hub draining and sleeping: no lost
//!   wake-up, at most one wake-up per drain; the "would block forever" check
//!   against a thread that pushes and drops its handle; teardown against a
//!   push (the job dropped exactly once, never run);
//! * `AsyncResult::get` against a `set` from a thread without a hub; a
//!   timed wait against the set and its deadline; two setters; waiters on
//!   two hubs; every finished wait leaves the wait-list;
//! * the `grove::wait` mailbox: a readiness reported from another thread
//!   against the waiter arming and parking, and from two threads at once:
//!   never lost, each index once, no waker left armed;
//! * `ThreadPool::spawn` and `apply` handing results back, the pool dropped
//!   while its job is queued or running, the last handle dropped by a job of
//!   the pool itself, `apply` timing out while the job runs;
//! * a channel's send and receive across threads (loom's `block_on`), a
//!   rendezvous offer against the last receiver leaving, a waiting receiver
//!   against the last sender leaving.
//!
//! Loom also fails a model that leaks an `Arc` or deadlocks (a hub that
//! nothing wakes). Not modelled: greenlet switches and kills (the model hub
//! parks only the thread's own stack), the same-hub shortcut of a remote
//! unpark, epoll's other events.
//!
//! Run them with `scripts/loom.sh`, which is
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p grove-rt --release --lib -- loom_tests
//! ```
//!
//! (its own target directory: `--cfg loom` would otherwise rebuild the
//! normal build's dependencies). The loom types exist only in the crate's
//! unit-test build (`cfg(all(test, loom))`, as in tokio): loom is a
//! dev-dependency. A failing model prints the interleaving;
//! `LOOM_LOG=trace LOOM_LOCATION=1` make the report detailed, and
//! `LOOM_CHECKPOINT_FILE` replays one execution (see loom's docs).

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{atomic, Arc, Condvar, Mutex, MutexGuard, OnceLock};
#[cfg(not(all(test, loom)))]
pub(crate) use std::thread;

#[cfg(all(test, loom))]
pub(crate) use loom::sync::{atomic, Arc, Condvar, Mutex, MutexGuard};
#[cfg(all(test, loom))]
pub(crate) use loom::thread;
#[cfg(all(test, loom))]
pub(crate) use model::OnceLock;

/// Stand-ins for what loom cannot run: system calls and the hub's own
/// single-threaded scheduling. Only built with `--cfg loom`.
#[cfg(all(test, loom))]
pub(crate) mod model {
    use std::cell::{Cell, RefCell};
    use std::io;

    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

    use crate::hub::handle::Remote;
    use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

    /// The hub's mio `Waker` (an eventfd in the hub's epoll set) and the
    /// hub's timer, as `epoll_wait` sees them, modelled.
    ///
    /// An eventfd write leaves an edge that the next `epoll_wait` reports,
    /// however long after, and the kernel's locks order the write before the
    /// wait that sees it: a count of pending edges under a loom mutex, with
    /// a condition variable for the hub sleeping in `epoll_wait`. (Not
    /// `thread::park`: loom cannot unpark a thread blocked in `join`.)
    #[derive(Debug)]
    pub(crate) struct Waker {
        poll: Mutex<Events>,
        ready: Condvar,
        /// Every `wake` ever made, to bound duplicate wake-ups.
        rung: AtomicUsize,
    }

    #[derive(Debug, Default)]
    struct Events {
        /// Waker edges not yet reported by `epoll_wait`.
        pending: usize,
        /// The deadline of the hub's timed wait has passed ([`Clock`]).
        deadline_passed: bool,
    }

    impl Waker {
        pub(crate) fn new() -> Waker {
            Waker {
                poll: Mutex::new(Events::default()),
                ready: Condvar::new(),
                rung: AtomicUsize::new(0),
            }
        }

        fn events(&self) -> MutexGuard<'_, Events> {
            self.poll.lock().unwrap()
        }

        /// The eventfd write.
        pub(crate) fn wake(&self) -> io::Result<()> {
            self.rung.fetch_add(1, Ordering::Relaxed);
            self.events().pending += 1;
            self.ready.notify_one();
            Ok(())
        }

        /// Whether `epoll_wait` reports the waker (and consumes the edge:
        /// edge-triggered, it is reported once).
        pub(crate) fn poll(&self) -> bool {
            std::mem::take(&mut self.events().pending) > 0
        }

        /// How many times `wake` was called.
        pub(crate) fn wakes(&self) -> usize {
            self.rung.load(Ordering::Relaxed)
        }

        /// `epoll_wait` blocking until the waker has an edge pending or, if
        /// `timed`, the deadline passed. Loom reports a hub that nothing
        /// wakes as a deadlock: that is how a lost wake-up shows.
        fn sleep(&self, timed: bool) {
            let mut events = self.events();
            while events.pending == 0 && !(timed && events.deadline_passed) {
                events = self.ready.wait(events).unwrap();
            }
        }
    }

    /// The hub sleeping in `epoll_wait` without a timeout, until `remote`'s
    /// waker rings (at once if an edge is pending).
    pub(crate) fn sleep(remote: &Remote) {
        remote.waker().sleep(false);
    }

    /// One hub iteration after `epoll_wait` returned: if the waker's edge
    /// was among the events, drain the handle's queue and run the jobs
    /// (`Hub::poll`). Returns whether the waker had fired.
    pub(crate) fn poll_remote(remote: &Remote) -> bool {
        if !remote.waker().poll() {
            return false;
        }
        for job in remote.take_jobs() {
            job();
        }
        true
    }

    /// The passing of a hub's deadline: another loom thread fires it, at
    /// whatever point of the model.
    #[derive(Debug, Clone)]
    pub(crate) struct Clock {
        remote: Arc<Remote>,
    }

    impl Clock {
        /// The clock of the hub whose handle's queue is `remote`.
        pub(crate) fn of(remote: &Arc<Remote>) -> Clock {
            Clock {
                remote: remote.clone(),
            }
        }

        /// The deadline passes; a hub sleeping until it wakes up.
        pub(crate) fn fire(&self) {
            let waker = self.remote.waker();
            waker.events().deadline_passed = true;
            waker.ready.notify_one();
        }

        /// Whether the deadline has passed.
        pub(crate) fn has_fired(&self) -> bool {
            self.remote.waker().events().deadline_passed
        }
    }

    /// The hub side of one loom thread: its handle's queue and the one task
    /// (the thread's own stack) that parks on it. Mirrors what `Hub::park`,
    /// `Unparker::unpark` and the hub loop do for the main task.
    struct Task {
        remote: Arc<Remote>,
        /// The park episode (`Task::seq`).
        seq: Cell<u32>,
        /// Woken during the current episode (runnable).
        woken: Cell<bool>,
        /// A timer is armed (`add_timer`, until `cancel_timer`); its
        /// deadline passes when the hub's [`Clock`] fires.
        timer: Cell<bool>,
    }

    loom::thread_local! {
        static TASK: RefCell<Option<Task>> = RefCell::new(None);
    }

    /// Makes the calling loom thread a hub whose handle's queue is `remote`;
    /// the deadlines of its timed waits pass when its [`Clock`] fires.
    /// Undone by [`leave_hub`] (loom wants every `Arc` dropped by the end of
    /// each execution).
    pub(crate) fn enter_hub(remote: Arc<Remote>) {
        TASK.with(|t| {
            *t.borrow_mut() = Some(Task {
                remote,
                seq: Cell::new(0),
                woken: Cell::new(false),
                timer: Cell::new(false),
            });
        });
    }

    /// Tears the calling thread's model hub down (`Hub::teardown`): the
    /// queue is closed, jobs still queued are dropped.
    pub(crate) fn leave_hub() {
        if let Some(task) = TASK.with(|t| t.borrow_mut().take()) {
            drop(task.remote.close());
        }
    }

    /// Runs `f` on a fresh model hub on the calling thread (`f` gets the
    /// hub's clock), then tears the hub down.
    pub(crate) fn on_hub<R>(f: impl FnOnce(Clock) -> R) -> R {
        let remote = Arc::new(Remote::new(Waker::new()));
        let clock = Clock::of(&remote);
        enter_hub(remote);
        let r = f(clock);
        leave_hub();
        r
    }

    /// Whether the calling thread is a model hub (`enter_hub`).
    pub(crate) fn is_hub() -> bool {
        TASK.with(|t| t.borrow().is_some())
    }

    fn with_task<R>(f: impl FnOnce(&Task) -> R) -> R {
        TASK.with(|t| {
            f(t.borrow()
                .as_ref()
                .expect("grove loom model: call model::enter_hub on this thread first"))
        })
    }

    /// The hub's remote queue, for `Handle::current` and `RemoteUnparker::from_local`.
    pub(crate) fn remote() -> Arc<Remote> {
        with_task(|t| t.remote.clone())
    }

    /// The current park episode, for an unparker (`Hub::current_unparker`).
    pub(crate) fn episode() -> u32 {
        with_task(|t| t.seq.get())
    }

    /// Arms the episode's timer (`Hub::add_timer` with an unpark action).
    pub(crate) fn add_timer() {
        with_task(|t| t.timer.set(true));
    }

    /// Disarms it (`Hub::cancel_timer`).
    pub(crate) fn cancel_timer() {
        with_task(|t| t.timer.set(false));
    }

    /// The job a remote unpark queues, run on the task's hub: an
    /// `Unparker::unpark` of that episode (a stale episode is ignored).
    pub(crate) fn unpark(seq: u32) {
        with_task(|t| {
            if t.seq.get() == seq {
                t.woken.set(true);
            }
        });
    }

    /// `Hub::park` for the thread's own stack: runs the hub loop — drain the
    /// handle's queue, fire the timer, sleep — until this episode is woken,
    /// then starts the next episode (older unparkers go stale). Returns
    /// `true` as `Hub::park` does for a task that parked.
    pub(crate) fn park() -> bool {
        let remote = remote();
        loop {
            poll_remote(&remote);
            let deadline_passed = Clock::of(&remote).has_fired();
            let (woken, timed) = with_task(|t| {
                if t.timer.get() && deadline_passed {
                    // The timer's action: unpark this episode.
                    t.timer.set(false);
                    t.woken.set(true);
                }
                let woken = t.woken.replace(false);
                if woken {
                    t.seq.set(t.seq.get().wrapping_add(1));
                }
                (woken, t.timer.get())
            });
            if woken {
                return true;
            }
            remote.waker().sleep(timed);
        }
    }

    /// `std::sync::OnceLock`, on loom's atomics and cells (loom has none):
    /// the set/get protocol `AsyncResult` relies on — a reader that sees the
    /// value sees all of it — is then checked too.
    #[derive(Debug)]
    pub(crate) struct OnceLock<T> {
        /// 0: empty, 1: being written, 2: written.
        state: AtomicU8,
        value: UnsafeCell<Option<T>>,
    }

    // SAFETY: as `std::sync::OnceLock`: the value is written once, by the
    // thread that won the 0 -> 1 transition, and only read after it
    // published state 2 with release ordering.
    unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
    // SAFETY: owning the lock owns the value.
    unsafe impl<T: Send> Send for OnceLock<T> {}

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            OnceLock {
                state: AtomicU8::new(0),
                value: UnsafeCell::new(None),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            if self.state.load(Ordering::Acquire) != 2 {
                return None;
            }
            // SAFETY: state 2 means the value was written and will never be
            // written again; the acquire load ordered that write before us.
            self.value.with(|v| unsafe { (*v).as_ref() })
        }

        pub(crate) fn set(&self, value: T) -> Result<(), T> {
            if self
                .state
                .compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire)
                .is_err()
            {
                // As std's: the loser returns once the value is there.
                while self.state.load(Ordering::Acquire) != 2 {
                    loom::thread::yield_now();
                }
                return Err(value);
            }
            // SAFETY: winning 0 -> 1 gives this thread the only write access.
            self.value.with_mut(|v| unsafe { *v = Some(value) });
            self.state.store(2, Ordering::Release);
            Ok(())
        }
    }
}
