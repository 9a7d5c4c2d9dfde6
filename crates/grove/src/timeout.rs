//! Timeouts: bound how long a piece of blocking code may take.
//!
//! [`with_timeout`] runs a closure; if the duration passes while it is still
//! running, the closure unwinds from whatever grove call it is blocked in (its
//! destructors run) and `Err(Timeout)` is returned. A timeout that does not
//! fire costs a timer insert and a cancel.
//!
//! Timeouts nest: each scope fires only for itself. When an outer scope
//! expires, the unwinding passes through the inner scopes (they do not claim
//! it) up to the outer one.
//!
//! ```
//! use std::time::Duration;
//!
//! let r = grove::with_timeout(Duration::from_millis(10), || {
//!     grove::sleep(Duration::from_secs(10));
//!     "finished"
//! });
//! assert_eq!(r, Err(grove::Timeout));
//!
//! let r = grove::with_timeout(Duration::from_secs(10), || "quick");
//! assert_eq!(r, Ok("quick"));
//! ```
//!
//! The expiry only takes effect at a grove blocking call: a closure that
//! computes without blocking runs to completion, and if it returns after the
//! deadline without having blocked since, its value is returned.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::cancel::Cancelled;
use crate::cancel::{Cancel, MAX_TIMEOUT_DEPTH};
use crate::hub::{Hub, TimerAction};

/// The error of a [`with_timeout`] whose duration passed.
///
/// ```
/// use std::time::Duration;
///
/// fn fetch() -> Result<&'static str, Box<dyn std::error::Error>> {
///     grove::with_timeout(Duration::from_millis(5), || {
///         grove::sleep(Duration::from_secs(60)); // a peer that never answers
///         "reply"
///     })
///     .map_err(Into::into) // `Timeout` is a `std::error::Error`
/// }
/// assert_eq!(fetch().unwrap_err().to_string(), "timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}

/// Runs `f`; if `duration` passes first, `f` unwinds from the grove call it
/// is blocked in and `Err(Timeout)` is returned.
///
/// `Duration::MAX` (or any duration that overflows the clock) means no
/// timeout. In hub context (a link or timer callback), where nothing may
/// block, `f` simply runs.
///
/// ```
/// use std::time::Duration;
///
/// let fast = grove::with_timeout(Duration::from_secs(1), || {
///     grove::sleep(Duration::from_millis(1));
///     "fast"
/// });
/// assert_eq!(fast, Ok("fast"));
///
/// // The slow closure is unwound out of its `sleep`; its destructors run.
/// let slow = grove::with_timeout(Duration::from_millis(10), || {
///     grove::sleep(Duration::from_secs(60));
///     "slow"
/// });
/// assert_eq!(slow, Err(grove::Timeout));
///
/// // Timeouts nest: the inner one expires first and is reported to its own caller.
/// let outer = grove::with_timeout(Duration::from_secs(1), || {
///     grove::with_timeout(Duration::from_millis(5), || grove::sleep(Duration::from_secs(60)))
/// });
/// assert_eq!(outer, Ok(Err(grove::Timeout)));
/// ```
///
/// # Kill and timeout safety
///
/// A kill of the calling greenlet, or the expiry of an enclosing timeout,
/// passes through: it is not turned into `Err(Timeout)`.
pub fn with_timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Timeout> {
    let hub = Hub::get();
    let Some(task) = hub.current_rc() else {
        return Ok(f());
    };
    let Some(deadline) = hub.deadline_after(duration) else {
        return Ok(f());
    };
    let scope = task.timeout_depth.get() + 1;
    assert!(
        scope <= MAX_TIMEOUT_DEPTH,
        "grove: more than {MAX_TIMEOUT_DEPTH} nested with_timeout scopes"
    );
    task.timeout_depth.set(scope);
    let timer = hub.add_timer(deadline, TimerAction::timeout(task.clone(), scope));
    let result = catch_unwind(AssertUnwindSafe(f));
    task.timeout_depth.set(scope - 1);
    hub.cancel_timer(timer);
    task.clear_timeout(scope);
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast_ref::<Cancelled>() {
            Some(Cancelled(Cancel::Timeout(fired))) if *fired == scope => Err(Timeout),
            _ => resume_unwind(payload),
        },
    }
}
