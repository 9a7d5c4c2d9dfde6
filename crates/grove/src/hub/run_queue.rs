//! The FIFO run queue.
//!
//! A `VecDeque` of tasks behind an `UnsafeCell` rather than a `RefCell`: the
//! queue is touched on every switch, and a borrow flag costs a load and two
//! stores there. Soundness rests on one rule, kept by this file alone: no
//! method runs foreign code (no drop of a task, no callback) while it holds
//! the inner reference, so no second reference can ever exist. Tasks are only
//! moved in and out; growing the buffer moves them without dropping.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::task::Task;

/// Capacity an empty queue keeps; beyond it, the buffer is given back.
const SHRINK_ABOVE: usize = 4096;

#[derive(Default)]
pub(crate) struct RunQueue {
    tasks: UnsafeCell<VecDeque<Rc<Task>>>,
}

impl RunQueue {
    #[inline(always)]
    pub(crate) fn push(&self, task: Rc<Task>) {
        // SAFETY: see the module docs: the reference does not escape this
        // call and push_back runs no foreign code.
        unsafe { (*self.tasks.get()).push_back(task) }
    }

    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<Rc<Task>> {
        // SAFETY: as in `push`; the popped task is dropped (if at all) by the caller.
        let tasks = unsafe { &mut *self.tasks.get() };
        let task = tasks.pop_front();
        if tasks.is_empty() && tasks.capacity() > SHRINK_ABOVE {
            // A burst (a million spawns) must not pin its buffer forever.
            tasks.shrink_to(SHRINK_ABOVE);
        }
        task
    }

    /// Starts loading what resuming later entries will touch: the stack of
    /// the second entry (reading its yielder pointer, in its record, which
    /// was prefetched one resume earlier as the third) and the record of
    /// the third. Called before each resume, so every load has one whole
    /// greenlet run to complete; the first entry's stack was prefetched by
    /// the previous call.
    #[inline(always)]
    pub(crate) fn prefetch_next(&self) {
        // SAFETY: as in `push`; only `Cell` reads and cache hints happen
        // while the reference is held.
        let tasks = unsafe { &*self.tasks.get() };
        if let Some(next) = tasks.get(1) {
            next.prefetch_stack();
        }
        if let Some(after) = tasks.get(2) {
            after.prefetch_record();
        }
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: as in `push`.
        unsafe { (*self.tasks.get()).is_empty() }
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: as in `push`.
        unsafe { (*self.tasks.get()).len() }
    }

    /// Empties the queue; the tasks are dropped by the caller, after this returns.
    pub(crate) fn take_all(&self) -> VecDeque<Rc<Task>> {
        // SAFETY: as in `push`.
        unsafe { std::mem::take(&mut *self.tasks.get()) }
    }
}
