//! Thread pools: run blocking, CPU-bound or foreign code on OS threads while
//! the hub keeps running (gevent's `gevent.threadpool`).
//!
//! A greenlet must not block its thread: a `getaddrinfo`, a long hash, a C
//! library's blocking call would stall every other greenlet of the hub. A
//! [`ThreadPool`] runs such a closure on one of its OS threads instead;
//! [`apply`](ThreadPool::apply) parks only the calling greenlet until the
//! result is there, and [`spawn`](ThreadPool::spawn) hands back an
//! [`AsyncResult`] at once. [`spawn_blocking`] does the same on a
//! process-wide default pool, gevent's `get_hub().threadpool`.
//!
//! A job's result travels back through a wait-list shared between threads:
//! the pool thread stores it and wakes the waiter on its own hub through that
//! hub's [`Handle`](crate::Handle). While a greenlet waits for a job, its hub
//! knows that a wake-up may still come and never reports "would block
//! forever".
//!
//! ```
//! use std::time::Duration;
//!
//! // The ticker keeps ticking while the main stack waits for a blocking job.
//! let ticker = grove::spawn(|| {
//!     let mut ticks = 0;
//!     for _ in 0..5 {
//!         grove::sleep(Duration::from_millis(10));
//!         ticks += 1;
//!     }
//!     ticks
//! });
//! let answer = grove::threadpool::spawn_blocking(|| {
//!     std::thread::sleep(Duration::from_millis(300)); // blocks a pool thread, not the hub
//!     6 * 7
//! });
//! assert_eq!(answer, 42);
//! assert!(ticker.is_dead());
//! assert_eq!(ticker.join().unwrap(), 5);
//! ```

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::event::AsyncResult;
use crate::hub::{Hub, Primitive, WaitOn};
use crate::sync::{Arc, Condvar, Mutex};
use crate::timeout::Timeout;
use crate::wait::list::Wait;
use crate::wait::shared::SharedWaitList;

/// What a greenlet parked here waits on, for reports.
static WAITS_ON_THREAD_POOL_JOB: Primitive =
    Primitive::new("a thread-pool job (ThreadPool::apply, spawn_blocking)");

pub(crate) type Job = Box<dyn FnOnce() + Send>;

mod default;
mod panicked;
mod workers;

pub use default::{default_pool, spawn_blocking, SIZE_ENV};
pub use panicked::JobPanicked;
use workers::{forget_threads_after_fork, start_thread, Owner, Shared, State};

/// A pool of OS threads that run closures for greenlets (gevent's `ThreadPool`).
///
/// Up to `n` threads are started lazily, one whenever a job arrives and no
/// started thread is idle; they then live until the pool is dropped. Jobs run
/// in the order they were submitted (FIFO), each on whichever thread is free.
///
/// `ThreadPool` is a cheap `Clone` handle (clones are the same pool) and is
/// `Send + Sync`: any thread may submit jobs, and each waiter is woken on its
/// own hub. Jobs are `FnOnce() -> T + Send + 'static`.
///
/// # Panics in jobs
///
/// A job that panics never takes its thread down. [`apply`](ThreadPool::apply)
/// (and [`spawn_blocking`]) re-raise the panic at the caller with its
/// original payload, as if the closure had run there; [`spawn`](ThreadPool::spawn)
/// stores it as `Err(`[`JobPanicked`]`)` in the returned `AsyncResult`. The
/// panic message is printed once, by the pool thread's panic hook.
///
/// # Shutdown
///
/// When the last handle is dropped, the pool stops taking jobs; jobs already
/// queued and running still run to completion, then the threads exit and are
/// joined. A greenlet that drops the pool waits for that cooperatively (the
/// hub keeps running); in hub context or while unwinding, the drop blocks the
/// OS thread until the threads have finished their jobs. A job that never
/// returns therefore makes the drop hang: bound your jobs. A pool dropped by
/// one of its own jobs (the job held the last clone) does not join, its
/// threads exit on their own after the queue is drained.
///
/// # Examples
///
/// ```
/// use grove::threadpool::ThreadPool;
///
/// let pool = ThreadPool::new(2);
/// let squares: Vec<_> = (0..4u64).map(|i| pool.spawn(move || i * i)).collect();
/// let sum: u64 = squares.iter().map(|r| r.get().unwrap()).sum();
/// assert_eq!(sum, 14);
///
/// // A panic on a pool thread comes back to the caller of `apply`.
/// let caught = std::panic::catch_unwind(|| pool.apply(|| panic!("bad input")));
/// assert_eq!(*caught.unwrap_err().downcast::<&str>().unwrap(), "bad input");
/// ```
///
/// # Kill and timeout safety
///
/// A greenlet killed or timed out while it waits in
/// [`apply`](ThreadPool::apply) (or on the `AsyncResult` of
/// [`spawn`](ThreadPool::spawn)) leaves the shared wait-list at once. The
/// job itself cannot be cancelled: it keeps running on its thread, and its
/// result is dropped there when it finishes (a panic in it is printed by the
/// pool thread's hook and otherwise ignored). Called while the current
/// greenlet is unwinding (in a `Drop` during a panic or kill), where grove
/// cannot park, `apply` runs the closure inline on the calling thread.
#[derive(Clone)]
pub struct ThreadPool {
    owner: Arc<Owner>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.owner.shared.lock();
        f.debug_struct("ThreadPool")
            .field("max_threads", &self.owner.shared.max_threads)
            .field("threads", &state.threads)
            .field("queued", &state.queue.len())
            .field("running", &state.running)
            .finish()
    }
}

