//! Cancellation: how kills and timeouts reach a greenlet.
//!
//! `kill()` and an expiring `with_timeout` record a request on the target and
//! wake it if it is parked. The target's next return from a grove park then
//! *unwinds* with a private [`Cancelled`] payload (through `resume_unwind`, so
//! no panic message is printed): destructors run and nothing leaks. The
//! request is sticky: a `catch_unwind` that swallows the payload does not save
//! the greenlet, the next park unwinds again. Code that catches panics (an
//! HTTP server turning handler panics into 500s) uses [`is_cancellation`] to
//! let cancellations through.

use std::any::Any;

use crate::hub::task::{Cancel, Task};

/// The unwind payload of a kill or timeout.
#[derive(Debug)]
pub(crate) struct Cancelled(pub(crate) Cancel);

/// Whether a caught unwind payload is a grove kill or timeout rather than a panic.
///
/// Code that catches panics with [`std::panic::catch_unwind`] should resume
/// such payloads with [`std::panic::resume_unwind`] instead of handling them:
///
/// ```
/// use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
/// use std::time::Duration;
///
/// let r = grove::with_timeout(Duration::from_millis(10), || {
///     match catch_unwind(AssertUnwindSafe(|| grove::sleep(Duration::from_secs(5)))) {
///         Ok(()) => "slept",
///         Err(payload) if grove::is_cancellation(&*payload) => resume_unwind(payload),
///         Err(_) => "panicked",
///     }
/// });
/// assert!(r.is_err());
/// ```
pub fn is_cancellation(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Cancelled>()
}

/// Unwinds if a kill or timeout is pending for `task` (and it is not
/// already unwinding: a second unwind would abort the process).
#[inline(always)]
pub(crate) fn raise_if_cancelled(task: &Task) {
    let cancel = task.cancel();
    if cancel != Cancel::None {
        raise(cancel);
    }
}

#[cold]
#[inline(never)]
fn raise(cancel: Cancel) {
    if !std::thread::panicking() {
        std::panic::resume_unwind(Box::new(Cancelled(cancel)));
    }
}
