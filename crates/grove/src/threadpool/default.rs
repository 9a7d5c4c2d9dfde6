//! The process-wide default pool and [`spawn_blocking`] on it.

use std::sync::OnceLock;

use super::ThreadPool;

/// The environment variable that sizes the default pool.
pub const SIZE_ENV: &str = "GROVE_THREADPOOL_SIZE";

/// The process-wide default pool that [`spawn_blocking`] uses (gevent's
/// `get_hub().threadpool`), created on first use.
///
/// Its size is the value of the `GROVE_THREADPOOL_SIZE` environment variable
/// ([`SIZE_ENV`]) if that is a positive integer, else
/// `max(10, available cores)` (gevent's default is 10). Its threads start
/// lazily and live as long as the process. Net code uses it too (name
/// resolution), so long-running jobs belong on a pool of their own.
///
/// ```
/// let pool = grove::threadpool::default_pool();
/// assert!(pool.max_threads() >= 1);
/// assert_eq!(pool.apply(|| 2 * 21), 42);
/// ```
pub fn default_pool() -> &'static ThreadPool {
    static DEFAULT: OnceLock<ThreadPool> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let from_env = std::env::var(SIZE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ThreadPool::new(from_env.unwrap_or(cores.max(10)))
    })
}

/// Runs `f` on the [`default_pool`] and waits for its value; the calling
/// greenlet parks, the hub keeps running (tokio's `spawn_blocking`, gevent's
/// `get_hub().threadpool.apply`).
///
/// A panic in `f` is re-raised here with its payload. Killed or timed out
/// while waiting, the caller unwinds at once; `f` keeps running on its
/// thread and its value is dropped there. See [`ThreadPool::apply`].
///
/// ```
/// let n = grove::threadpool::spawn_blocking(|| std::fs::read_dir("/").map(|d| d.count()));
/// assert!(n.unwrap() > 0);
/// ```
///
/// # Panics
/// As [`ThreadPool::apply`].
#[track_caller]
pub fn spawn_blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_pool().apply(f)
}
