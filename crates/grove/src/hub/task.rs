//! The hub's record of one schedulable context: a greenlet, or a thread's own stack.
//!
//! Primitives never see a `Task` directly; they park the current one and keep
//! an [`Unparker`] to wake it. Each park starts a new *episode* (`seq`): an
//! unparker wakes only the episode it was made for, so a late wake-up from a
//! timer or a wait-list the greenlet already left can never wake it while it
//! waits on something else.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::os::fd::RawFd;
use std::rc::Rc;

use crate::context::{Context, Yielder};
use crate::greenlet::GreenletError;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Spawned, queued to start on the next turn.
    New,
    /// Spawned with a delay; a timer will queue it.
    Delayed,
    /// In the run queue.
    Runnable,
    /// Executing right now.
    Running,
    /// Waiting for an unparker, a kill or a timeout.
    Parked,
    /// Finished (returned, panicked or killed).
    Dead,
}

/// A pending cancellation request. Kill beats every timeout; among timeouts
/// the outermost scope (smallest id) wins, since unwinding to it also leaves
/// every inner scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    None,
    Timeout(u64),
    Kill,
}

/// What a parked task waits on, for the "would block forever" report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOn {
    Nothing,
    Yield,
    Sleep,
    SleepForever,
    Join(u64),
    Readable(RawFd),
    Writable(RawFd),
    /// Something woken from another thread (a remote greenlet, an `AsyncResult`).
    Remote(&'static str),
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::Nothing => f.write_str("nothing"),
            WaitOn::Yield => f.write_str("yield_now"),
            WaitOn::Sleep => f.write_str("sleep"),
            WaitOn::SleepForever => f.write_str("sleep(Duration::MAX)"),
            WaitOn::Join(id) => write!(f, "join of greenlet #{id}"),
            WaitOn::Readable(fd) => write!(f, "fd {fd} to become readable"),
            WaitOn::Writable(fd) => write!(f, "fd {fd} to become writable"),
            WaitOn::Remote(what) => write!(f, "{what} (from another thread)"),
        }
    }
}

/// The outcome of a greenlet, type-erased (`Ok` holds a `Box<T>`).
pub(crate) type Outcome = Result<Box<dyn Any>, GreenletError>;

/// What happens when a task dies.
#[derive(Default)]
pub(crate) struct Completion {
    pub(crate) outcome: Option<Outcome>,
    /// Set once `join` took the outcome.
    pub(crate) taken: bool,
    pub(crate) joiners: Joiners,
    pub(crate) links: Vec<Box<dyn FnOnce()>>,
}

/// Greenlets waiting for a task to die, in the order they began waiting.
/// The first is stored inline: most greenlets have at most one joiner, and a
/// spawn-and-join then allocates nothing here.
#[derive(Default)]
pub(crate) struct Joiners {
    first: Option<Unparker>,
    rest: Vec<Unparker>,
}

impl Joiners {
    pub(crate) fn push(&mut self, unparker: Unparker) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(unparker);
        } else {
            self.rest.push(unparker);
        }
    }

    /// Removes the waiter of `unparker`'s episode, if still present.
    pub(crate) fn remove(&mut self, unparker: &Unparker) {
        if self.first.as_ref().is_some_and(|j| j.same_episode(unparker)) {
            self.first = None;
        } else {
            self.rest.retain(|j| !j.same_episode(unparker));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    /// Wakes every waiter, in order.
    pub(crate) fn wake_all(&mut self) {
        if let Some(first) = self.first.take() {
            first.unpark();
        }
        for joiner in std::mem::take(&mut self.rest) {
            joiner.unpark();
        }
    }
}

/// One schedulable context.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    /// Key in the hub's registry of live greenlets (`usize::MAX`: not registered).
    pub(crate) key: Cell<usize>,
    pub(crate) state: Cell<State>,
    /// The current park episode.
    pub(crate) seq: Cell<u64>,
    /// An unpark for the current episode arrived before the task parked.
    pub(crate) notified: Cell<bool>,
    pub(crate) cancel: Cell<Cancel>,
    pub(crate) waiting_on: Cell<WaitOn>,
    /// Set when the greenlet starts; null for a thread's own stack.
    pub(crate) yielder: Cell<*const Yielder>,
    /// # Invariant
    /// Accessed only by the hub: to resume the task (while it runs, nothing
    /// else touches it), to take it when the task finished, or to drop it
    /// before it ever started. `None` for a thread's own stack and once dead.
    pub(crate) context: UnsafeCell<Option<Context>>,
    pub(crate) completion: RefCell<Completion>,
}

