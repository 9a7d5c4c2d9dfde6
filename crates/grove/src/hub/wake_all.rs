//! The waiters the hub wakes all at once: a task's joiners when it dies,
//! the greenlets parked on one direction of one fd when it becomes ready.
//!
//! The first waiter is stored inline, the rest in a [`ThinVec`]: a socket
//! almost always has one reader and one writer and a greenlet at most one
//! joiner, so the usual case touches no second cache line and allocates
//! nothing. Waiters are woken in the order they came (the inline one came
//! first: a newcomer goes inline only while the list is empty).

use std::fmt;

use super::task::{Task, Unparker};

/// An entry of a [`WakeAll`] beyond the inline one.
pub(crate) trait Woken: From<Unparker> {
    /// Whether this entry is the waiter of `unparker`'s park episode.
    fn is_episode(&self, unparker: &Unparker) -> bool;
    /// Wakes it.
    fn wake(self);
}

impl Woken for Unparker {
    fn is_episode(&self, unparker: &Unparker) -> bool {
        self.same_episode(unparker)
    }

    fn wake(self) {
        self.unpark();
    }
}

/// Waiters woken together, in arrival order. See the module docs.
pub(crate) struct WakeAll<R> {
    first: Option<Unparker>,
    rest: ThinVec<R>,
}

impl<R> Default for WakeAll<R> {
    fn default() -> Self {
        WakeAll {
            first: None,
            rest: ThinVec::default(),
        }
    }
}

impl<R> fmt::Debug for WakeAll<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeAll")
            .field("first", &self.first.is_some())
            .field("rest", &self.rest.len())
            .finish()
    }
}

impl<R: Woken> WakeAll<R> {
    pub(crate) fn push(&mut self, unparker: Unparker) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(unparker);
        } else {
            self.rest.push(R::from(unparker));
        }
    }

    /// Adds an entry behind every waiter (never inline).
    pub(crate) fn push_rest(&mut self, entry: R) {
        self.rest.push(entry);
    }

    /// Removes the waiter of `unparker`'s episode, if still present.
    pub(crate) fn remove(&mut self, unparker: &Unparker) {
        if self
            .first
            .as_ref()
            .is_some_and(|w| w.same_episode(unparker))
        {
            self.first = None;
        } else {
            self.rest.retain(|w| !w.is_episode(unparker));
        }
    }

    /// Keeps the entries beyond the inline one that satisfy `keep`.
    pub(crate) fn retain_rest(&mut self, keep: impl FnMut(&R) -> bool) {
        self.rest.retain(keep);
    }

    /// Wakes every waiter, in order, and forgets them.
    pub(crate) fn wake_all(&mut self) {
        if let Some(first) = self.first.take() {
            first.unpark();
        }
        if !self.rest.is_empty() {
            for entry in self.rest.take() {
                entry.wake();
            }
        }
    }

    /// The task to be woken first, for prefetching.
    pub(crate) fn first_task(&self) -> Option<&Task> {
        self.first.as_ref().map(|w| &*w.task)
    }
}

/// A `Vec` that costs one word while empty (most lists here stay empty).
#[allow(clippy::box_collection)] // the point: one word inline instead of three
pub(crate) struct ThinVec<T>(Option<Box<Vec<T>>>);

impl<T> Default for ThinVec<T> {
    fn default() -> Self {
        ThinVec(None)
    }
}

impl<T> ThinVec<T> {
    pub(crate) fn push(&mut self, item: T) {
        self.0.get_or_insert_with(Default::default).push(item);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        if let Some(v) = &mut self.0 {
            v.retain(keep);
        }
    }

    /// Takes every item, leaving the list empty.
    pub(crate) fn take(&mut self) -> Vec<T> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }
}
