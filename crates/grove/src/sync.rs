//! The synchronisation types of grove's cross-thread edges, swappable for
//! [loom](https://docs.rs/loom)'s (tokio's `loom` module, in small).
//!
//! Almost all of grove is single-threaded: a hub and its greenlets share
//! `Cell`s and `RefCell`s. Three edges cross OS threads, and only those
//! import their atomics, locks and threads from here:
//!
//! * a hub's [`Handle`](crate::Handle): the job queue and its "already rung"
//!   flag in `hub/handle.rs`, which other threads push to and the hub drains
//!   after its poller reports the wake-up;
//! * the shared wait-list (`waitlist_shared.rs`) behind
//!   [`AsyncResult`](crate::event::AsyncResult), set from any thread;
//! * the [`ThreadPool`](crate::threadpool::ThreadPool): job queue, worker
//!   threads, result hand-back, shutdown.
//!
//! In a normal build everything here is `std`'s (a re-export: no cost). Built
//! with `--cfg loom`, it is loom's, and the `loom_tests` modules next to that
//! code run the real code paths under loom's model checker, which explores
//! the thread interleavings and the weak-memory outcomes of the atomics.
//! What loom cannot run is replaced by a seam with the same protocol
//! ([`model`]): the eventfd write of the hub's waker becomes a pending-edge
//! counter, and parking a greenlet on its hub becomes a small model of the
//! hub loop (sleep until the waker rings or a timer fires, drain the job
//! queue, run the jobs).
//!
//! Run the models with `scripts/loom.sh`, which is
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p grove --release --lib -- loom
//! ```
//!
//! (its own target directory: `--cfg loom` would otherwise rebuild the
//! normal build's dependencies). A failing model prints the interleaving;
//! `LOOM_LOG=1 LOOM_LOCATION=1` make the report detailed, and
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
    use loom::thread::Thread;

    use crate::hub::handle::Remote;
    use crate::sync::Arc;

    /// The hub's mio `Waker` (an eventfd in the hub's epoll set), modelled.
    ///
    /// An eventfd write leaves an edge that the next `epoll_wait` reports,
    /// however long after; the kernel's locks order the write before the
    /// wait that sees it. So: a counter of pending edges (release on write,
    /// acquire on consumption) plus an unpark of the hub's thread, which a
    /// hub "sleeping in epoll_wait" ([`sleep`]) waits for.
    #[derive(Debug)]
    pub(crate) struct Waker {
        pending: AtomicUsize,
        /// Every `wake` ever made, to bound duplicate wake-ups.
        rung: AtomicUsize,
        hub: Thread,
    }

    impl Waker {
        /// A waker for a hub running on the calling (loom) thread.
        pub(crate) fn new() -> Waker {
            Waker {
                pending: AtomicUsize::new(0),
                rung: AtomicUsize::new(0),
                hub: loom::thread::current(),
            }
        }

        /// The eventfd write.
        pub(crate) fn wake(&self) -> io::Result<()> {
            self.rung.fetch_add(1, Ordering::Relaxed);
            self.pending.fetch_add(1, Ordering::Release);
            self.hub.unpark();
            Ok(())
        }

        /// `epoll_wait` with a zero timeout: whether a wake-up edge was
        /// pending (and consumes it, as the edge-triggered event is reported once).
        pub(crate) fn poll(&self) -> bool {
            self.pending.swap(0, Ordering::Acquire) > 0
        }

        /// How many times `wake` was called.
        pub(crate) fn wakes(&self) -> usize {
            self.rung.load(Ordering::Relaxed)
        }

        /// Whether an edge is pending (the next `epoll_wait` returns at once).
        pub(crate) fn is_pending(&self) -> bool {
            self.pending.load(Ordering::Acquire) > 0
        }
    }

    /// The hub sleeping in `epoll_wait` (no timeout): blocks the calling
    /// loom thread until the waker or a [`Clock`] unparks it. A wake-up that
    /// came before the sleep is not lost (a thread's unpark token, like the
    /// eventfd's edge, stays pending). A hub that nothing wakes stays asleep,
    /// and loom reports the deadlock: that is how a lost wake-up shows.
    pub(crate) fn sleep() {
        loom::thread::park();
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

    /// A model timer: another loom thread "lets time pass" by firing it.
    #[derive(Debug)]
    pub(crate) struct Clock {
        fired: loom::sync::atomic::AtomicBool,
        hub: Thread,
    }

    impl Clock {
        /// A clock for the hub running on the calling thread.
        pub(crate) fn new() -> Arc<Clock> {
            Arc::new(Clock {
                fired: loom::sync::atomic::AtomicBool::new(false),
                hub: loom::thread::current(),
            })
        }

        /// The deadline passes; the sleeping hub wakes up.
        pub(crate) fn fire(&self) {
            self.fired.store(true, Ordering::Release);
            self.hub.unpark();
        }

        fn has_fired(&self) -> bool {
            self.fired.load(Ordering::Acquire)
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
        /// What ends the deadline of a timed wait.
        clock: Option<Arc<Clock>>,
        /// A timer is armed (`add_timer`, until `cancel_timer`).
        timer: Cell<bool>,
    }

    loom::thread_local! {
        static TASK: RefCell<Option<Task>> = RefCell::new(None);
    }

    /// Makes the calling loom thread a hub whose handle's queue is `remote`;
    /// the deadlines of its timed waits pass when `clock` fires. Undone by
    /// [`leave_hub`] (loom wants every `Arc` dropped by the end of each
    /// execution).
    pub(crate) fn enter_hub(remote: Arc<Remote>, clock: Option<Arc<Clock>>) {
        TASK.with(|t| {
            *t.borrow_mut() = Some(Task {
                remote,
                seq: Cell::new(0),
                woken: Cell::new(false),
                clock,
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
        with_task(|t| {
            assert!(
                t.clock.is_some(),
                "grove loom model: a timed wait needs a Clock"
            );
            t.timer.set(true);
        });
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

    /// `Hub::park` for the thread's own stack: runs the hub loop — sleep,
    /// drain the handle's queue, fire the timer — until this episode is
    /// woken, then starts the next episode (older unparkers go stale).
    /// Returns `true` as `Hub::park` does for a task that parked.
    pub(crate) fn park() -> bool {
        loop {
            let remote = with_task(|t| t.remote.clone());
            poll_remote(&remote);
            drop(remote);
            with_task(|t| {
                if t.timer.get() && t.clock.as_ref().is_some_and(|c| c.has_fired()) {
                    // The timer's action: unpark this episode.
                    t.timer.set(false);
                    t.woken.set(true);
                }
            });
            let woken = with_task(|t| {
                let woken = t.woken.replace(false);
                if woken {
                    t.seq.set(t.seq.get().wrapping_add(1));
                }
                woken
            });
            if woken {
                return true;
            }
            sleep();
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
