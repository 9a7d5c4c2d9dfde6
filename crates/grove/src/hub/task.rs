//! The hub's record of one schedulable context: a greenlet, or a thread's own stack.
//!
//! Primitives never see a `Task` directly; they park the current one and keep
//! an [`Unparker`] to wake it. Each park starts a new *episode* (`seq`): an
//! unparker wakes only the episode it was made for, so a late wake-up from a
//! timer or a wait-list the greenlet already left can never wake it while it
//! waits on something else.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::os::fd::RawFd;
use std::rc::Rc;

use super::ledger::Birth;
use super::running::ContextCell;
use super::wake_all::{ThinVec, WakeAll, Woken};
use super::watch::Watcher;
use crate::cancel::{self, Cancel};
use crate::context::{prefetch, Yielder};
use crate::panic::panic_message;

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

/// Registry key of a task that is not (or no longer) registered.
pub(crate) const NO_KEY: u32 = u32::MAX;

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
    /// The end of a greenlet on another thread's hub.
    RemoteJoin,
    /// A coordination primitive.
    Primitive(&'static Primitive),
}

/// The coordination primitive a task waits on, described by the primitive
/// itself: each primitive's module holds a `static` of this, so the hub
/// names no higher layer and a parked task's record keeps one pointer
/// (`WaitOn` and with it every task record stay small).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Primitive {
    /// The call that waits, as a report shows it ("Event::wait").
    what: &'static str,
}

impl Primitive {
    pub(crate) const fn new(what: &'static str) -> Primitive {
        Primitive { what }
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
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
            WaitOn::RemoteJoin => f.write_str("join of a greenlet on another thread's hub"),
            WaitOn::Primitive(p) => p.fmt(f),
        }
    }
}

/// How a task ended, type-erased (`Returned` holds a `Box<T>`); the
/// greenlet layer turns it into its public `Result`.
pub(crate) enum Outcome {
    Returned(Box<dyn Any>),
    Panicked(Box<dyn Any + Send>),
    Killed,
}

/// What happens when a task dies.
///
/// Three `Cell`s opened by moving their value out and back, not a
/// `RefCell`: no borrow flag, so the task record stays inside its malloc
/// chunk (see the size test below). Nothing that runs while a value is out
/// reaches the same task's completion: pushing, removing and matching
/// joiners call no user code, and waking them only queues work.
#[derive(Default)]
pub(crate) struct Completion {
    outcome: Cell<Option<Outcome>>,
    joiners: Cell<Joiners>,
    links: Cell<ThinVec<Box<dyn FnOnce()>>>,
}

impl Completion {
    pub(crate) fn set_outcome(&self, outcome: Outcome) {
        self.outcome.set(Some(outcome));
    }

    pub(crate) fn take_outcome(&self) -> Option<Outcome> {
        self.outcome.take()
    }

    /// Runs `f` on the joiners (see the type's docs for what `f` may do).
    pub(crate) fn with_joiners<R>(&self, f: impl FnOnce(&mut Joiners) -> R) -> R {
        let mut joiners = self.joiners.take();
        let result = f(&mut joiners);
        self.joiners.set(joiners);
        result
    }

    /// Takes the joiners, leaving none (the task died).
    pub(crate) fn take_joiners(&self) -> Joiners {
        self.joiners.take()
    }

    pub(crate) fn add_link(&self, link: Box<dyn FnOnce()>) {
        let mut links = self.links.take();
        links.push(link);
        self.links.set(links);
    }

    pub(crate) fn take_links(&self) -> ThinVec<Box<dyn FnOnce()>> {
        self.links.take()
    }
}

/// Greenlets waiting for a task to die, in the order they began waiting,
/// and the watchers of `grove::wait` told when it does (the first joiner
/// inline: most greenlets have at most one, and a spawn-and-join then
/// allocates nothing here).
pub(crate) type Joiners = WakeAll<Joiner>;

/// One entry of [`Joiners`].
pub(crate) enum Joiner {
    Unpark(Unparker),
    Watch(Watcher),
}

impl From<Unparker> for Joiner {
    fn from(unparker: Unparker) -> Self {
        Joiner::Unpark(unparker)
    }
}

impl Woken for Joiner {
    fn is_episode(&self, unparker: &Unparker) -> bool {
        matches!(self, Joiner::Unpark(j) if j.same_episode(unparker))
    }

    fn wake(self) {
        match self {
            Joiner::Unpark(unparker) => {
                unparker.unpark();
            }
            Joiner::Watch(watcher) => watcher.fire(),
        }
    }
}

impl Joiners {
    /// Adds a watcher, fired when the task dies (it does not wake anyone by
    /// itself and takes nothing).
    pub(crate) fn watch(&mut self, watcher: Watcher) {
        self.push_rest(Joiner::Watch(watcher));
    }

    /// Removes `watcher`, if still present (not yet fired).
    pub(crate) fn unwatch(&mut self, watcher: &Watcher) {
        self.retain_rest(|j| !matches!(j, Joiner::Watch(w) if w.same(watcher)));
    }
}