impl Task {
    pub(crate) fn new(id: u64, name: Option<Box<str>>, state: State) -> Self {
        Task {
            id,
            name,
            key: Cell::new(usize::MAX),
            state: Cell::new(state),
            seq: Cell::new(0),
            notified: Cell::new(false),
            cancel: Cell::new(Cancel::None),
            waiting_on: Cell::new(WaitOn::Nothing),
            yielder: Cell::new(std::ptr::null()),
            context: UnsafeCell::new(None),
            completion: RefCell::new(Completion::default()),
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.state.get() == State::Dead
    }

    /// Records a kill request. Returns `false` if the task was already dead.
    pub(crate) fn request_kill(&self) -> bool {
        if self.is_dead() {
            return false;
        }
        self.cancel.set(Cancel::Kill);
        true
    }

    /// Records that timeout scope `scope` expired.
    pub(crate) fn request_timeout(&self, scope: u64) {
        let merged = match self.cancel.get() {
            Cancel::None => Cancel::Timeout(scope),
            Cancel::Timeout(other) => Cancel::Timeout(other.min(scope)),
            Cancel::Kill => Cancel::Kill,
        };
        self.cancel.set(merged);
    }

    /// Ends timeout scope `scope`: its pending expiry no longer applies.
    pub(crate) fn clear_timeout(&self, scope: u64) {
        if self.cancel.get() == Cancel::Timeout(scope) {
            self.cancel.set(Cancel::None);
        }
    }

    /// `#3 'name'` or `#3`.
    pub(crate) fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("#{} '{}'", self.id, name),
            None => format!("#{}", self.id),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state.get())
            .field("waiting_on", &self.waiting_on.get())
            .finish_non_exhaustive()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(context) = self.context.get_mut().take() {
            // Only a started, unfinished greenlet can still own its context
            // here (its hub's thread ended while it was parked): leak it.
            context.leak();
        }
        let outcome = self.completion.get_mut().outcome.take();
        if let Some(Err(GreenletError::Panicked(payload))) = &outcome {
            eprintln!(
                "grove: greenlet {} panicked and nobody joined it: {}",
                self.describe(),
                crate::greenlet::panic_message(payload.as_ref())
            );
        }
    }
}

/// Wakes one park episode of one task.
#[derive(Debug, Clone)]
pub(crate) struct Unparker {
    pub(crate) task: Rc<Task>,
    pub(crate) seq: u64,
}

impl Unparker {
    /// Whether both unparkers wake the same episode of the same task.
    pub(crate) fn same_episode(&self, other: &Unparker) -> bool {
        Rc::ptr_eq(&self.task, &other.task) && self.seq == other.seq
    }

    /// Wakes the task if it is still in the episode this unparker was made
    /// for. Returns whether this call woke it (`false`: it had already been
    /// woken, moved on, or died).
    pub(crate) fn unpark(&self) -> bool {
        let task = &self.task;
        if task.seq.get() != self.seq {
            return false;
        }
        match task.state.get() {
            State::Parked => {
                task.state.set(State::Runnable);
                super::Hub::get().schedule(self.task.clone());
                true
            }
            State::Running if !task.notified.get() => {
                task.notified.set(true);
                true
            }
            _ => false,
        }
    }
}
