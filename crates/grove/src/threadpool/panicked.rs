//! [`JobPanicked`]: the error a thread-pool job's panic becomes.

use std::any::Any;
use std::fmt;

use crate::panic::panic_message;

/// A job of [`ThreadPool::spawn`] panicked; carries the panic's message and payload.
///
/// Cheap to clone (every reader of the `AsyncResult` gets a clone); the
/// payload itself can be taken once, by [`into_panic`](JobPanicked::into_panic).
///
/// ```
/// let pool = grove::threadpool::ThreadPool::new(1);
/// let result = pool.spawn(|| -> u32 { panic!("corrupt input") });
/// let err = result.get().unwrap_err();
/// assert_eq!(err.message(), "corrupt input");
/// ```
#[derive(Clone)]
pub struct JobPanicked {
    message: std::sync::Arc<str>,
    payload: std::sync::Arc<std::sync::Mutex<Option<Box<dyn Any + Send>>>>,
}

impl JobPanicked {
    pub(super) fn new(payload: Box<dyn Any + Send>) -> JobPanicked {
        JobPanicked {
            message: panic_message(payload.as_ref()).into(),
            payload: std::sync::Arc::new(std::sync::Mutex::new(Some(payload))),
        }
    }

    /// The panic message (`"<non-string panic payload>"` for a payload that is
    /// neither a `&str` nor a `String`).
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(1);
    /// let err = pool.spawn(|| -> () { panic!("code {}", 7) }).get().unwrap_err();
    /// assert_eq!(err.message(), "code 7");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`. The
    /// first clone to ask gets the original payload; later ones get the
    /// message as a `String`.
    ///
    /// ```
    /// let pool = grove::threadpool::ThreadPool::new(1);
    /// let err = pool.spawn(|| -> () { std::panic::panic_any(42_u32) }).get().unwrap_err();
    /// let payload = err.into_panic(); // the original payload, to re-raise or inspect
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        let taken = self
            .payload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        taken.unwrap_or_else(|| Box::new(self.message.to_string()))
    }
}

impl fmt::Debug for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPanicked")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread-pool job panicked: {}", self.message)
    }
}

impl std::error::Error for JobPanicked {}