/// One schedulable context.
///
/// Kept small: an idle greenlet's whole cost is one stack page, its page
/// tables and this record (see `examples/many_idle.rs`).
pub(crate) struct Task {
    pub(crate) id: u64,
    /// Boxed twice so an unnamed task pays one word; the inner bytes never
    /// move, so the stack header may point at them.
    name: Option<Box<Box<str>>>,
    /// Key in the hub's registry of live greenlets (`NO_KEY`: not registered).
    pub(crate) key: Cell<u32>,
    /// The current park episode.
    pub(crate) seq: Cell<u32>,
    pub(crate) state: Cell<State>,
    /// An unpark for the current episode arrived before the task parked.
    pub(crate) notified: Cell<bool>,
    /// Set once `join` took the outcome.
    pub(crate) taken: Cell<bool>,
    /// The pending `Cancel`, encoded by `Cancel::encode`.
    cancel: Cell<u16>,
    /// How many `with_timeout` scopes are open on this task.
    pub(crate) timeout_depth: Cell<u16>,
    pub(crate) waiting_on: Cell<WaitOn>,
    /// Who spawned it and when, for run-info (set when it is registered).
    pub(crate) birth: Cell<Birth>,
    /// Set when the greenlet starts; null for a thread's own stack.
    pub(crate) yielder: Cell<*const Yielder>,
    /// The greenlet's stack and registers; empty for a thread's own stack
    /// and once dead. Opened only by the hub's `Running` (`running.rs`).
    pub(super) context: ContextCell,
    pub(crate) completion: Completion,
}

impl Task {
    pub(crate) fn new(id: u64, name: Option<String>, state: State) -> Self {
        Task {
            id,
            name: name.map(|n| Box::new(n.into_boxed_str())),
            key: Cell::new(NO_KEY),
            seq: Cell::new(0),
            state: Cell::new(state),
            notified: Cell::new(false),
            taken: Cell::new(false),
            cancel: Cell::new(Cancel::None.encode()),
            timeout_depth: Cell::new(0),
            waiting_on: Cell::new(WaitOn::Nothing),
            birth: Cell::new(Birth::default()),
            yielder: Cell::new(std::ptr::null()),
            context: ContextCell::new(),
            completion: Completion::default(),
        }
    }

    /// Starts loading this record into the cache (see [`prefetch`]).
    #[inline(always)]
    pub(crate) fn prefetch_record(&self) {
        // The `Rc`'s two counts sit just before the record; both are touched
        // on a wake-up and a resume.
        let start = (self as *const Task)
            .cast::<u8>()
            .wrapping_sub(2 * size_of::<usize>());
        let end = (self as *const Task)
            .cast::<u8>()
            .wrapping_add(size_of::<Task>() - 1);
        let mut line = start;
        while line <= end {
            prefetch(line);
            line = line.wrapping_add(64);
        }
        prefetch(end);
    }

    /// Starts loading the top of this greenlet's stack, where it resumes
    /// (see [`prefetch`]); nothing for a task that has not started.
    #[inline(always)]
    pub(crate) fn prefetch_stack(&self) {
        let yielder = self.yielder.get();
        if !yielder.is_null() {
            prefetch(yielder);
        }
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref().map(|n| &**n)
    }

    #[inline(always)]
    pub(crate) fn cancel(&self) -> Cancel {
        Cancel::decode(self.cancel.get())
    }

    /// Unwinds if a kill or timeout is pending for this task (and it is not
    /// already unwinding).
    #[inline(always)]
    pub(crate) fn raise_if_cancelled(&self) {
        cancel::raise(self.cancel());
    }

    fn set_cancel(&self, cancel: Cancel) {
        self.cancel.set(cancel.encode());
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.state.get() == State::Dead
    }

    /// Records a kill request. Returns `false` if the task was already dead.
    pub(crate) fn request_kill(&self) -> bool {
        if self.is_dead() {
            return false;
        }
        self.set_cancel(Cancel::Kill);
        true
    }

    /// Records that the timeout scope at depth `scope` expired.
    pub(crate) fn request_timeout(&self, scope: u16) {
        self.set_cancel(self.cancel().merge(Cancel::Timeout(scope)));
    }

    /// Runs `f` with this task's pending kill or timeout set aside, then
    /// puts it back, merged with any that arrived meanwhile (such a newer
    /// one interrupts `f` as usual). For a short clean-up wait that must
    /// finish before the caller goes on unwinding from a cancellation it
    /// caught: the request is postponed, never dropped.
    pub(crate) fn defer_cancel<R>(&self, f: impl FnOnce() -> R) -> R {
        /// Puts the set-aside request back, on return and on unwind alike.
        struct Restore<'a>(&'a Task, Cancel);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set_cancel(self.1.merge(self.0.cancel()));
            }
        }
        let _restore = Restore(self, self.cancel());
        self.set_cancel(Cancel::None);
        f()
    }

    /// Ends timeout scope `scope`: its pending expiry no longer applies.
    pub(crate) fn clear_timeout(&self, scope: u16) {
        if self.cancel() == Cancel::Timeout(scope) {
            self.set_cancel(Cancel::None);
        }
    }

    /// `#3 'name'` or `#3`.
    pub(crate) fn describe(&self) -> String {
        match self.name() {
            Some(name) => format!("#{} '{}'", self.id, name),
            None => format!("#{}", self.id),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name())
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
        let outcome = self.completion.take_outcome();
        if let Some(Outcome::Panicked(payload)) = &outcome {
            eprintln!(
                "grove: greenlet {} panicked and nobody joined it: {}",
                self.describe(),
                panic_message(payload.as_ref())
            );
        }
    }
}

/// Wakes one park episode of one task.
#[derive(Debug, Clone)]
pub(crate) struct Unparker {
    pub(crate) task: Rc<Task>,
    pub(crate) seq: u32,
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

#[cfg(test)]
mod tests {
    /// An idle greenlet costs one stack page, page tables and this record;
    /// growing it past one 192-byte malloc chunk (with the `Rc` header)
    /// breaks the 4.5 KB-per-idle-greenlet budget.
    #[test]
    fn task_record_stays_small() {
        assert!(
            std::mem::size_of::<super::Task>() <= 168,
            "{}",
            std::mem::size_of::<super::Task>()
        );
    }
}
