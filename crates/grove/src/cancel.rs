//! Cancellation: how kills and timeouts reach a greenlet.
//!
//! `kill()` and an expiring `with_timeout` record a [`Cancel`] request on the
//! target and wake it if it is parked. The target's next return from a grove
//! park then *unwinds* with a private [`Cancelled`] payload (through
//! `resume_unwind`, so no panic message is printed): destructors run and
//! nothing leaks. The request is sticky: a `catch_unwind` that swallows the
//! payload does not save the greenlet, the next park unwinds again. Code that
//! catches panics (an HTTP server turning handler panics into 500s) uses
//! [`is_cancellation`] to let cancellations through.
//!
//! A leaf below the hub: the hub stores a task's pending [`Cancel`] and
//! calls [`raise`] when it resumes one; this module names nothing above it.

use std::any::Any;

/// A pending cancellation request. Kill beats every timeout; among timeouts
/// the outermost scope (smallest nesting depth) wins, since unwinding to it
/// also leaves every inner scope. A scope is named by its depth: at any
/// moment a task has one live `with_timeout` scope per depth, and a scope's
/// timer is cancelled when the scope ends.
/// The deepest `with_timeout` nesting: its depth must encode apart from a
/// kill in the task record's 16-bit field.
pub(crate) const MAX_TIMEOUT_DEPTH: u16 = u16::MAX - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    None,
    Timeout(u16),
    Kill,
}

impl Cancel {
    /// 0: none; `u16::MAX`: kill; otherwise a timeout scope's depth (from 1
    /// to [`MAX_TIMEOUT_DEPTH`]).
    #[inline(always)]
    pub(crate) fn encode(self) -> u16 {
        match self {
            Cancel::None => 0,
            Cancel::Timeout(depth) => depth,
            Cancel::Kill => u16::MAX,
        }
    }

    /// The request that wins when both `self` and `other` are pending.
    pub(crate) fn merge(self, other: Cancel) -> Cancel {
        match (self, other) {
            (Cancel::Kill, _) | (_, Cancel::Kill) => Cancel::Kill,
            (Cancel::Timeout(a), Cancel::Timeout(b)) => Cancel::Timeout(a.min(b)),
            (Cancel::None, other) => other,
            (this, Cancel::None) => this,
        }
    }

    #[inline(always)]
    pub(crate) fn decode(raw: u16) -> Cancel {
        match raw {
            0 => Cancel::None,
            u16::MAX => Cancel::Kill,
            depth => Cancel::Timeout(depth),
        }
    }
}

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

/// Unwinds if `cancel` is a pending request (and the caller is not already
/// unwinding: a second unwind would abort the process).
#[inline(always)]
pub(crate) fn raise(cancel: Cancel) {
    if cancel != Cancel::None {
        raise_now(cancel);
    }
}

#[cold]
#[inline(never)]
fn raise_now(cancel: Cancel) {
    if !std::thread::panicking() {
        std::panic::resume_unwind(Box::new(Cancelled(cancel)));
    }
}

#[cfg(test)]
mod tests {
    use super::Cancel;

    #[test]
    fn a_kill_beats_timeouts_and_the_outer_timeout_beats_the_inner() {
        let (kill, outer, inner) = (Cancel::Kill, Cancel::Timeout(1), Cancel::Timeout(3));
        for (a, b, wins) in [
            (kill, outer, kill),
            (inner, kill, kill),
            (outer, inner, outer),
            (inner, outer, outer),
            (Cancel::None, inner, inner),
            (inner, Cancel::None, inner),
            (Cancel::None, Cancel::None, Cancel::None),
        ] {
            assert_eq!(a.merge(b), wins, "{a:?} with {b:?}");
        }
    }
}
