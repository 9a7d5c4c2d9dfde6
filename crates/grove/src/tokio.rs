//! A shared tokio side runtime for futures that need tokio's reactor
//! (feature `tokio`).
//!
//! Some async crates (reqwest, sqlx, tonic, the cloud SDKs) only run inside
//! a tokio runtime: they reach for tokio's reactor and timers from inside
//! `poll`. [`run`] sends such a future to one process-wide multi-thread
//! tokio runtime, started on first use on side threads, and parks the
//! calling greenlet until the result comes back; the hub keeps running the
//! other greenlets meanwhile. The wake-up travels the way every cross-thread
//! wake-up in grove does: the task's `JoinHandle` is polled by
//! [`block_on`](crate::block_on), whose waker unparks the greenlet through
//! its hub's [`Handle`](crate::Handle).
//!
//! The runtime has `GROVE_TOKIO_THREADS` worker threads (default: one per
//! core) named `grove-tokio`, with tokio's I/O and time drivers on. It is
//! never shut down: its threads end with the process.
//!
//! # Examples
//!
//! ```
//! let g = grove::spawn(|| {
//!     grove::tokio::run(async {
//!         // tokio's reactor and timers are available here.
//!         tokio::task::yield_now().await;
//!         tokio::runtime::Handle::current().metrics().num_workers() > 0
//!     })
//! });
//! assert!(g.join().unwrap());
//! ```

use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::OnceLock;

/// The shared runtime, or why it could not start (kept: every later call
/// reports the same error rather than trying again and again).
static RUNTIME: OnceLock<Result<::tokio::runtime::Runtime, StartError>> = OnceLock::new();

/// The shared tokio runtime could not be started; [`try_run`] and
/// [`runtime`] return it, [`run`] panics with its message.
///
/// ```
/// # fn f(err: grove::tokio::StartError) {
/// // "grove::tokio: cannot start the shared tokio runtime: <why>"
/// eprintln!("{err}");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    reason: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "grove::tokio: cannot start the shared tokio runtime: {}",
            self.reason
        )
    }
}

impl std::error::Error for StartError {}

/// The shared runtime, started on first use.
///
/// # Errors
/// [`StartError`] if it could not be started (`GROVE_TOKIO_THREADS` is not a
/// positive number, or the OS refused threads or an epoll instance); the
/// same error on every later call.
///
/// # Examples
///
/// ```
/// // A long-lived task of your own on the shared runtime.
/// let (tx, rx) = grove::channel::unbounded();
/// grove::tokio::runtime().unwrap().spawn(async move {
///     tx.send_async("from tokio").await.unwrap();
/// });
/// assert_eq!(rx.recv(), Ok("from tokio"));
/// ```
pub fn runtime() -> Result<&'static ::tokio::runtime::Runtime, StartError> {
    RUNTIME.get_or_init(start).as_ref().map_err(Clone::clone)
}

fn start() -> Result<::tokio::runtime::Runtime, StartError> {
    let mut builder = ::tokio::runtime::Builder::new_multi_thread();
    if let Ok(threads) = std::env::var("GROVE_TOKIO_THREADS") {
        let n = threads.parse::<usize>().ok().filter(|&n| n > 0);
        let n = n.ok_or_else(|| StartError {
            reason: format!("GROVE_TOKIO_THREADS={threads:?} is not a positive number of threads"),
        })?;
        builder.worker_threads(n);
    }
    builder
        .thread_name("grove-tokio")
        .enable_all()
        .build()
        .map_err(|err| StartError {
            reason: err.to_string(),
        })
}

/// Runs `future` on the shared tokio runtime and returns its output; the
/// calling greenlet parks until then (on a thread's own stack, the hub runs
/// meanwhile, as for any grove blocking call).
///
/// A panic in the future is re-raised here, in the calling greenlet.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let answers: Vec<_> = (0..10u64)
///     .map(|i| grove::spawn(move || grove::tokio::run(async move {
///         tokio::time::sleep(Duration::from_millis(10)).await;
///         i * 2
///     })))
///     .collect();
/// let total: u64 = answers.into_iter().map(|g| g.join().unwrap()).sum();
/// assert_eq!(total, 90);
/// ```
///
/// # Kill and timeout safety
///
/// A kill or an expiring [`with_timeout`](crate::with_timeout) unwinds the
/// calling greenlet out of its park and aborts the tokio task: the future
/// is dropped on the runtime at its next await point (tokio's
/// `JoinHandle::abort`).
///
/// # Panics
///
/// If the runtime cannot be started (the message says why; [`try_run`]
/// returns it as a value instead), and inside a hub callback, where nothing
/// may block.
#[track_caller]
pub fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    try_run(future).unwrap_or_else(|err| panic!("{err}"))
}

/// [`run`] that reports a runtime that cannot be started as an error.
///
/// # Errors
/// [`StartError`] if the shared runtime could not be started.
///
/// # Panics
/// Inside a hub callback, where nothing may block.
///
/// # Examples
///
/// ```
/// match grove::tokio::try_run(async { 7 }) {
///     Ok(v) => assert_eq!(v, 7),
///     Err(err) => eprintln!("no tokio runtime: {err}"),
/// }
/// ```
#[track_caller]
pub fn try_run<F>(future: F) -> Result<F::Output, StartError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = runtime()?;
    let mut task = AbortOnDrop(runtime.spawn(future));
    // A kill or timeout unwinds out of `block_on`; dropping `task` aborts.
    match crate::block_on(&mut task.0) {
        Ok(output) => Ok(output),
        Err(err) if err.is_panic() => resume_unwind(err.into_panic()),
        Err(err) => panic!("grove::tokio::run: the task was cancelled on the runtime: {err}"),
    }
}

/// Aborts the task when the waiting greenlet leaves (kill, timeout).
struct AbortOnDrop<T>(::tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
