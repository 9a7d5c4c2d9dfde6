//! Who runs on this hub, and the one place a greenlet's context is resumed.
//!
//! A task's context (stack and registers) sits in a [`ContextCell`] with no
//! methods of its own: only [`Running`], the hub's running-task pointer,
//! opens it, mutably in one place, [`Running::resume`]. The argument that
//! this is sound is local to this file:
//!
//! * **Invariant**: a `&mut` into a task's cell is live only inside
//!   `resume(task)`, and all that time `Running` names `task`.
//! * `resume` starts only from the hub loop (`Running` null) and refuses
//!   otherwise before touching anything, so never during another resume;
//!   `enter_main`/`enter_hub` refuse to move `Running` off a greenlet.
//! * `take_context`/`put_context` refuse the task `Running` names: a
//!   teardown on a greenlet's stack (`std::process::exit` inside it) gets
//!   `None` for that greenlet and leaves its context alone.
//!
//! The checks read the one pointer the hub keeps anyway (a load, a compare
//! and a branch per resume); a borrow flag stored and cleared around every
//! resume cost more (`docs/runs/wait-core.md`).

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::rc::Rc;

use super::task::Task;
use crate::context::Context;

/// A task's context: empty for a thread's own stack and once dead.
pub(crate) struct ContextCell(UnsafeCell<Option<Context>>);

impl ContextCell {
    pub(crate) const fn new() -> Self {
        ContextCell(UnsafeCell::new(None))
    }

    /// The context, through the record's own `&mut` (its `Drop`).
    pub(crate) fn get_mut(&mut self) -> &mut Option<Context> {
        self.0.get_mut()
    }
}

/// The running task of one hub: the thread's own stack (the main task), a
/// greenlet being resumed, or null while the hub itself runs.
pub(crate) struct Running {
    task: Cell<*const Task>,
    /// The main task, which has no context (its stack is the thread's).
    main: *const Task,
}

impl Running {
    /// The thread's own stack runs (`main`, owned by the hub for as long
    /// as this value lives).
    pub(crate) fn new(main: &Rc<Task>) -> Self {
        let main = Rc::as_ptr(main);
        Running {
            task: Cell::new(main),
            main,
        }
    }

    /// The running task, or `None` while the hub itself runs.
    #[inline(always)]
    pub(crate) fn task(&self) -> Option<&Task> {
        let ptr = self.task.get();
        // SAFETY: non-null `task` is the main task (owned by the hub, which
        // owns `self`) or a greenlet inside `resume`, whose caller holds an
        // `&Task` for that long.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }

    /// The running task as an `Rc`, or `None` while the hub itself runs.
    #[inline(always)]
    pub(crate) fn task_rc(&self) -> Option<Rc<Task>> {
        let ptr = self.task.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: every task is held in an `Rc` (the main task by the hub,
        // greenlets by the registry and the resume's caller), and `ptr`
        // came from `Rc::as_ptr` of it; taking another strong count keeps
        // the accounting balanced.
        unsafe {
            Rc::increment_strong_count(ptr);
            Some(Rc::from_raw(ptr))
        }
    }

    /// Whether `task` is the one running.
    #[inline(always)]
    pub(crate) fn is(&self, task: &Task) -> bool {
        ptr::eq(self.task.get(), task)
    }

    /// Whether the thread's own stack runs.
    #[inline(always)]
    pub(crate) fn on_main(&self) -> bool {
        ptr::eq(self.task.get(), self.main)
    }

    /// The thread's own stack runs again.
    #[inline(always)]
    pub(crate) fn enter_main(&self) {
        self.leave_to(self.main);
    }

    /// The hub loop runs (on the thread's own stack).
    #[inline(always)]
    pub(crate) fn enter_hub(&self) {
        self.leave_to(ptr::null());
    }

    #[inline(always)]
    fn leave_to(&self, to: *const Task) {
        let from = self.task.get();
        if !from.is_null() && from != self.main {
            moved_off_a_greenlet();
        }
        self.task.set(to);
    }

    /// Resumes `task`'s context until it suspends (`Some(false)`) or
    /// finishes (`Some(true)`); `None` if it has none. The one place a
    /// context is opened mutably; only from the hub loop (see the module
    /// docs).
    #[inline(always)]
    pub(crate) fn resume(&self, task: &Task) -> Option<bool> {
        if !self.task.get().is_null() {
            resume_outside_the_hub(task);
        }
        self.task.set(task);
        // SAFETY: the invariant of the module docs: `self` names `task`
        // until this resume returns, so `take_context`/`put_context` refuse
        // it, and no other resume starts while it is not null.
        let finished = unsafe { (*task.context.0.get()).as_mut() }.map(Context::resume);
        self.task.set(ptr::null());
        finished
    }

    /// Takes `task`'s context out of its record; `None` if there is none,
    /// or if `task` is running (its resume holds the context).
    #[inline(always)]
    pub(crate) fn take_context(&self, task: &Task) -> Option<Context> {
        if self.is(task) {
            return None;
        }
        // SAFETY: `task` is not running, so no resume holds its cell, and
        // no reference into it outlives this call.
        unsafe { (*task.context.0.get()).take() }
    }

    /// Puts a context in `task`'s record (dropping what was there); gives
    /// it back if `task` is running.
    pub(crate) fn put_context(&self, task: &Task, context: Context) -> Result<(), Context> {
        if self.is(task) {
            return Err(context);
        }
        // SAFETY: as in `take_context`.
        unsafe { *task.context.0.get() = Some(context) };
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn resume_outside_the_hub(task: &Task) -> ! {
    panic!(
        "grove: greenlet {} resumed while another task runs",
        task.describe()
    )
}

#[cold]
#[inline(never)]
fn moved_off_a_greenlet() -> ! {
    panic!("grove: the hub loop entered while a greenlet runs")
}
