//! `tracing` integration (feature `tracing`): one span per greenlet, events
//! for its spawn, end, panic, kill and `with_timeout` expiry.
//!
//! Each greenlet gets a span named `greenlet` (target `grove::greenlet`,
//! fields `id`, `name`, `parent`) when it is spawned. The hub enters it each
//! time it resumes the greenlet and exits it when the greenlet gives control
//! back, so events the greenlet emits — from any crate — carry it as their
//! parent; the span closes when the greenlet dies. Events (target
//! `grove::greenlet`): `spawn` (debug), `exit` (debug), `panic` (error, with
//! the message), `killed` (info) and `timeout` (info, with the scope's
//! nesting depth). The cost with no subscriber interested is tracing's own
//! (an atomic load per callsite); without the feature every hook here is an
//! empty inline function.
//!
//! A span the greenlet itself enters and keeps entered across a grove call
//! that parks (`let _g = span.enter(); grove::sleep(..)`) stays the thread's
//! current span while other greenlets run, as with `async` code that is not
//! `Instrument`ed: enter such spans around the computation between parks.

#[cfg(feature = "tracing")]
mod imp {
    use std::cell::RefCell;

    use tracing::span::EnteredSpan;
    use tracing::Span;

    use crate::hub::task::{Outcome, Task};
    use crate::panic::panic_message;

    /// Target of grove's spans and events.
    const TARGET: &str = "grove::greenlet";

    /// The hub must call the hooks on every switch.
    pub(crate) const ENABLED: bool = true;

    thread_local! {
        /// Each live greenlet's span, by registry key (as the hub's ledger).
        static SPANS: RefCell<Vec<Option<Span>>> = const { RefCell::new(Vec::new()) };
        /// The span of the greenlet running now, entered.
        static ENTERED: RefCell<Option<EnteredSpan>> = const { RefCell::new(None) };
    }

    fn with_slot<R>(key: u32, f: impl FnOnce(&mut Option<Span>) -> R) -> Option<R> {
        SPANS
            .try_with(|spans| {
                let mut spans = spans.borrow_mut();
                let key = key as usize;
                if spans.len() <= key {
                    if key >= u32::MAX as usize - 2 {
                        return None; // the thread's own stack: no span
                    }
                    spans.resize(key + 1, None);
                }
                Some(f(&mut spans[key]))
            })
            .ok()
            .flatten()
    }

    pub(crate) fn spawned(task: &Task, key: u32, parent: u64) {
        let name = task.name().unwrap_or("");
        let span = tracing::info_span!(target: TARGET, "greenlet", id = task.id, name, parent);
        tracing::debug!(target: TARGET, parent: &span, id = task.id, name, parent, "spawn");
        with_slot(key, |slot| *slot = Some(span));
    }

    pub(crate) fn enter(key: u32) {
        let entered = with_slot(key, |slot| slot.take().map(Span::entered)).flatten();
        let _ = ENTERED.try_with(|e| *e.borrow_mut() = entered);
    }

    pub(crate) fn exit(key: u32) {
        let entered = ENTERED.try_with(|e| e.borrow_mut().take()).ok().flatten();
        if let Some(entered) = entered {
            let span = entered.exit();
            with_slot(key, |slot| *slot = Some(span));
        }
    }

    pub(crate) fn retired(key: u32) {
        let span = with_slot(key, Option::take);
        drop(span);
    }

    pub(crate) fn finished(task: &Task, outcome: &Outcome) {
        let id = task.id;
        match outcome {
            Outcome::Returned(_) => tracing::debug!(target: TARGET, id, "exit"),
            Outcome::Killed => tracing::info!(target: TARGET, id, "killed"),
            Outcome::Panicked(payload) => {
                let message = panic_message(payload.as_ref());
                tracing::error!(target: TARGET, id, message, "panic");
            }
        }
    }

    pub(crate) fn timed_out(task: &Task, depth: u16) {
        let span = with_slot(task.key.get(), |slot| slot.clone()).flatten();
        let span = span.unwrap_or_else(Span::none);
        tracing::info!(target: TARGET, parent: &span, id = task.id, depth, "timeout");
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use crate::hub::task::{Outcome, Task};

    /// The hub need not call the switch hooks.
    pub(crate) const ENABLED: bool = false;

    #[inline(always)]
    pub(crate) fn spawned(_task: &Task, _key: u32, _parent: u64) {}

    #[inline(always)]
    pub(crate) fn enter(_key: u32) {}

    #[inline(always)]
    pub(crate) fn exit(_key: u32) {}

    #[inline(always)]
    pub(crate) fn retired(_key: u32) {}

    #[inline(always)]
    pub(crate) fn finished(_task: &Task, _outcome: &Outcome) {}

    #[inline(always)]
    pub(crate) fn timed_out(_task: &Task, _depth: u16) {}
}

pub(crate) use imp::*;