impl ThreadPool {
    /// A pool of at most `n` threads, started lazily as jobs arrive.
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(4);
    /// assert_eq!((pool.max_threads(), pool.threads()), (4, 0)); // threads start lazily
    /// ```
    ///
    /// # Panics
    /// If `n` is zero: a pool without threads could never run a job (a
    /// waiter would hang forever), so this is a programming error.
    #[track_caller]
    pub fn new(n: usize) -> ThreadPool {
        assert!(
            n > 0,
            "grove: ThreadPool::new(0): a thread pool needs at least one thread"
        );
        ThreadPool {
            owner: Arc::new(Owner {
                shared: Arc::new(Shared {
                    state: Mutex::new(State {
                        generation: crate::fork::generation(),
                        ..State::default()
                    }),
                    work: Condvar::new(),
                    exited: AsyncResult::new(),
                    max_threads: n,
                }),
            }),
        }
    }

    /// The most threads this pool runs (the `n` it was made with).
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(2);
    /// assert_eq!(pool.max_threads(), 2);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.owner.shared.max_threads
    }

    /// Threads started so far (they live until the pool is dropped).
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(2);
    /// assert_eq!(pool.threads(), 0);
    /// pool.apply(|| ());
    /// assert_eq!(pool.threads(), 1); // one job needed one thread
    /// ```
    pub fn threads(&self) -> usize {
        self.owner.shared.lock().threads
    }

    /// Jobs queued or running right now (gevent's `len(pool)`).
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let job = pool.spawn(move || rx.recv().is_ok()); // blocks its thread
    /// assert_eq!(pool.pending(), 1);
    /// tx.send(()).unwrap();
    /// assert!(job.get().unwrap());
    /// ```
    pub fn pending(&self) -> usize {
        let state = self.owner.shared.lock();
        state.queue.len() + state.running
    }

    /// Runs `f` on a pool thread; returns at once with an [`AsyncResult`]
    /// that is set when `f` finishes: `Ok(value)`, or `Err(JobPanicked)` if
    /// `f` panicked. Any thread and any greenlet may wait on it.
    ///
    /// `T` must be `Sync` as well as `Send`, since an `AsyncResult` is read
    /// by reference from several threads; [`apply`](ThreadPool::apply) has
    /// no such bound.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::threadpool::ThreadPool::new(2);
    /// let digest = pool.spawn(|| {
    ///     std::thread::sleep(Duration::from_millis(20)); // blocks a pool thread, not the hub
    ///     "d41d8cd9"
    /// });
    /// let ticker = grove::spawn(|| grove::sleep(Duration::from_millis(1))); // runs meanwhile
    /// ticker.join().unwrap();
    /// assert_eq!(digest.get().unwrap(), "d41d8cd9");
    /// ```
    ///
    /// # Panics
    /// If no pool thread is running and none can be started (the OS refused
    /// to create a thread).
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> AsyncResult<Result<T, JobPanicked>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        let result = AsyncResult::new();
        let setter = result.clone();
        self.submit(Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(JobPanicked::new);
            let _ = setter.set(outcome);
        }));
        result
    }

    /// Runs `f` on a pool thread and waits for its value: the calling
    /// greenlet parks, the hub keeps running other greenlets. On a thread's
    /// own stack, the hub runs until the value is there.
    ///
    /// If `f` panics, the panic is re-raised here with its original payload
    /// (`std::panic::resume_unwind`), as if `f` had run on this thread.
    ///
    /// Called from a job of this same pool, `f` runs inline: a pool thread
    /// waiting for another thread of a full pool could wait forever.
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(2);
    /// let config = pool.apply(|| std::fs::read_to_string("/proc/self/status").unwrap());
    /// assert!(config.contains("Name:"));
    /// ```
    ///
    /// # Panics
    /// In hub context (a link, timer or `Handle::call` callback): hub
    /// callbacks must not block. When `f` panics (see above). As
    /// [`spawn`](ThreadPool::spawn) when no thread can be started.
    #[track_caller]
    pub fn apply<T, F>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run(f, None)
            .unwrap_or_else(|Timeout| unreachable!("no deadline"))
    }

    /// [`apply`](ThreadPool::apply) that waits at most `timeout` for the
    /// value. On `Err(Timeout)` the job keeps running on its thread and its
    /// value is dropped there when it finishes.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = grove::threadpool::ThreadPool::new(1);
    /// let slow = pool.apply_timeout(|| std::thread::sleep(Duration::from_millis(200)), Duration::from_millis(5));
    /// assert_eq!(slow, Err(grove::Timeout)); // the job itself keeps running on its thread
    /// assert_eq!(pool.apply_timeout(|| 1 + 1, Duration::from_secs(5)), Ok(2));
    /// ```
    ///
    /// # Errors
    /// `Err(Timeout)` if `f` did not finish in time.
    ///
    /// # Panics
    /// As [`apply`](ThreadPool::apply).
    #[track_caller]
    pub fn apply_timeout<T, F>(&self, f: F, timeout: Duration) -> Result<T, Timeout>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Hub::get().deadline_after(timeout);
        self.run(f, deadline)
    }

    #[track_caller]
    fn run<T, F>(&self, f: F, deadline: Option<Instant>) -> Result<T, Timeout>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if std::thread::panicking() || self.owner.shared.is_own_thread() {
            return Ok(f());
        }
        #[cfg(not(all(test, loom)))] // the models wait on a model hub, never in hub context
        if Hub::get().current().is_none() {
            panic!(
                "grove: ThreadPool::apply (or spawn_blocking) called inside a hub callback \
                 (a link, timer or Handle::call callback); hub callbacks must not block: \
                 use ThreadPool::spawn, or spawn a greenlet from the callback"
            );
        }
        let slot: Arc<SharedWaitList<Option<std::thread::Result<T>>>> =
            Arc::new(SharedWaitList::new(None));
        let filler = slot.clone();
        self.submit(Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            let mut locked = filler.lock();
            *locked = Some(outcome);
            locked.notify_all();
        }));
        let mut locked = slot.lock();
        loop {
            if let Some(outcome) = locked.take() {
                drop(locked);
                return Ok(outcome.unwrap_or_else(|payload| resume_unwind(payload)));
            }
            let (wait, relocked) =
                locked.wait(WaitOn::Primitive(&WAITS_ON_THREAD_POOL_JOB), deadline);
            locked = relocked;
            match wait {
                Wait::Notified => {}
                Wait::TimedOut if locked.is_none() => return Err(Timeout),
                Wait::TimedOut => {}
                Wait::Unwinding => {
                    // Not reached: an unwinding caller ran `f` inline above,
                    // and a greenlet cannot start unwinding while parked. Be
                    // safe anyway: block this OS thread until the job is done.
                    drop(locked);
                    loop {
                        std::thread::sleep(Duration::from_millis(1));
                        if let Some(outcome) = slot.lock().take() {
                            return Ok(outcome.unwrap_or_else(|payload| resume_unwind(payload)));
                        }
                    }
                }
            }
        }
    }

    /// Queues a fire-and-forget job (a panic in it is printed by the pool
    /// thread's hook and otherwise ignored). Never panics: if no thread runs
    /// and none can be started, the job is handed back for the caller to run.
    pub(crate) fn try_execute(&self, job: Job) -> Result<(), Job> {
        self.try_submit(job).map_err(|(_, job)| job)
    }

    #[track_caller]
    fn submit(&self, job: Job) {
        if let Err((err, job)) = self.try_submit(job) {
            drop(job);
            panic!("grove: cannot start a thread-pool thread: {err}");
        }
    }

    /// Queues `job`, starting a thread if needed; fails only if no thread
    /// runs and none can be started.
    fn try_submit(&self, job: Job) -> Result<(), (std::io::Error, Job)> {
        let shared = &self.owner.shared;
        let mut state = shared.lock();
        forget_threads_after_fork(&mut state);
        // Start a thread when the queued jobs (with this one) outnumber the
        // idle threads that will take them.
        if state.queue.len() + 1 > state.idle && state.threads < shared.max_threads {
            match start_thread(shared) {
                Ok(handle) => {
                    state.threads += 1;
                    state.handles.push(handle);
                }
                Err(err) if state.threads == 0 => return Err((err, job)),
                // The running threads will get to the job.
                Err(_) => {}
            }
        }
        state.queue.push_back(job);
        drop(state);
        shared.work.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn pool_and_error_are_send_and_sync() {
        assert_send_sync::<ThreadPool>();
        assert_send_sync::<JobPanicked>();
    }

    #[test]
    fn threads_start_lazily_up_to_the_maximum() {
        let pool = ThreadPool::new(3);
        assert_eq!(pool.threads(), 0);
        assert_eq!(pool.apply(|| 1), 1);
        assert_eq!(pool.threads(), 1);
        let gate = Arc::new(std::sync::Barrier::new(4));
        let results: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                pool.spawn(move || {
                    gate.wait();
                })
            })
            .collect();
        gate.wait(); // all three jobs run at once: three threads
        for r in &results {
            r.get().unwrap();
        }
        assert_eq!(pool.threads(), 3);
        let more: Vec<_> = (0..10).map(|i| pool.spawn(move || i)).collect();
        assert_eq!(more.iter().map(|r| r.get().unwrap()).sum::<i32>(), 45);
        assert_eq!(pool.threads(), 3);
        // A job's result is set just before its worker counts it as done.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.pending() != 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(pool.pending(), 0);
    }

    #[test]
    fn apply_from_a_job_of_the_same_pool_runs_inline() {
        let pool = ThreadPool::new(1);
        let inner = pool.clone();
        let same = pool.apply(move || {
            let outer = std::thread::current().id();
            inner.apply(move || std::thread::current().id() == outer)
        });
        assert!(same);
    }

    #[test]
    fn job_panicked_hands_the_payload_out_once() {
        let err = JobPanicked::new(Box::new(7u32));
        assert_eq!(err.message(), "<non-string panic payload>");
        let again = err.clone();
        assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 7);
        assert!(again.into_panic().downcast::<String>().is_ok());
    }

    #[test]
    fn dropping_the_pool_finishes_queued_jobs_and_joins() {
        let pool = ThreadPool::new(1);
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..5 {
            let done = done.clone();
            let job = move || {
                std::thread::sleep(Duration::from_millis(5));
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            };
            assert!(pool.try_execute(Box::new(job)).is_ok());
        }
        drop(pool);
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 5);
    }
}

/// Models of the pool (`scripts/loom.sh`): submit, run, hand the result back
/// to a waiter on a (model) hub, shut down and join, with the pool's worker
/// a loom thread. Loom also fails a model that leaks an `Arc` (a waiter's
/// slot, the pool's state, a hub's queue).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::sync::model::on_hub;

    /// `spawn`, then drop the pool while the job is queued or running: the
    /// job still runs, once; its result reaches the waiter; the drop waits
    /// for the worker (parked on the pool's `exited` result) and joins it.
    #[test]
    fn loom_spawn_then_drop_the_pool_delivers_the_result_once() {
        loom::model(|| {
            on_hub(|_| {
                let pool = ThreadPool::new(1);
                let runs = Arc::new(AtomicUsize::new(0));
                let counted = runs.clone();
                let result = pool.spawn(move || counted.fetch_add(1, Ordering::Relaxed) + 41);
                drop(pool);
                assert_eq!(result.get().unwrap(), 41);
                assert_eq!(runs.load(Ordering::Relaxed), 1);
                assert!(!result.has_waiter_nodes());
            });
        });
    }

    /// The last handle dropped by a job of the pool itself or by the hub, in
    /// either order: the job runs once and its result arrives; a worker
    /// never joins itself; the hub's drop waits for the worker to exit.
    #[test]
    fn loom_last_handle_dropped_by_a_job_or_by_the_hub() {
        loom::model(|| {
            on_hub(|_| {
                let pool = ThreadPool::new(1);
                let inner = pool.clone();
                let result = pool.spawn(move || {
                    drop(inner);
                    5
                });
                drop(pool);
                assert_eq!(result.get().unwrap(), 5);
                assert!(!result.has_waiter_nodes());
            });
        });
    }

    /// `apply`: the caller parks on the job's slot until the worker fills it.
    #[test]
    fn loom_apply_waits_for_the_worker() {
        loom::model(|| {
            on_hub(|_| {
                let pool = ThreadPool::new(1);
                assert_eq!(pool.apply(|| 6 * 7), 42);
                drop(pool);
            });
        });
    }

    /// A timed `apply` whose deadline passes while the job runs: the caller
    /// gets the value or `Timeout` (only once the deadline passed), leaves
    /// the slot's list, and the job's late result is dropped on the worker.
    #[test]
    fn loom_apply_timing_out_while_the_job_runs() {
        loom::model(|| {
            on_hub(|clock| {
                let pool = ThreadPool::new(1);
                let timer = clock.clone();
                let tick = crate::sync::thread::spawn(move || timer.fire());
                let far = Instant::now() + Duration::from_secs(3600);
                let got = pool.run(|| 42, Some(far));
                assert!(got == Ok(42) || (got == Err(Timeout) && clock.has_fired()));
                drop(pool);
                tick.join().unwrap();
            });
        });
    }
}
